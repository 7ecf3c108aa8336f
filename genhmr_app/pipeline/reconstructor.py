"""The core entry point: image → detection → conditioning → sampling → refinement → body.

`Reconstructor.run(rgb, settings) -> Reconstruction`. No Qt. Typed results with timings per stage.
Models load once; each call is independent and deterministic for a given seed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import roma
import torch

from genhmr_app.body.lod import ReducedMesh
from genhmr_app.body.model import BodyModel, load_body_model_with_fallback
from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import DEFAULT_VERTICAL_FOV_DEG, focal_from_fov, project, weak_perspective_to_translation
from genhmr_app.conditioning.features import ConditionBatch, MediaPipeConditionEncoder
from genhmr_app.detection import DetectedPerson, DetectionResult, DetectorError, PoseDetector
from genhmr_app.detection.error_model import NoiseModel, detector_like_keypoints
from genhmr_app.detection.landmark_correction import CORRECTOR_PATH, CorrectionSettings, LandmarkCorrector, load_corrector
from genhmr_app.detection.landmark_noise import NOISE_PATH, LandmarkNoise, LandmarkNoiseError
from genhmr_app.detection.placement import PLACEMENT_PATH, LandmarkPlacement, PlacementError
from genhmr_app.detection.tracking_looks import StillTracker, TrackedLook
from genhmr_app.device import resolve_device
from genhmr_app.generator.frozen import for_cpu_inference
from genhmr_app.generator.model import GeneratorOutput, MaskedPoseTransformer, load_generator
from genhmr_app.paths import WEIGHTS_DIR
from genhmr_app.refinement.feedback import FrozenFeedback
from genhmr_app.refinement.joint_fit import JointFitSettings, fit_joints
from genhmr_app.refinement.refine import RefinementSettings, refine
from genhmr_app.refinement.uncertainty import UncertaintyPriorSettings, joint_spread, prior_from_spread
from genhmr_app.sampling.maskgit import IterationRecord, NonFiniteOutputError, SamplingSettings, iterate
from genhmr_app.settings import DEFAULT_ITERATIONS, DEFAULT_REFINE_STEPS
from genhmr_app.tokens.frozen import FrozenDecoder
from genhmr_app.tokens.model import PoseTokenizer, load_tokenizer

log = logging.getLogger(__name__)

TOKENIZER_PATH = WEIGHTS_DIR / "tokenizer" / "pose_tokenizer.pt"
UNLIMITED_MS = 1e9  # "no time budget" for the detector's searches
GENERATOR_PATH = WEIGHTS_DIR / "genhmr" / "generator.pt"


class FitTargets(NamedTuple):
    """What the fits pull a body onto (Reconstructor.fit_targets)."""

    points_px: np.ndarray  # (33, 2) px
    weights: np.ndarray  # (33,)
    # The landmark corrector's domain check (CorrectedLandmarks.applied_share): 1 for a person like the renders
    # the models learnt from, falling to 0 as the corrector's ensemble disagrees on them; 1 without a corrector.
    familiarity: float = 1.0

    def tensors(self, device: torch.device | str, hypotheses: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The points (S, 33, 2) and weights (S, 33) as float32 tensors, for S = `hypotheses` fits at once."""
        as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)[None]  # noqa: E731
        return as_tensor(self.points_px).expand(hypotheses, -1, -1), as_tensor(self.weights).expand(hypotheses, -1)


def _with_look(detection: DetectionResult, look: TrackedLook) -> DetectionResult:
    """The one-person `detection` with `look` as its person's tracked landmarks."""
    return replace(detection, people=[replace(detection.people[0], tracked_px=look.landmarks_px,
                                              tracked_confidence=look.confidence)])


class ReconstructionError(Exception):
    """A failure the user should see (bad weights, unusable model output)."""


