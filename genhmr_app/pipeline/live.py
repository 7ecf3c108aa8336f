"""Live tracking: each frame starts from the one before (issue 10).

A still image gets the full GenHMR treatment: N sampling iterations from all-masked tokens, P latent
refinement steps and the joint fit (pipeline/reconstructor.py). A video frame is mostly the frame
before it, so `LiveTracker.step` does far less:

1. on every `resample_every`-th frame, one forward of the generator: every token predicted from this
   frame's image alone, as the still sampler's first iteration predicts them, and decoded at its
   expected code (the still path's `latent_start`). The same image gives the same pose, so a person
   standing still does not shimmer. On the frames between, the decoded pose holds;
2. `fit_iterations` Levenberg-Marquardt iterations of the still path's joint fit, held near this
   frame's decoded pose and started from it (from the last frame's fitted pose on frames the
   generator skips), the orientation and translation from the last frame's;
3. the body posed on the reduced preview mesh (body/lod.py): a third of the vertices to skin, to
   send and to draw.

Full decoding returns when there is no track: the first frame, after the person was lost, when the
keypoints jump (a cut, a fast turn) or when the fit stops meeting the keypoints. The shape settles
over the generator's first `shape_estimates` estimates (their mean) and is then fixed for
the person, across restarts while they stay in view.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import roma
import torch

from genhmr_app.body.lod import ReducedMesh, preview_mesh
from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project
from genhmr_app.detection import DetectedPerson
from genhmr_app.generator.model import GeneratorOutput
from genhmr_app.motion.live_smoothing import LiveSmoother
from genhmr_app.pipeline.reconstructor import (
    Hypothesis,
    PersonReconstruction,
    ReconstructionSettings,
    Reconstructor,
    _finite,
)
from genhmr_app.refinement.joint_fit import JointFitResult, JointFitSettings, fit_joints
from genhmr_app.refinement.uncertainty import joint_prior_weights
from genhmr_app.sampling.maskgit import IterationRecord


@dataclass(frozen=True)
class LiveSettings:
    # Levenberg-Marquardt iterations of the joint fit per frame (refinement/joint_fit.py), started where
    # `generator_frame_start` says; a still image takes ReconstructionSettings.joint_fit_iterations.
    # 1 measured 1.15x the still path's PA-MPJPE on the rendered walk, 2: 1.04x (third session); 4
    # against 2 on the walk and five validation clips: no better (thirty-first session).
    fit_iterations: int = 2
    # The generator runs on every n-th tracked frame; the frames between keep its decoded pose and only
    # refit the joints to the new keypoints, which follow the motion. Thirty-first session, 18 rendered
    # validation-split clips of 60 frames, live PA-MPJPE over the still path's (mean of the clips'
    # ratios): every frame 1.014x, ~16 ms a frame; every second frame 1.038x (13 clips), ~13 ms. (Until
    # then tokens were kept between runs and only the uncertain ones and a rotating quarter re-masked,
    # fed beside the kept ones as codes and decoded at their codes: every second frame 1.063x (13
    # clips). Feeding the last run's distributions as the model's beliefs instead: 1.029x (5 clips).)
    resample_every: int = 1
    jump: float = 0.3  # mean keypoint motion between frames, as a share of the body's height, that restarts
    lost_error: float = 0.12  # a 2D error above this share of the body's height means the fit lost the person
    # The global orientation is held near the last frame's (the joints near this frame's decoded pose).
    # Seventeenth session, with the landmark placement, on five rendered validation clips (not the
    # benchmark's walk), live PA-MPJPE over the still path's: 0.5 1.025x, 0.25 1.021x, 0.1 1.020x,
    # 0.02 1.022x (1.0: 1.039x).
    orient_prior: float = 0.1
    shape_estimates: int = 15  # the generator's shape estimates after which the shape is fixed to their mean
    # Each joint held as firmly as the generator is sure of it (refinement/uncertainty.py, as a still
    # image is), from the distributions of a frame it ran on; False: one constant prior. Sixteenth
    # session, on five rendered validation-split clips (dash, wave, slash, walk, raised hand; 150 frames
    # each, not the benchmark's walk), live PA-MPJPE over the still path's: 1.052x → 1.019x (default
    # smoothing), with less jitter (mean joint acceleration 20.0 → 19.1 mm/frame²).
    uncertainty_prior: bool = True
    # ... measured again on every n-th run of the generator: every run gave the same 1.019x, and each
    # measure costs ~2.5-3.5 ms here (16 decoded draws). Thirty-first session, the generator on every
    # frame, the 18 validation clips and the walk: every 2nd and every 4th run both 1.012x (mean of the
    # clips' ratios), 19.0 vs 16.7 ms a frame; 4 keeps the cadence of the frames it is measured on.
    prior_every: int = 4
    # Where the joint fit starts on a frame the generator ran on: "decoded", from this frame's decoded
    # pose; "last", from the last frame's fitted pose; "both", from each, and the lower robust objective
    # wins. (Frames the generator skips start from the last frame's.) Seventeenth session, with the
    # landmark placement (detection/placement.py): from the last frame's alone, the rendered walk's
    # occluded right arm was carried onto the wrong side in depth for ~15 frames (up to 110 mm
    # PA-MPJPE); "both" took live PA-MPJPE over 150 frames of the walk 44.7 → 37.4 mm. Thirty-first
    # session, the generator on every frame, the 18 validation clips (mean of the clips' ratios):
    # "both" 1.012x, "decoded" 1.011x at ~1.2 ms a frame less, "last" 1.017x.
    generator_frame_start: str = "decoded"
    # True: the fit matches the learned correction of MediaPipe's landmarks (detection/landmark_correction.py),
    # as a still's fit does. Thirty-first session, with the generator predicting every frame from the
    # image alone: the 18 validation-split clips, live over still (mean of the clips' ratios) 1.014x
    # without, 1.012x with; the same clips in 18 other outfits and rooms 1.019x without, 1.009x with
    # (10 clips better, 8 worse); ~1.5 ms a frame. (Thirtieth session, when tokens were kept between
    # runs: on five of those clips 60.8 → 61.6 mm with it, so it stayed off.)
    landmark_correction: bool = True
    # A feedback generator (GeneratorConfig.feedback) looks again this many times on each frame it runs:
    # each forward given the last one's distributions as its beliefs and the reprojection residuals of
    # their expected pose, as a still's second sampling iteration sees them (~3 ms a pass here). Other
    # generators ignore it (the shipped one included). Fortieth session, the feedback candidate
    # (docs/candidates/generator_round40_feedback.json), 18 rendered validation-split clips, live over
    # still: 0 passes 1.031x (mean of the clips' ratios 1.032x), 1 pass 1.021x (1.022x); the live model
    # stage 13.4 → 17.1 ms a frame (the walk, median).
    feedback_passes: int = 1
    # ... and the first pass's beliefs are the last generator frame's distributions (with this frame's
    # keypoints' residuals), so the generator runs once a frame: the pose a frame ago is as good a belief
    # as this frame's own first look, which costs a forward. A frame without them (the first after a
    # restart) looks at its own first forward. Forty-first session, the same candidate and the new
    # smoothing (0.5 with the keypoints' evidence), 18 validation clips, live over still: 1.010x (mean
    # of the clips' ratios 1.010x) against 1.011x (1.009x) for the extra forward; live model stage 13.0
    # against 18.8 ms a frame (the walk, median); bench-app capacity back near the previous generator's
    # (README, forty-first session).
    feedback_from_last: bool = True

    def __post_init__(self) -> None:
        if self.generator_frame_start not in ("decoded", "last", "both"):
            raise ValueError(f"generator_frame_start must be 'decoded', 'last' or 'both', not {self.generator_frame_start!r}")
        if self.resample_every < 1:
            raise ValueError(f"resample_every must be at least 1, not {self.resample_every}")
        if self.feedback_passes < 0:
            raise ValueError(f"feedback_passes must be 0 or more, not {self.feedback_passes}")


def _pick(fit: JointFitResult, i: int) -> JointFitResult:
    """The i-th of a batched fit's results, as a batch of one."""
    one = slice(i, i + 1)
    return JointFitResult(fit.body_pose[one], fit.global_orient[one], fit.transl[one], fit.error_px[one],
                          fit.errors, fit.offsets[one], fit.objective[one])


