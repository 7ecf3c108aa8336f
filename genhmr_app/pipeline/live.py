"""Live tracking: each frame starts from the one before (issue 10).

A still image gets the full GenHMR treatment: N sampling iterations from all-masked tokens, then P
refinement steps (pipeline/reconstructor.py), about 190 ms here. A video frame is mostly the frame
before it, so `LiveTracker.step` does far less:

1. one sampling iteration: the previous frame's tokens stay, except the uncertain ones (confidence
   below `remask_below`) and a rotating share of the others, which are re-masked and predicted
   again from this frame's image. Every token is thus checked against the image every few frames,
   and the ones the model is unsure of every frame. Re-masked tokens are chosen greedily: the same
   image gives the same tokens, so a person standing still does not shimmer;
2. a few refinement steps that start from the previous frame's refined latents, orientation,
   translation and shape (the prior still pulls the latents towards their codes, so the pose cannot
   drift from the codebook frame after frame);
3. the body posed on the reduced preview mesh (body/lod.py): a third of the vertices to skin, to
   send and to draw.

Full decoding returns when there is no track: the first frame, after the person was lost, when the
keypoints jump (a cut, a fast turn) or when the fit stops meeting the keypoints. The shape is fixed
per person once it has settled (the mean over the first `shape_frames` tracked frames).
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
from genhmr_app.motion.live_smoothing import LiveSmoother
from genhmr_app.pipeline.reconstructor import (
    Hypothesis,
    PersonReconstruction,
    ReconstructionSettings,
    Reconstructor,
    _finite,
)
from genhmr_app.refinement.refine import RefinementSettings, keypoint_weights, reprojection_error_px
from genhmr_app.tokens.rotation6d import rotmat_to_6d, sixd_to_rotmat
from genhmr_app.sampling.maskgit import IterationRecord


@dataclass(frozen=True)
class LiveSettings:
    refine_steps: int = 1  # warm-started steps per frame (a still image takes ReconstructionSettings.refine_steps)
    remask_below: float = 0.5  # tokens the model gave less than this probability are predicted again
    rotate_share: float = 0.25  # and this share of the others, in turn
    jump: float = 0.3  # mean keypoint motion between frames, as a share of the body's height, that restarts
    lost_error: float = 0.12  # a 2D error above this share of the body's height means the fit lost the person
    shape_frames: int = 15  # tracked frames after which the shape is fixed to their mean
    # Weight on the per-joint offsets from the decoded pose (_TrackFit.joint6); 0 = latents only.
    # JointRefinementSettings.pose_prior's value, the still path's joint stage.
    joint_prior: float = 0.1
    joint_lr: float = 0.005  # Adam moves every offset by about this much a step, gradient or not


@dataclass
class _Track:
    tokens: torch.Tensor  # (1, K)
    confidence: torch.Tensor  # (1, K)
    fit: _TrackFit  # latents, orientation, shape and translation being refined, with their optimiser
    landmarks_px: np.ndarray  # (33, 2) the detection it was fitted to
    height_px: float
    error_px: float
    frames: int = 1
    betas_sum: torch.Tensor | None = None
    shape_fixed: bool = False
    turn: int = 0  # where the rotating re-mask continues


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

    def restart_reason(self, person: DetectedPerson) -> str | None:
        """Why this frame needs full decoding, or None when the track can go on."""
        track, s = self._track, self.settings
        if track is None:
            return "no track"
        height = max(track.height_px, body_height_px(person))
        seen = person.visibility >= 0.5
        moved = np.linalg.norm(person.landmarks_px - track.landmarks_px, axis=1)
        motion = float(moved[seen].mean()) if seen.any() else float(moved.mean())
        if motion > s.jump * height:
            return "the person jumped"
        if track.error_px > s.lost_error * height:
            return "the fit lost the keypoints"
        return None

    def step(self, person: DetectedPerson | None, width: int, height: int, focal: float,
             settings: ReconstructionSettings, timing: dict[str, float], t_s: float | None = None
             ) -> PersonReconstruction | None:
        """This frame's reconstruction of the followed person; None (and the track dropped) when
        nobody is in view. `timing` gains "sample" and "refine" in ms. `t_s`: the frame's time in
        the stream (seconds), for the smoothing; None: no smoothing."""
        timing.setdefault("sample", 0.0)
        timing.setdefault("refine", 0.0)
        if person is None:
            self.reset()
            return None
        reason = self.restart_reason(person)
        if reason is not None:
            self.restarts += 1
            self.last_restart_reason = reason
            full = self.recon.reconstruct_person(person, width, height, focal,
                                                 replace(settings, hypotheses=1, joint_refine_steps=0), timing)
            self._start_track(full, person)
            if t_s is not None:  # the filter starts from here (a restart is a cut: no smoothing across it)
                best = full.best
                rotations = roma.rotvec_to_rotmat(torch.as_tensor(
                    np.concatenate([best.global_orient, best.body_pose]).reshape(24, 3), dtype=torch.float32))
                self.smoother(t_s, rotations, torch.as_tensor(best.transl, dtype=torch.float32))
            return self._on_preview_mesh(full)
        return self._warm_step(person, width, height, focal, settings, timing, t_s)

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
        fit = _TrackFit(self.recon, latents, roma.rotvec_to_rotmat(as_t(best.global_orient)), as_t(best.betas),
                        as_t(best.transl), RefinementSettings(), self.settings.joint_prior,
                        self.settings.joint_lr)
        self._track = _Track(tokens=tokens, confidence=as_t(best.token_confidence), fit=fit,
                             landmarks_px=person.landmarks_px.copy(), height_px=body_height_px(person),
                             error_px=best.error_2d_px, betas_sum=as_t(best.betas))

    def _preview_body(self) -> tuple[ReducedMesh, SparseBody]:
        return preview_mesh(self.recon.body), self.recon.preview_body()

    def _resample(self, cond, track: _Track, settings: ReconstructionSettings):
        """Step 1: re-mask the uncertain tokens and a rotating share of the rest, predict them once."""
        gen, k = self.recon.generator, track.tokens.shape[1]
        remask = track.confidence < self.settings.remask_below
        n_turn = max(1, int(round(k * self.settings.rotate_share)))
        turn = (track.turn + torch.arange(n_turn, device=remask.device)) % k
        remask[0, turn] = True
        track.turn = (track.turn + n_turn) % k
        with torch.inference_mode():
            out = gen(cond.tokens, torch.where(remask, torch.full_like(track.tokens, gen.mask_id), track.tokens))
            if not _finite(out.logits):
                return None
            probs = torch.softmax(out.logits.float(), dim=-1)
            chosen = probs.argmax(-1)
            tokens = torch.where(remask, chosen, track.tokens)
            confidence = torch.where(remask, probs.gather(-1, chosen[..., None]).squeeze(-1), track.confidence)
        return tokens.clone(), confidence.clone(), remask.clone()

    def _warm_step(self, person: DetectedPerson, width: int, height: int, focal: float,
                   settings: ReconstructionSettings, timing: dict[str, float], t_s: float | None
                   ) -> PersonReconstruction:
        recon, track, dev = self.recon, self._track, self.recon.device
        t0 = time.perf_counter()
        cond = recon.encoder.encode(person, width, height, focal).to(dev)
        resampled = self._resample(cond, track, settings)
        if resampled is None:  # non-finite logits: decode this frame from scratch
            self.reset()
            return self.step(person, width, height, focal, settings, timing, t_s)
        tokens, confidence, remask = resampled
        levels, slots = recon.tokenizer.config.levels, recon.tokenizer.config.slots
        code_latents = recon.tokenizer.latents(tokens).detach()
        changed = (tokens != track.tokens).reshape(1, levels, slots).any(1)
        t1 = time.perf_counter()
        timing["sample"] += (t1 - t0) * 1000

        # Step 2: a few refinement steps from where the last frame ended.
        mesh, posed = self._preview_body()
        fit = track.fit
        with torch.no_grad():  # re-sampled slots start at their new codes, the others where they were
            fit.latents.copy_(torch.where(changed[..., None], code_latents, fit.latents))
        target = torch.as_tensor(person.landmarks_px, dtype=torch.float32, device=dev)[None]
        vis = torch.as_tensor(person.visibility, dtype=torch.float32, device=dev)[None]
        error_before = fit.steps(target, vis, cond, code_latents, self.settings.refine_steps,
                                 fit_shape=not track.shape_fixed)
        # Step 3: the preview mesh, joints and keypoints in one skinning pass (also the error after).
        with torch.no_grad():
            pose, orient = fit.rotations()
            transl = fit.transl
            if t_s is not None and self.smoother.strength > 0:
                # The fit's own error (tracking loss is judged on it), then the filtered pose to show.
                error_after = fit.error_px(recon.sparse(orient, pose, fit.betas, transl).mediapipe33, orient, target,
                                           vis, cond)
                rotations, smoothed_t = self.smoother(t_s, torch.cat([orient, pose[0]], 0), transl[0])
                orient, pose, transl = rotations[:1], rotations[None, 1:], smoothed_t[None]
                body = posed(orient, pose, fit.betas, transl)
            else:
                body = posed(orient, pose, fit.betas, transl)
                error_after = fit.error_px(body.mediapipe33, orient, target, vis, cond)
            kp2d = project(body.coco17, cond.focal, cond.image_wh)
        if not _finite(body.vertices, fit.latents):
            self.reset()
            return self.step(person, width, height, focal, settings, timing, t_s)
        timing["refine"] += (time.perf_counter() - t1) * 1000
        self._advance(track, tokens, confidence, float(error_after[0]), person)

        hypothesis = Hypothesis(
            global_orient=roma.rotmat_to_rotvec(orient[0]).cpu().numpy(),
            body_pose=roma.rotmat_to_rotvec(pose[0]).reshape(-1).cpu().numpy(),
            betas=fit.betas[0].detach().cpu().numpy().copy(), transl=transl[0].detach().cpu().numpy().copy(),
            tokens=tokens[0].cpu().numpy(), token_confidence=confidence[0].cpu().numpy(),
            log_likelihood=float(torch.log(confidence.clamp_min(1e-12)).sum()),
            error_2d_before_px=float(error_before[0]), error_2d_px=float(error_after[0]),
            refine_errors_px=[float(error_before[0]), float(error_after[0])],
            latents=fit.latents[0].detach().cpu().numpy().copy())
        codes = tokens.cpu().numpy()
        record = IterationRecord(iteration=0, codes=codes, confidence=confidence.cpu().numpy(),
                                 remasked=np.zeros_like(codes, dtype=bool), masked_after=np.zeros_like(codes, dtype=bool))
        return PersonReconstruction(
            detection=person, hypotheses=[hypothesis], iterations=[record],
            vertices=body.vertices[0].cpu().numpy(), joints=body.joints[0].cpu().numpy(),
            keypoints3d_coco17=body.coco17[0].cpu().numpy(), keypoints2d_coco17=kp2d[0].cpu().numpy(),
            reduced=mesh)

    def _advance(self, track: _Track, tokens, confidence, error_px: float, person: DetectedPerson) -> None:
        track.tokens, track.confidence, track.error_px = tokens, confidence, error_px
        track.landmarks_px, track.height_px = person.landmarks_px.copy(), body_height_px(person)
        track.frames += 1
        if not track.shape_fixed:
            track.betas_sum = track.betas_sum + track.fit.betas.detach()
            if track.frames >= self.settings.shape_frames:
                with torch.no_grad():
                    track.fit.betas.copy_(track.betas_sum / track.frames)
                track.shape_fixed = True


class _TrackFit:
    """The refinement's parameters and one Adam that live on from frame to frame.

    A fresh Adam's first step moves every parameter by its whole learning rate whatever the gradient
    (the moments start at zero), which makes a one-step-per-frame fit jitter; carried over, the
    moments average the gradient over the last frames like a smoother that knows the objective."""

    def __init__(self, recon: Reconstructor, latents: torch.Tensor, global_orient: torch.Tensor,
                 betas: torch.Tensor, transl: torch.Tensor, settings: RefinementSettings, joint_prior: float,
                 joint_lr: float) -> None:
        self.recon, self.settings, self.joint_prior = recon, settings, joint_prior
        self.latents = latents.detach().clone().requires_grad_(True)
        self.orient6 = rotmat_to_6d(global_orient.detach()).clone().requires_grad_(True)
        self.betas = betas.detach().clone().requires_grad_(True)
        self.transl = transl.detach().clone().requires_grad_(True)
        # Per-joint 6D offsets on top of the decoded pose: the still path's joint stage (refine_joints)
        # folded into the same step. The decoder mixes every latent into every joint; an offset moves
        # one limb onto its keypoints without moving the others. `joint_prior` holds it near zero.
        self.joint6 = torch.zeros(latents.shape[0], 23, 6, device=latents.device, requires_grad=joint_prior > 0)
        groups = [{"params": [self.latents, self.orient6, self.betas, self.transl]}]
        if joint_prior > 0:
            groups.append({"params": [self.joint6], "lr": joint_lr})
        self.optimizer = torch.optim.Adam(groups, lr=settings.lr)

    def rotations(self) -> tuple[torch.Tensor, torch.Tensor]:
        pose = self.recon.tokenizer.decode_latents(self.latents)
        if self.joint_prior > 0:
            pose = sixd_to_rotmat(rotmat_to_6d(pose) + self.joint6)
        return pose, sixd_to_rotmat(self.orient6)

    def error_px(self, mediapipe33: torch.Tensor, orient: torch.Tensor, target: torch.Tensor, vis: torch.Tensor,
                 cond) -> torch.Tensor:
        px = project(self.recon.detector_like_keypoints(mediapipe33, orient), cond.focal, cond.image_wh)
        return reprojection_error_px(px, target, keypoint_weights(vis, self.settings.min_visibility))

    def steps(self, target: torch.Tensor, vis: torch.Tensor, cond, prior_latents: torch.Tensor, n: int,
              fit_shape: bool) -> torch.Tensor:
        """n Adam steps on refine()'s objective; returns the 2D error (S,) before the first."""
        s = self.settings
        weights = keypoint_weights(vis, s.min_visibility)
        scale = cond.crop[:, 2].reshape(-1, 1)
        self.betas.requires_grad_(fit_shape)
        before = None
        for _ in range(max(n, 1)):
            pose, orient = self.rotations()
            out = self.recon.sparse(orient, pose, self.betas, self.transl)
            px = project(self.recon.detector_like_keypoints(out.mediapipe33, orient), cond.focal, cond.image_wh)
            if before is None:
                before = reprojection_error_px(px.detach(), target, weights)
            if n == 0:
                break
            r = (px - target).norm(dim=-1) / scale
            robust = r.pow(2) / (r.pow(2) + s.robust_sigma ** 2)  # Geman-McClure, as in refine()
            data = (robust * weights).sum(-1) / weights.sum(-1).clamp_min(1e-6)
            prior = s.latent_prior * (self.latents - prior_latents).pow(2).mean((1, 2)) \
                + s.betas_prior * self.betas.pow(2).sum(-1) + self.joint_prior * self.joint6.pow(2).sum((1, 2))
            self.optimizer.zero_grad(set_to_none=True)
            (data + prior).sum().backward()
            self.optimizer.step()
        return before


__all__ = ["LiveSettings", "LiveTracker", "body_height_px"]