@dataclass(frozen=True)
class ReconstructionSettings:
    iterations: int = DEFAULT_ITERATIONS
    temperature: float = 1.0
    # 0: no refinement at all. P >= 1: the joint fit, after P - 1 steps of the latent stage (refine.py).
    # Tenth session: with the uncertainty-guided joint fit, the one latent step that P = 1 used to take
    # changed nothing on the validation scenes (MPJPE 103.2 → 103.0-103.2 mm without it) and cost ~6 ms.
    refine_steps: int = DEFAULT_REFINE_STEPS
    hypotheses: int = 1
    seed: int = 0
    rank_by: str = "2d"  # "2d" (agreement with the detected keypoints) or "likelihood"
    # Where refinement starts: "expected", each token's expected code under the distribution it was
    # committed with (sampling/maskgit.py), or "codes", the sampled codes themselves.
    latent_start: str = "expected"
    vertical_fov_deg: float = DEFAULT_VERTICAL_FOV_DEG
    max_people: int = 1
    focal_px: float | None = None  # known intrinsics override the default field of view
    # Levenberg-Marquardt iterations of the joint-space stage after the latent steps (refinement/joint_fit.py).
    # On rendered validation scenes it took PA-MPJPE 72.3 → 56.4 mm and the 2D error 19.2 → 8.2 px in ~25 ms.
    joint_fit_iterations: int = JointFitSettings.iterations
    # The joint fit holds each joint as firmly as the generator is sure of it (refinement/uncertainty.py);
    # False: one constant prior for every joint (JointFitSettings.pose_prior), as the regressor gets.
    uncertainty_prior: bool = True
    # True: the joint fit matches the learned correction of MediaPipe's 2D landmarks, each weighted by how
    # far off it is likely to be (detection/landmark_correction.py), with a domain check that fades it out
    # for people unlike the renders it learnt from. On since the thirtieth session: seed-10 validation
    # −2.60 mm (−3.21 to −1.99) flat, −2.44 dressed, 2D −0.42 px; MPI-INF-3DHP 112.0 → 111.8 mm; every
    # annotated photo person in their own crop (16) −0.04 points of height (standard error 0.14, 6 better,
    # 8 worse). It was off from the twenty-first session because the one-person-per-photo check (8 people)
    # got worse (7.13 → 7.32% of height, now 7.12 → 7.28); twice the people no longer show that.
    landmark_correction: bool = True
    # Stills with one person: this many MediaPipe tracking passes on the same image, whose landmarks the
    # joint fit pulls onto (detection/tracking_looks.py); the generator keeps the first look's, so the
    # passes run beside the sampling. Twenty-sixth session (298 rendered validation scenes, paired; real
    # images): 1 pass −1.61 mm (−2.59 to −0.64), photos' keypoints 7.15 → 7.06% of the height,
    # MPI-INF-3DHP 111.2 → 111.5 mm, one network forward (~18 ms). Two since the thirty-second session,
    # with the fit started on the first pass's look while the second runs (last_look_fit_iterations) and
    # the unfamiliar-person fit; against one pass: seed-10 validation +0.01 mm (−0.44 to +0.45) flat,
    # +0.24 (−0.23 to +0.71) dressed; MPI-INF-3DHP 111.0 → 106.7; the annotated photos' placed keypoints
    # 7.28 → 6.53% (MediaPipe's own 7.06), the cropped people 6.58 → 6.10% (6.55; 11 better, 5 worse);
    # latency 2.37 → 2.71× detection alone on renders, 2.51 → 2.85× on the real images (2.71 / 3.14×
    # when the whole fit waited for the second pass). 0: one look.
    tracking_passes: int = 2
    # The joint fit's iterations for a person unlike the renders the models learnt from (FitTargets.familiarity
    # below 1: 5-9% of the validation renders, 60-75% of the real people), None: `joint_fit_iterations` for
    # everyone. Renders reward stopping the fit early and trusting the generator; real people reward the
    # keypoints (the generator is sure of itself beyond what it knows of real bodies: eighteenth session),
    # so an unfamiliar person's fit runs on to convergence and, with UncertaintyPriorSettings.unfamiliar_share,
    # is held more loosely. Thirty-second session, against neither: seed-10 validation +0.07 mm (−0.14 to
    # +0.27) flat, +0.07 (−0.10 to +0.24) dressed; MPI-INF-3DHP 112.5 → 111.0 mm; the annotated photo people
    # in their own crops 6.88 → 6.58% of the height (MediaPipe's own 6.55; 9 better, 1 worse); the one person
    # per photo check 7.27 → 7.28%. The iterations alone: validation +0.03 / −0.02, crops 6.69%, MPI 111.6.
    # Applying both to everyone instead: crops 6.47%, photos 7.18%, but validation +0.29 (−0.09 to +0.66).
    unfamiliar_fit_iterations: int | None = 8
    # With two or more tracking passes, the joint fit starts on the first pass's look while the last pass
    # runs (its iterations as above), then takes this many iterations more on the last look, from there.
    # None: the whole fit waits for the last look.
    last_look_fit_iterations: int | None = 2
    # A feedback generator only: SamplingSettings.feedback_last.
    feedback_last: int | None = SamplingSettings.feedback_last

    def sampling(self) -> SamplingSettings:
        return SamplingSettings(self.iterations, self.temperature, self.hypotheses, self.seed, self.feedback_last)


@dataclass
class Hypothesis:
    global_orient: np.ndarray  # (3,) axis-angle, camera frame
    body_pose: np.ndarray  # (69,) axis-angle
    betas: np.ndarray  # (10,)
    transl: np.ndarray  # (3,) camera frame, metres
    tokens: np.ndarray  # (K,)
    token_confidence: np.ndarray  # (K,)
    log_likelihood: float
    error_2d_before_px: float  # after sampling, before refinement
    error_2d_px: float  # final (refined, never worse than before)
    refine_errors_px: list[float] = field(default_factory=list)
    latents: np.ndarray | None = None  # (slots, D) the refined token latents (live tracking starts from them)