@dataclass
class _Track:
    tokens: torch.Tensor  # (1, K)
    confidence: torch.Tensor  # (1, K)
    latents: torch.Tensor  # (1, slots, D) the last generator frame's expected-code latents (after a restart: its refined ones)
    rotations: torch.Tensor  # (1, 24, 3, 3) the last frame's fitted orientation and pose
    transl: torch.Tensor  # (1, 3)
    betas: torch.Tensor  # (1, 10) the mean of the estimates so far; fixed after `shape_estimates`, kept across restarts
    landmarks_px: np.ndarray  # (33, 2) the detection it was fitted to
    height_px: float
    error_px: float
    shape_estimates: int = 1  # the generator's shape estimates in `betas_sum`
    betas_sum: torch.Tensor | None = None  # while the shape settles: the sum of the estimates so far
    decoded: torch.Tensor | None = None  # (1, 23, 3, 3) `latents` decoded, while they stay
    pose_prior: torch.Tensor | None = None  # (1, 23) the joint fit's prior per joint from a re-sample; None: constant
    resamples: int = 0  # times the generator ran on this track
    since_resample: int = 0  # tracked frames since the generator last ran
    beliefs: torch.Tensor | None = None  # (1, K, C) the last generator frame's distributions, for a feedback generator
    last_output: GeneratorOutput | None = None  # ... and its forward's output (orientation, camera, shape)