@dataclass
class PersonReconstruction:
    detection: DetectedPerson
    hypotheses: list[Hypothesis]  # ranked, best first
    iterations: list[IterationRecord]  # per sampling iteration, for all hypotheses (S, K)
    vertices: np.ndarray  # (V, 3) best hypothesis, camera frame
    joints: np.ndarray  # (24, 3)
    keypoints3d_coco17: np.ndarray  # (17, 3) camera frame
    keypoints2d_coco17: np.ndarray  # (17, 2) their projection, px
    fallback: str | None = None  # set when non-finite model output forced a fallback
    # Set when `vertices` are those of a reduced mesh (body/lod.py; live tracking), None: the full mesh.
    reduced: ReducedMesh | None = None

    @property
    def best(self) -> Hypothesis:
        return self.hypotheses[0]


@dataclass
class Reconstruction:
    width: int
    height: int
    focal_px: float
    people: list[PersonReconstruction]
    detection: DetectionResult
    timing_ms: dict[str, float]
    settings: ReconstructionSettings
    image_path: Path | None = None


def _finite(*tensors: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


class Reconstructor:
    def __init__(self, body: BodyModel | None = None, tokenizer: PoseTokenizer | None = None,
                 generator: MaskedPoseTransformer | None = None, device: str = "auto",
                 tokenizer_path: Path = TOKENIZER_PATH, generator_path: Path = GENERATOR_PATH,
                 time_budgets: bool = True, placement_path: Path = PLACEMENT_PATH,
                 corrector_path: Path = CORRECTOR_PATH, landmark_noise_path: Path = NOISE_PATH) -> None:
        # The detector's extra searches on hard images stop at a time budget, which keeps the window
        # responsive but makes a result depend on the machine's speed; batch runs turn the budgets off
        # so that a result is the same on every worker (see pipeline/batch.py).
        self.time_budgets = time_budgets
        self.device = resolve_device(device)
        # Where the weights came from, so a child process can load the same (pipeline/model_process.py);
        # None when a model was handed in as an object.
        self.weight_paths = None if tokenizer is not None or generator is not None or body is not None else {
            "tokenizer_path": Path(tokenizer_path), "generator_path": Path(generator_path)}
        if body is None:
            body, warning = load_body_model_with_fallback(device="cpu")
            self.body_warning = warning
        else:
            self.body_warning = None
        self.body = body.to(self.device)
        self.tokenizer = (tokenizer or load_tokenizer(tokenizer_path)).to(self.device).eval()
        self.generator = (generator or load_generator(generator_path, self.tokenizer.config)).to(self.device).eval()
        cfg = self.generator.config
        if cfg.mode == "generate" and cfg.num_tokens != self.tokenizer.config.num_tokens or cfg.codebook_size != self.tokenizer.config.codebook_size:
            raise ReconstructionError(
                f"generator expects {cfg.num_tokens} tokens x {cfg.codebook_size} codes but the tokenizer has "
                f"{self.tokenizer.config.num_tokens} x {self.tokenizer.config.codebook_size}")
        for p in list(self.tokenizer.parameters()) + list(self.generator.parameters()):
            p.requires_grad_(False)
        self.generator = for_cpu_inference(self.generator)  # traced and frozen on a CPU: ~40% faster
        self.decoder = FrozenDecoder(self.tokenizer)  # inference's decodes, frozen on a CPU (tokens/frozen.py)
        # The refinement's settings (refinement/joint_fit.py, refinement/uncertainty.py): the defaults,
        # unless a caller measures others (`main.py validate`); ReconstructionSettings sets the iterations.
        self.joint_fit = JointFitSettings()
        self.uncertainty = UncertaintyPriorSettings()
        # Where MediaPipe puts its landmarks on a body; every body the app compares with detections
        # carries it (keypoint_body), so the fits leave the joints where they belong.
        self.placement_warning: str | None = None
        try:
            self.placement = LandmarkPlacement.load(placement_path)
        except PlacementError as exc:  # the fit still works without it, a little less exactly
            self.placement = None
            self.placement_warning = f"{exc}; fitting the body's own keypoints instead"
            log.warning(self.placement_warning)
        self.sparse = self.keypoint_body()
        # How MediaPipe's landmark errors go together; without it (missing or unusable file) the fit
        # counts each landmark's error as its own, and the log says why.
        self.landmark_noise_warning: str | None = None
        try:
            self.landmark_noise = LandmarkNoise.load(landmark_noise_path)
        except LandmarkNoiseError as exc:
            self.landmark_noise = None
            self.landmark_noise_warning = f"{exc}; counting every landmark's error as its own"
            log.warning(self.landmark_noise_warning)
        self._noise_correlations: dict[float, torch.Tensor] = {}
        # The learned correction of the detector's 2D landmarks for the fit, loaded when first used (it
        # is off by default); without it (missing or unusable file) the fit takes MediaPipe's landmarks
        # as they are, and the log says why.
        self._corrector_path = Path(corrector_path)
        self._corrector_loaded: tuple[LandmarkCorrector | None, str | None] | None = None
        self.correction = CorrectionSettings()
        self._preview_body: SparseBody | None = None  # preview_body()
        self.noise = NoiseModel.load()
        self.encoder = MediaPipeConditionEncoder(depth_scale=self.noise.landmark_z_scale)
        self._detectors: dict[str, PoseDetector] = {}
        self._still_tracker: StillTracker | None = None  # look_again's, made when first asked for
        self._look_worker: ThreadPoolExecutor | None = None  # runs look_again beside the sampling
        self._feedback: FrozenFeedback | None = None  # reprojection_feedback's, made when first asked for

    # -- detection -------------------------------------------------------------------------
    def detector(self, mode: str = "image", num_poses: int = 1) -> PoseDetector:
        # "everyone": an IMAGE-mode detector that may report many people (see detect_everyone).
        # VIDEO mode tracks up to num_poses people; each count is its own MediaPipe graph.
        key = mode if mode == "everyone" or num_poses == 1 else f"{mode}:{num_poses}"
        if key not in self._detectors:
            budget = {} if self.time_budgets else {"retry_budget_ms": UNLIMITED_MS}
            self._detectors[key] = (PoseDetector(mode="image", num_poses=10, **budget) if mode == "everyone"
                                    else PoseDetector(mode=mode, num_poses=num_poses, **budget))
        return self._detectors[key]

    def close(self) -> None:
        for det in self._detectors.values():
            det.close()
        self._detectors.clear()
        if self._still_tracker is not None:
            self._still_tracker.close()
        if self._look_worker is not None:
            self._look_worker.shutdown(wait=True)
            self._look_worker = None

    # -- the pipeline ----------------------------------------------------------------------
    def run(self, rgb: np.ndarray, settings: ReconstructionSettings = ReconstructionSettings(),
            timestamp_ms: int | None = None, on_iteration: Callable[[IterationRecord], None] | None = None,
            image_path: Path | None = None) -> Reconstruction:
        t0 = time.perf_counter()
        mode = "video" if timestamp_ms is not None else "image"
        if mode == "image" and settings.max_people > 1:
            # Several people wanted: search beyond the ones MediaPipe's person detector picks first.
            budget = {} if self.time_budgets else {"budget_ms": UNLIMITED_MS}
            detection = self.detector("everyone").detect_everyone(rgb, max_people=settings.max_people, **budget)
        else:
            people = settings.max_people if mode == "video" else 1
            detection = self.detector(mode, people).detect(rgb, timestamp_ms=timestamp_ms)
        second_look = first_pass = None
        if mode == "image" and settings.tracking_passes > 0 and len(detection.people) == 1:
            # The passes only change the fit's targets, so they run while the generator samples.
            if self._look_worker is None:
                self._look_worker = ThreadPoolExecutor(1, thread_name_prefix="tracking-pass")
            first_pass = Future() if settings.tracking_passes > 1 else None
            second_look = self._look_worker.submit(self._look_again_telling, rgb, detection, settings.tracking_passes,
                                                   first_pass)
        t_det = time.perf_counter()
        recon = self.reconstruct_detection(detection, settings, on_iteration, second_look, first_pass)
        recon.timing_ms["detect"] += (t_det - t0) * 1000
        recon.timing_ms["total"] = (time.perf_counter() - t0) * 1000
        recon.image_path = image_path
        return recon

    def run_following(self, rgb: np.ndarray, boxes: list, settings: ReconstructionSettings, search: bool
                      ) -> Reconstruction:
        """A video frame with several people: each one followed from where they were (`boxes`, the
        previous frame's), plus a search of the whole image for newcomers when `search` (see
        PoseDetector.detect_around). Still images use run()."""
        t0 = time.perf_counter()
        budget = {} if self.time_budgets else {"budget_ms": UNLIMITED_MS}
        detection = self.detector("everyone").detect_around(rgb, [tuple(b) for b in boxes], settings.max_people,
                                                            search, **budget)
        t_det = time.perf_counter()
        recon = self.reconstruct_detection(detection, settings)
        recon.timing_ms["detect"] = (t_det - t0) * 1000
        recon.timing_ms["total"] = (time.perf_counter() - t0) * 1000
        return recon

    def look_again(self, rgb: np.ndarray, detection: DetectionResult, passes: int,
                   on_first_pass: Callable[[DetectionResult], None] | None = None) -> DetectionResult:
        """`detection` with its person's `tracked_px` from `passes` tracking passes on the same still (and,
        with two or more, the first pass's look as `first_pass_px`). Only when it found one person: the
        tracker follows one, and with several it could follow any of them. `on_first_pass` hears the
        detection as the first pass left it, while the next pass runs (not when there is only one)."""
        if len(detection.people) != 1:
            if len(detection.people) > 1:
                log.info("tracking passes skipped: %d people in the image", len(detection.people))
            return detection
        if self._still_tracker is None:
            self._still_tracker = StillTracker()
        first_pass: list[TrackedLook] = []

        def heard(k: int, look: TrackedLook) -> None:
            if k == 1:
                first_pass.append(look)
                if on_first_pass is not None:
                    on_first_pass(_with_look(detection, look))
        # An extra look that fails, in any way, costs nothing: the first look stands and the log says why.
        try:
            tracked = self._still_tracker.look(rgb, detection.people[0], passes, heard)
        except DetectorError as exc:
            log.warning("tracking passes failed (%s); fitting MediaPipe's first look", exc)
            tracked = None
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("the tracking pass failed (%s: %s); fitting MediaPipe's first look", type(exc).__name__, exc)
            tracked = None
        out = detection if tracked is None else _with_look(detection, tracked)
        if first_pass:  # kept even when a later pass lost the person: the fit started on it
            out = replace(out, people=[replace(out.people[0], first_pass_px=first_pass[0].landmarks_px,
                                               first_pass_confidence=first_pass[0].confidence)])
        return out

    def _look_again_telling(self, rgb: np.ndarray, detection: DetectionResult, passes: int,
                            first_pass: Future[DetectionResult] | None) -> DetectionResult:
        """look_again, with the first pass's detection given to `first_pass` as soon as it is made (or the
        final one, when there was no such pass), so a waiter never waits for nothing."""
        try:
            return self.look_again(rgb, detection, passes, None if first_pass is None else first_pass.set_result)
        finally:
            if first_pass is not None and not first_pass.done():
                first_pass.set_result(detection)

    def reconstruct_detection(self, detection: DetectionResult, settings: ReconstructionSettings,
                              on_iteration: Callable[[IterationRecord], None] | None = None,
                              second_look: Future[DetectionResult] | None = None,
                              first_pass: Future[DetectionResult] | None = None) -> Reconstruction:
        """`second_look`: look_again running on the same detection; its person's tracked look is waited
        for only when the fit needs it (the time waited counts as detection). `first_pass`: the detection
        as its first tracking pass left it, when more passes follow: the fit starts on it meanwhile."""
        w, h = detection.image_width, detection.image_height
        focal = settings.focal_px or focal_from_fov(h, settings.vertical_fov_deg)
        timing = {"detect": 0.0, "sample": 0.0, "refine": 0.0}
        people = []
        for i, person in enumerate(detection.people[: settings.max_people]):
            looked = (lambda: self._await_look(second_look, timing)) if second_look and i == 0 else None
            looked_first = (lambda: self._await_look(first_pass, timing)) if first_pass and i == 0 else None
            # Sampling progress is reported for the first (largest) person only: one heatmap.
            people.append(self.reconstruct_person(person, w, h, focal, settings, timing, on_iteration if i == 0 else None,
                                                  looked, looked_first))
        if second_look is not None:
            detection = replace(detection, people=[p.detection for p in people] + detection.people[len(people):])
        # A Reconstruction does not keep the image (DetectedPerson.image): one kept by a batch or a session
        # would otherwise hold every frame it came from.
        people = [replace(p, detection=p.detection.without_image()) for p in people]
        detection = detection.without_images()
        timing["total"] = sum(timing.values())
        return Reconstruction(w, h, focal, people, detection, timing, settings)

    @staticmethod
    def _await_look(second_look: Future[DetectionResult], timing: dict[str, float]) -> DetectedPerson:
        """The person with their tracked look (as first seen when it failed: look_again says why)."""
        t0 = time.perf_counter()
        person = second_look.result().people[0]
        timing["detect"] += (time.perf_counter() - t0) * 1000
        return person

    def reconstruct_person(self, person: DetectedPerson, width: int, height: int, focal: float,
                           settings: ReconstructionSettings, timing: dict[str, float],
                           on_iteration: Callable[[IterationRecord], None] | None = None,
                           looked: Callable[[], DetectedPerson] | None = None,
                           looked_first: Callable[[], DetectedPerson] | None = None) -> PersonReconstruction:
        """`looked`: waits for the same person with their tracked look (reconstruct_detection), which only
        the fit uses: the generator is conditioned on the first look. `looked_first`: waits for their
        first tracking pass's look, when more passes follow (the fit starts on it)."""
        cond = self.encoder.encode(person, width, height, focal).to(self.device)
        t0 = time.perf_counter()
        if self.generator.config.mode == "regress":
            return self._regress_person(person if looked is None else looked(), cond, settings, timing)
        sampled, records = self._sample(cond, settings.sampling(), on_iteration)
        fallback = None
        if sampled is None:
            # Non-finite logits: retry greedily with one hypothesis, which avoids the tempered softmax.
            fallback = "non-finite sampler output; fell back to greedy decoding"
            log.warning(fallback)
            sampled, records = self._sample(cond, replace(settings, temperature=0.0, hypotheses=1).sampling(), None)
            if sampled is None:
                raise ReconstructionError("the generator produced non-finite values for this person")
        tokens, conf, out, committed = _outside_inference_mode(*sampled)
        t1 = time.perf_counter()
        timing["sample"] += (t1 - t0) * 1000

        if settings.latent_start == "expected":
            latents = self.tokenizer.soft_latents(committed)
        else:
            latents = self.tokenizer.latents(tokens)
        if out.latent_offset is not None:  # the generator's continuous detail (generator/model.py)
            latents = latents + out.latent_offset
        later = None
        if looked_first is not None:
            person, later = looked_first(), looked
        elif looked is not None:
            person = looked()
        if looked is not None:
            t1 = time.perf_counter()  # the wait counted as detection (_await_look), not refinement
        return self._refine_and_package(person, cond, out, latents, tokens, conf, records, settings, timing, t1,
                                        fallback, committed=committed, later=later)

    def _regress_person(self, person: DetectedPerson, cond: ConditionBatch, settings: ReconstructionSettings,
                        timing: dict[str, float]) -> PersonReconstruction:
        """The deterministic baseline: one forward predicts the pose. With refine_steps > 0 its pose is
        refined through the tokenizer's decoder from its continuous encoding, like GenHMR's."""
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.generator(cond.tokens)
        tokens, conf, out, _ = _outside_inference_mode(torch.zeros(1, 0, dtype=torch.long), torch.ones(1, 0), out)
        t1 = time.perf_counter()
        timing["sample"] += (t1 - t0) * 1000
        latents = self.tokenizer.encode_latents(out.body_pose).detach()
        direct_pose = out.body_pose if settings.refine_steps == 0 else None
        return self._refine_and_package(person, cond, out, latents, tokens, conf, [], settings, timing, t1, None,
                                        direct_pose=direct_pose)

    def _refine_and_package(self, person, cond, out, latents, tokens, conf, records, settings, timing, t1, fallback,
                            direct_pose: torch.Tensor | None = None, committed: torch.Tensor | None = None,
                            later: Callable[[], DetectedPerson] | None = None) -> PersonReconstruction:
        """`committed` (S, K, C): the distributions the tokens were committed under; with
        `settings.uncertainty_prior` they set how firmly the joint fit holds each joint. `later`: waits for
        the person's last tracked look when `person` carries their first pass's (the fit starts on that and
        ends on the last: ReconstructionSettings.last_look_fit_iterations)."""
        if later is None and person.first_pass_px is not None:  # a stored look: fitted as the app fits it
            last_look = person
            person = replace(person, tracked_px=person.first_pass_px, tracked_confidence=person.first_pass_confidence)
            later = lambda: last_look  # noqa: E731
        staged = settings.last_look_fit_iterations is not None and direct_pose is None \
            and settings.joint_fit_iterations > 0 and settings.refine_steps > 0
        if later is not None and not staged:
            person, later = later(), None
        s = latents.shape[0]
        cond_s = cond.repeat(s)
        transl = weak_perspective_to_translation(out.cam, cond_s.crop, cond_s.focal, cond_s.image_wh)
        targets = self.fit_targets(person, settings.landmark_correction)
        target, vis = targets.tensors(self.device, s)
        result = refine(self.decoder, self.sparse, latents, out.global_orient, out.betas, transl, target, vis,
                        cond_s.crop[:, 2], cond_s.focal, cond_s.image_wh,
                        RefinementSettings(steps=max(settings.refine_steps - 1, 0)),
                        keypoint_fn=self.detector_like_keypoints)
        if not _finite(result.body_pose, result.global_orient, result.betas, result.transl):
            fallback = (fallback or "") + " non-finite refinement; kept the sampled pose"
            log.warning(fallback)
            result = refine(self.decoder, self.sparse, latents, out.global_orient, out.betas, transl, target, vis,
                            cond_s.crop[:, 2], cond_s.focal, cond_s.image_wh, RefinementSettings(steps=0),
                            keypoint_fn=self.detector_like_keypoints)
        if direct_pose is not None:
            result.body_pose = direct_pose
        elif settings.joint_fit_iterations > 0 and settings.refine_steps > 0:
            # The spread is measured around the pose the joint fit starts from and pulls towards.
            spread = None
            if settings.uncertainty_prior and committed is not None:
                generator = torch.Generator(device=committed.device).manual_seed(settings.seed)
                spread = joint_spread(self.decoder, committed, result.body_pose, self.uncertainty.samples, generator,
                                      out.latent_offset)
            iterations = settings.joint_fit_iterations
            if targets.familiarity < 1 and settings.unfamiliar_fit_iterations is not None:  # never fewer
                iterations = max(iterations, settings.unfamiliar_fit_iterations)
            start = None
            for stage_iterations in (iterations, settings.last_look_fit_iterations if later else 0):
                if stage_iterations == 0:
                    continue
                if start is not None:  # the last look: the fit goes on from where the first pass's left it
                    waited = time.perf_counter()
                    person, later = later(), None
                    t1 += time.perf_counter() - waited  # the wait counted as detection (_await_look)
                    targets = self.fit_targets(person, settings.landmark_correction)
                    target, vis = targets.tensors(self.device, s)
                pose_prior = None if spread is None else prior_from_spread(spread, self.uncertainty, targets.familiarity)
                fit = fit_joints(self.sparse, result.body_pose, result.global_orient, result.betas,
                                 result.transl if start is None else start.transl, target, vis, cond_s.crop[:, 2],
                                 cond_s.focal, cond_s.image_wh, replace(self.joint_fit, iterations=stage_iterations),
                                 keypoint_fn=self.detector_like_keypoints, pose_prior=pose_prior,
                                 noise_correlation=self.noise_correlation(self.joint_fit),
                                 start_offsets=None if start is None else start.offsets)
                if not _finite(fit.body_pose, fit.global_orient, fit.transl):
                    break
                start = fit
                result.errors = result.errors + fit.errors[1:]
            if start is not None:
                result.body_pose, result.global_orient, result.transl = start.body_pose, start.global_orient, start.transl
                result.error_after = start.error_px
        if later is not None:  # no fit went on to the last look: it is still the person's detection
            person = later()
        timing["refine"] += (time.perf_counter() - t1) * 1000

        ll = torch.log(conf.clamp_min(1e-12)).sum(-1) if conf.numel() else torch.zeros(s)
        order = torch.argsort(result.error_after if settings.rank_by == "2d" else -ll).tolist()
        hyps = []
        for i in order:
            hyps.append(Hypothesis(
                global_orient=roma.rotmat_to_rotvec(result.global_orient[i]).cpu().numpy(),
                body_pose=roma.rotmat_to_rotvec(result.body_pose[i]).reshape(-1).cpu().numpy(),
                betas=result.betas[i].cpu().numpy(), transl=result.transl[i].cpu().numpy(),
                tokens=tokens[i].cpu().numpy(), token_confidence=conf[i].cpu().numpy(), log_likelihood=float(ll[i]),
                error_2d_before_px=float(result.error_before[i]), error_2d_px=float(result.error_after[i]),
                refine_errors_px=result.errors, latents=result.latents[i].cpu().numpy()))
        best = order[0]
        with torch.no_grad():
            body = self.body.forward(result.global_orient[best:best + 1], result.body_pose[best:best + 1],
                                     result.betas[best:best + 1], result.transl[best:best + 1])
            kp2d = project(body.keypoints_coco17, cond.focal, cond.image_wh)
        return PersonReconstruction(
            detection=person, hypotheses=hyps, iterations=records,
            vertices=body.vertices[0].cpu().numpy(), joints=body.joints[0].cpu().numpy(),
            keypoints3d_coco17=body.keypoints_coco17[0].cpu().numpy(), keypoints2d_coco17=kp2d[0].cpu().numpy(),
            fallback=fallback)

    @property
    def corrector(self) -> LandmarkCorrector | None:
        """The landmark corrector, loaded on first use; None when its file is missing or unusable."""
        return self._load_corrector()[0]

    @property
    def corrector_warning(self) -> str | None:
        """Why there is no landmark corrector (None when it loaded)."""
        return self._load_corrector()[1]

    def use_corrector(self, corrector: LandmarkCorrector | None) -> None:
        """Fit onto this corrector's landmarks from now on (None: MediaPipe's own), in place of the file's."""
        self._corrector_loaded = (corrector, None if corrector is not None else "no landmark corrector given")

    def _load_corrector(self) -> tuple[LandmarkCorrector | None, str | None]:
        if self._corrector_loaded is None:
            self._corrector_loaded = load_corrector(self._corrector_path)
            if self._corrector_loaded[1]:
                log.warning(self._corrector_loaded[1])
        return self._corrector_loaded

    def fit_targets(self, person: DetectedPerson, corrected: bool = True) -> FitTargets:
        """The 2D points (33, 2) px the fits pull the body onto and their weights (33,): MediaPipe's (after
        its tracking passes, when the still had them: `tracked_px`) with its visibility, or their learned
        correction (detection/landmark_correction.py) when `corrected` and the corrector loads, with the
        corrector's weights; either way times the tracking pass's own certainty of each spot
        (JointFitSettings.tracked_confidence_power), when there was a pass. With the correction comes the
        corrector's domain check (`familiarity`)."""
        points = person.landmarks_px if person.tracked_px is None else person.tracked_px
        weights, familiarity = person.visibility, 1.0
        if corrected and self.corrector is not None:
            tracked = person.tracked_px is not None
            patches = person.patches_around(points) if self.corrector.reads_patches else None
            out = self.corrector.correct(points, person.landmarks_z, person.visibility,
                                         person.presence, person.world_landmarks, self.correction,
                                         first_look_px=person.landmarks_px if tracked else None,
                                         look_confidence=person.tracked_confidence if tracked else None,
                                         patches=patches)
            points, weights, familiarity = out.landmarks_px, out.weights, out.applied_share
        if person.tracked_px is None or person.tracked_confidence is None:
            return FitTargets(points, weights, familiarity)
        # The pass's certainty weighs the corrected points too, as it weighs MediaPipe's. Thirtieth session,
        # seed-10 validation with the correction on, against the corrector's weights alone: flat MPJPE
        # −0.15 mm (−0.36 to +0.05), PA −0.30 (−0.51 to −0.09); dressed −0.14, PA −0.22.
        fit = self.joint_fit
        certainty = np.maximum(person.tracked_confidence ** fit.tracked_confidence_power, fit.tracked_confidence_floor)
        return FitTargets(points, (weights * certainty).astype(np.float32), familiarity)

    def noise_correlation(self, settings: JointFitSettings) -> torch.Tensor | None:
        """(66, 66) the landmark-error correlation the joint fit whitens by at `settings`' strength, None
        when there is no measured one or the strength is 0."""
        strength = float(settings.landmark_correlation)
        if self.landmark_noise is None or strength <= 0:
            return None
        if strength not in self._noise_correlations:
            self._noise_correlations[strength] = self.landmark_noise.blended(strength).to(self.device)
        return self._noise_correlations[strength]

    def preview_body(self) -> SparseBody:
        """A SparseBody over the preview mesh's vertices (body/lod.py), built once: annotator drags and
        live frames pose the lighter mesh with it."""
        if self._preview_body is None:
            from genhmr_app.body.lod import preview_mesh

            ids = preview_mesh(self.body).vertex_ids
            self._preview_body = self.keypoint_body(vertex_ids=ids)
        return self._preview_body

    def keypoint_body(self, **kwargs) -> SparseBody:
        """A SparseBody of this body (SparseBody's options) whose MediaPipe keypoints sit where the
        detector puts them (the landmark placement, when there is one)."""
        if self.placement is None:
            return SparseBody(self.body, **kwargs).to(self.device)
        return self.placement.keypoint_body(self.body, **kwargs).to(self.device)

    def detector_like_keypoints(self, mediapipe33: torch.Tensor, global_orient: torch.Tensor) -> torch.Tensor:
        """The keypoints of a keypoint_body() where MediaPipe would put them: as they are when the
        landmark placement (which includes the hips) is loaded, else with the hips shifted."""
        if self.placement is not None:
            return mediapipe33
        return detector_like_keypoints(mediapipe33, global_orient, self.noise)

    def reprojection_feedback(self, beliefs: torch.Tensor, output: GeneratorOutput, cond: ConditionBatch) -> torch.Tensor:
        """What a feedback generator's next iteration sees (refinement/feedback.py), frozen on a CPU."""
        if self._feedback is None:
            self._feedback = FrozenFeedback(self.decoder, self.sparse, self.detector_like_keypoints,
                                            depth=self.generator.config.feedback_depth)
        return self._feedback(beliefs, output, cond)

    @torch.inference_mode()
    def _sample(self, cond: ConditionBatch, sampling: SamplingSettings,
                on_iteration: Callable[[IterationRecord], None] | None):
        records: list[IterationRecord] = []
        step = None
        try:
            for step in iterate(self.generator, cond, sampling, feedback_fn=self.reprojection_feedback):
                records.append(step.record)
                if on_iteration is not None:
                    on_iteration(step.record)
        except NonFiniteOutputError as exc:
            log.warning("%s", exc)
            return None, records
        # Orientation, shape and camera come from the last iteration's forward, not from one more forward
        # with every token in view: on the validation scenes the two were within 0.2 mm of each other
        # (MPJPE 103.2 vs 103.0 at N=5, 103.4 vs 103.7 at N=1), and the extra forward cost ~2.5 ms a person.
        final = step.output
        if not _finite(final.global_orient, final.betas, final.cam):
            return None, records
        conf = torch.as_tensor(records[-1].confidence, device=self.device)
        return (step.tokens, conf, final, step.committed), records


def _outside_inference_mode(tokens: torch.Tensor, conf: torch.Tensor, out: GeneratorOutput,
                            committed: torch.Tensor | None = None):
    """Inference-mode tensors cannot enter autograd; refinement differentiates through these."""
    c = lambda t: None if t is None else t.clone()  # noqa: E731
    return (c(tokens), c(conf), GeneratorOutput(c(out.logits), c(out.body_pose), c(out.global_orient), c(out.betas),
                                                c(out.cam), c(out.latent_offset)), c(committed))