def body_height_px(person: DetectedPerson) -> float:
    """The extent of the confidently seen keypoints: the scale that jumps and errors are judged by."""
    seen = person.landmarks_px[person.visibility >= 0.5]
    if len(seen) < 2:
        seen = person.landmarks_px
    extent = seen.max(0) - seen.min(0)
    return float(max(extent.max(), 1.0))


class LiveTracker:
    """Follows one person through a stream. Not thread-safe: one stream, one thread."""

    def __init__(self, recon: Reconstructor, settings: LiveSettings = LiveSettings(),
                 smoothing: float = 0.0) -> None:
        self.recon = recon
        self.settings = settings
        # What is shown is filtered (motion/live_smoothing.py); the fit itself never is, so the
        # filter's lag cannot feed back into tracking. Set `smoother.strength` at any time.
        self.smoother = LiveSmoother(smoothing)
        self._track: _Track | None = None
        self.restarts = 0  # full decodes, for the status bar and the benchmark
        self.last_restart_reason = ""

    def reset(self) -> None:
        self._track = None
        self.smoother.reset()

    @property
    def tracking(self) -> bool:
        return self._track is not None

    def body_moved(self, person: DetectedPerson) -> float | None:
        """How far the confidently seen keypoints moved since the last frame, mean, in body heights (the
        larger of the two frames' heights); None without a track."""
        track = self._track
        if track is None:
            return None
        height = max(track.height_px, body_height_px(person))
        seen = person.visibility >= 0.5
        moved = np.linalg.norm(person.landmarks_px - track.landmarks_px, axis=1)
        return (float(moved[seen].mean()) if seen.any() else float(moved.mean())) / height

    def restart_reason(self, person: DetectedPerson, moved: float | None = None) -> str | None:
        """Why this frame needs full decoding, or None when the track can go on. `moved`: body_moved(person),
        when the caller has it already."""
        track, s = self._track, self.settings
        if track is None:
            return "no track"
        if (self.body_moved(person) if moved is None else moved) > s.jump:
            return "the person jumped"
        height = max(track.height_px, body_height_px(person))
        if track.error_px > s.lost_error * height:
            return "the fit lost the keypoints"
        return None

    def step(self, person: DetectedPerson | None, width: int, height: int, focal: float,
             settings: ReconstructionSettings, timing: dict[str, float], t_s: float | None = None,
             hurry: bool = False) -> PersonReconstruction | None:
        """This frame's reconstruction of the followed person; None (and the track dropped) when
        nobody is in view. `timing` gains "sample" and "refine" in ms. `t_s`: the frame's time in
        the stream (seconds), for the smoothing; None: no smoothing. `hurry`: the caller is behind
        (detections arrive faster than frames are modelled): if the generator ran on the last frame,
        this one skips it, as `resample_every=2` would, and only refits the joints."""
        timing.setdefault("sample", 0.0)
        timing.setdefault("refine", 0.0)
        if person is None:
            self.reset()
            return None
        moved = self.body_moved(person)  # before the track moves on: the filter opens with it
        reason = self.restart_reason(person, moved)
        if reason is not None:
            self.restarts += 1
            self.last_restart_reason = reason
            full = self.recon.reconstruct_person(person, width, height, focal, replace(settings, hypotheses=1),
                                                 timing)
            self._start_track(full, person)
            if t_s is not None:  # the filter starts from here (a restart is a cut: no smoothing across it)
                best, dev = full.best, self.recon.device  # on the device, as the warm frames' fit
                rotations = roma.rotvec_to_rotmat(torch.as_tensor(
                    np.concatenate([best.global_orient, best.body_pose]).reshape(24, 3), dtype=torch.float32,
                    device=dev))
                self.smoother(t_s, rotations, torch.as_tensor(best.transl, dtype=torch.float32, device=dev), moved)
            return self._on_preview_mesh(full)
        return self._warm_step(person, width, height, focal, settings, timing, t_s, hurry, moved)

    # -- internals -----------------------------------------------------------------------------
    def _on_preview_mesh(self, full: PersonReconstruction) -> PersonReconstruction:
        """A full decode's result posed on the preview mesh too: every live frame has one mesh, so the
        3D view never switches meshes (a swap costs the window a rebuild) when the track restarts."""
        mesh, posed = self._preview_body()
        best, dev = full.best, self.recon.device
        as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=dev)[None]  # noqa: E731
        with torch.no_grad():
            body = posed(roma.rotvec_to_rotmat(as_t(best.global_orient)),
                         roma.rotvec_to_rotmat(as_t(best.body_pose).reshape(1, 23, 3)), as_t(best.betas),
                         as_t(best.transl))
        return replace(full, vertices=body.vertices[0].cpu().numpy(), reduced=mesh)

    def _start_track(self, full: PersonReconstruction, person: DetectedPerson) -> None:
        best, dev = full.best, self.recon.device
        as_t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=dev)[None]  # noqa: E731
        tokens = torch.as_tensor(best.tokens, dtype=torch.long, device=dev)[None]
        latents = as_t(best.latents) if best.latents is not None else self.recon.tokenizer.latents(tokens)
        rotations = roma.rotvec_to_rotmat(as_t(np.concatenate([best.global_orient, best.body_pose])).reshape(1, 24, 3))
        old = self._track
        self._track = _Track(tokens=tokens, confidence=as_t(best.token_confidence), latents=latents,
                             rotations=rotations, transl=as_t(best.transl), betas=as_t(best.betas),
                             landmarks_px=person.landmarks_px.copy(), height_px=body_height_px(person),
                             error_px=best.error_2d_px, betas_sum=as_t(best.betas))
        if old is not None:  # a restart while the person stays in view (a jump, a lost fit): same person
            self._track.betas, self._track.betas_sum = old.betas, old.betas_sum
            self._track.shape_estimates = old.shape_estimates

    def _preview_body(self) -> tuple[ReducedMesh, SparseBody]:
        return preview_mesh(self.recon.body), self.recon.preview_body()

    def _predict(self, cond, track: _Track):
        """Step 1: every token predicted from this frame's image alone (all masked, no beliefs: the still
        sampler's first iteration), then, for a feedback generator, `feedback_passes` more forwards that
        see those predictions as beliefs and how their expected pose misses the keypoints (the still
        sampler's second iteration, with every token still free); the most likely code and its
        probability name each token."""
        gen = self.recon.generator
        passes = self.settings.feedback_passes if gen.config.feedback else 0
        from_last = passes > 0 and self.settings.feedback_from_last and track.beliefs is not None
        with torch.inference_mode():
            masked = torch.full_like(track.tokens, gen.mask_id)
            if from_last:  # the first pass sees the last generator frame's beliefs: one forward saved
                out = gen(cond.tokens, masked, track.beliefs,
                          self.recon.reprojection_feedback(track.beliefs, track.last_output, cond))
                passes -= 1
            else:
                out = gen(cond.tokens, masked)
            if not _finite(out.logits):
                return None
            probs = torch.softmax(out.logits.float(), dim=-1)
            for _ in range(passes):
                out = gen(cond.tokens, masked, probs, self.recon.reprojection_feedback(probs, out, cond))
                if not _finite(out.logits):
                    return None
                probs = torch.softmax(out.logits.float(), dim=-1)
            confidence, tokens = probs.max(-1)
        if gen.config.feedback:
            track.beliefs, track.last_output = probs, out
        offset = None if out.latent_offset is None else out.latent_offset.clone()
        return tokens.clone(), confidence.clone(), out.betas.clone(), offset, probs.clone()

    def _warm_step(self, person: DetectedPerson, width: int, height: int, focal: float,
                   settings: ReconstructionSettings, timing: dict[str, float], t_s: float | None,
                   hurry: bool = False, body_moved: float | None = None) -> PersonReconstruction:
        recon, track, dev = self.recon, self._track, self.recon.device
        t0 = time.perf_counter()
        cond = recon.encoder.encode(person, width, height, focal).to(dev)
        track.since_resample += 1
        every = max(self.settings.resample_every, 2) if hurry else self.settings.resample_every
        generator_ran = track.decoded is None or track.since_resample >= every
        if generator_ran:
            predicted = self._predict(cond, track)
            if predicted is None:  # non-finite logits: decode this frame from scratch
                self.reset()
                return self.step(person, width, height, focal, settings, timing, t_s)
            tokens, confidence, betas_seen, offset, probs = predicted
            with torch.no_grad():
                # Each token's expected code (the posterior mean the still path starts from), plus the
                # generator's continuous detail (generator/model.py).
                track.latents = recon.tokenizer.soft_latents(probs)
                if offset is not None:
                    track.latents = track.latents + offset
                track.decoded = recon.decoder.decode_latents(track.latents)  # (1, 23, 3, 3)
            track.resamples += 1
            if self.settings.uncertainty_prior and (track.pose_prior is None
                                                    or track.resamples % self.settings.prior_every == 0):
                # The spread of this frame's beliefs around the decoded pose.
                track.pose_prior = joint_prior_weights(recon.decoder, probs, track.decoded, latent_offset=offset)
            track.since_resample = 0
        else:  # the generator's frame off: its last tokens and decoded pose hold
            tokens, confidence, betas_seen = track.tokens, track.confidence, None
        latents, decoded = track.latents, track.decoded
        t1 = time.perf_counter()
        timing["sample"] += (t1 - t0) * 1000

        # Step 2: the joint fit, held near this frame's decoded pose (and near the last frame's
        # orientation), started from there or from where the last frame ended (`generator_frame_start`).
        mesh, posed = self._preview_body()
        # Live frames are corrected from the landmarks alone: a patch-reading corrector given no patches
        # corrects as the landmark-only corrector it also learnt to be (rows of data without patches).
        # Thirty-sixth session, `bench-app` capacity runs alternated: with patches 0.55x / 0.53x MediaPipe
        # alone, without 0.66x / 0.64x (issue 10's target: 0.6x); live PA-MPJPE on the walk 30.2 mm with
        # them, 31.3 without (the still path 30.2: 1.036x, target ≤ 1.05x).
        target, vis = recon.fit_targets(person.without_image(), self.settings.landmark_correction).tensors(dev)
        fit_args = [decoded, track.rotations[:, 0], track.betas, track.transl, target, vis,
                    cond.crop[:, 2], cond.focal, cond.image_wh]
        prior = track.pose_prior
        where = self.settings.generator_frame_start if generator_ran else "last"
        # Zero offsets start from the decoded pose: a limb the fit carried onto the wrong side in depth
        # (both sides meet the keypoints) comes back when the generator disagrees.
        from_decoded = torch.zeros(1, 24, 3, device=dev)
        if where == "decoded":
            start = from_decoded
        else:  # the last frame's solution, as offsets from this frame's decoded pose
            with torch.no_grad():
                start = torch.cat([from_decoded[:, :1],
                                   roma.rotmat_to_rotvec(decoded.transpose(-1, -2) @ track.rotations[:, 1:])], 1)
        if where == "both":
            start = torch.cat([start, from_decoded])
            fit_args = [a.expand(2, *a.shape[1:]) for a in fit_args]
            prior = None if prior is None else prior.expand(2, -1)
        fit_settings = replace(JointFitSettings(), iterations=self.settings.fit_iterations,
                               orient_prior=self.settings.orient_prior)
        fit = fit_joints(recon.sparse, *fit_args, fit_settings, keypoint_fn=recon.detector_like_keypoints,
                         start_offsets=start, pose_prior=prior, noise_correlation=recon.noise_correlation(fit_settings))
        if len(start) > 1:
            fit = _pick(fit, int(fit.objective.argmin()))
        # Step 3: the preview mesh, joints and keypoints in one skinning pass.
        with torch.no_grad():
            pose, orient, transl = fit.body_pose, fit.global_orient, fit.transl
            error_before, error_after = fit.errors[0], float(fit.error_px[0])
            if t_s is not None and self.smoother.strength > 0:  # the filtered pose is shown, never fitted
                rotations, smoothed_t = self.smoother(t_s, torch.cat([orient, pose[0]], 0), transl[0], body_moved)
                orient, pose, transl = rotations[:1], rotations[None, 1:], smoothed_t[None]
            body = posed(orient, pose, track.betas, transl)
            kp2d = project(body.coco17, cond.focal, cond.image_wh)
        if not _finite(body.vertices, fit.body_pose, fit.transl):
            self.reset()
            return self.step(person, width, height, focal, settings, timing, t_s)
        timing["refine"] += (time.perf_counter() - t1) * 1000
        track.rotations = torch.cat([fit.global_orient[:, None], fit.body_pose], 1)
        track.transl = fit.transl
        self._advance(track, tokens, confidence, error_after, person, betas_seen)

        rotvecs = roma.rotmat_to_rotvec(torch.cat([orient, pose[0]], 0)).cpu().numpy()  # one call: ~0.4 ms each
        hypothesis = Hypothesis(
            global_orient=rotvecs[0], body_pose=rotvecs[1:].reshape(-1),
            betas=track.betas[0].cpu().numpy().copy(), transl=transl[0].cpu().numpy().copy(),
            tokens=tokens[0].cpu().numpy(), token_confidence=confidence[0].cpu().numpy(),
            log_likelihood=float(torch.log(confidence.clamp_min(1e-12)).sum()),
            error_2d_before_px=error_before, error_2d_px=error_after, refine_errors_px=fit.errors,
            latents=latents[0].cpu().numpy().copy())
        codes = tokens.cpu().numpy()
        record = IterationRecord(iteration=0, codes=codes, confidence=confidence.cpu().numpy(),
                                 remasked=np.zeros_like(codes, dtype=bool), masked_after=np.zeros_like(codes, dtype=bool))
        return PersonReconstruction(
            detection=person.without_image(), hypotheses=[hypothesis], iterations=[record],
            vertices=body.vertices[0].cpu().numpy(), joints=body.joints[0].cpu().numpy(),
            keypoints3d_coco17=body.coco17[0].cpu().numpy(), keypoints2d_coco17=kp2d[0].cpu().numpy(),
            reduced=mesh)

    def _advance(self, track: _Track, tokens, confidence, error_px: float, person: DetectedPerson,
                 betas_seen: torch.Tensor | None) -> None:
        track.tokens, track.confidence, track.error_px = tokens, confidence, error_px
        track.landmarks_px, track.height_px = person.landmarks_px.copy(), body_height_px(person)
        if betas_seen is not None and track.shape_estimates < self.settings.shape_estimates:
            # The shape settles: the generator's estimate from each frame it ran on, averaged, then
            # fixed for the person.
            track.betas_sum = track.betas_sum + betas_seen
            track.shape_estimates += 1
            track.betas = track.betas_sum / track.shape_estimates


__all__ = ["LiveSettings", "LiveTracker", "body_height_px"]
