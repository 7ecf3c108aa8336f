"""Where the final error comes from: the error budget that `main.py bench` prints.

On the same rendered scenes, the pipeline is fed ever less perfect inputs, and each row isolates one
stage (12 COCO limb joints; MPJPE mid-hip aligned, PA-MPJPE similarity aligned; 2D in px):
- tokenizer round trip of the true pose, with the true orientation and shape: the floor the tokens allow;
- generator + refinement from perfect detector output (noise-free simulation of the true keypoints);
- from simulated detector output (the calibrated noise model);
- from the real detector's output (what users get), without refinement, with refinement whose joint
  prior is one constant for every joint, and as the app runs (the prior from the generator's
  uncertainty); then the fit on MediaPipe's landmarks as they are and on their learned correction
  (detection/landmark_correction.py), whichever the default is, and with the fit given the true 2D
  keypoints (where the detector puts them on the true body): what better 2D could still give; then the
  true 2D for one group of landmarks at a time (TRUE_2D_GROUPS), the detector's for the rest: which
  landmarks' errors cost the most 3D, so which better detection would pay (seven finer groups, one at
  a time, added up to 14.4 of the whole oracle's 14.8 mm on the seed-10 validation scenes: the gains
  hardly overlap; twenty-fourth session);
- that last result with the true global orientation, then also the true shape: what orientation and
  shape/scale contribute to MPJPE (PA-MPJPE removes both by construction);
- with a regressor, both models without refinement from the same perfect, simulated and real inputs: how
  much of the generator's error is its token prediction rather than what the inputs leave open.
Each MPJPE is also split into its in-plane part (the camera's x, y) and its depth part (z): the
refinement can only fit what the image plane shows, so the depth column is what it has to leave to
the generator.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import roma
import torch

from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project
from genhmr_app.detection.detector import DetectedPerson
from genhmr_app.pipeline.reconstructor import FitTargets, ReconstructionSettings, Reconstructor
from genhmr_app.training.synthesis import NoiseModel, Synthesizer

LIMBS = list(range(5, 17))
# MediaPipe-33 landmark groups for the partial true-2D rows: the torso's four corners, the arms from the
# elbows down (hand points included: the fit uses them), the legs from the knees down, and the face.
TRUE_2D_GROUPS = {"the torso (shoulders, hips)": (11, 12, 23, 24), "the arms (elbows, wrists, hands)": tuple(range(13, 23)),
                  "the legs (knees, ankles, feet)": tuple(range(25, 33)), "the face": tuple(range(11))}


def _perfect_noise(nm: NoiseModel) -> NoiseModel:
    return replace(nm, sigma_visible=[0.0] * 33, outlier_rate=0.0, swap_rate_front=0.0, swap_rate_back=0.0,
                   world_sigma_m=(0.0, 0.0, 0.0), world_scale_sigma=0.0, visibility_visible=(1.0, 0.0),
                   visibility_occluded=(1.0, 0.0))


def detector_placed(synth: Synthesizer, scene) -> np.ndarray:
    """(33, 3) the scene's keypoints where `synth`'s detector puts them: moved by the landmark placement
    its detector_body carries (detection/placement.py; what the fit expects), else the body's own."""
    if synth.detector_body is None:
        return scene.mp33
    device = synth.detector_body.j_template.device  # the Reconstructor's (a GPU's when it runs on one)
    args = [torch.as_tensor(a, dtype=torch.float32, device=device)[None]
            for a in (scene.orient, scene.body_pose, scene.betas)]
    zero = torch.zeros(1, 3, device=device)
    with torch.no_grad():
        shift = synth.detector_body.mediapipe33(*args, zero) - synth.body.mediapipe33(*args, zero)
    return scene.mp33 + shift[0].cpu().numpy()


def placed_px(points: np.ndarray, focal: float, image_wh: tuple[int, int]) -> np.ndarray:
    """(33, 2) image pixels of camera-frame keypoints `points` (33, 3), e.g. detector_placed's: the true 2D
    that the oracles give the fit."""
    return project(torch.as_tensor(points, dtype=torch.float32)[None], torch.tensor([float(focal)]),
                   torch.tensor([[float(image_wh[0]), float(image_wh[1])]]))[0].numpy()


def simulated_person(synth: Synthesizer, scene, gen: torch.Generator, depth_scale: float,
                     points: np.ndarray | None = None) -> DetectedPerson:
    """What the (simulated) detector reports for this scene's body (its keypoints `points`, default the
    body's own), as a DetectedPerson."""
    pts = torch.as_tensor(scene.mp33 if points is None else points, dtype=torch.float32)[None]
    orient = torch.as_tensor(scene.orient, dtype=torch.float32)[None]
    extent = torch.tensor([float(np.ptp(scene.mp33[:, 1]))])
    wh = torch.tensor([[float(scene.image.shape[1]), float(scene.image.shape[0])]])
    sim = synth.simulate(pts, orient, extent, torch.tensor([scene.focal]), wh, gen)
    px = sim.detected[0].numpy()
    vis = sim.visibility[0].numpy()
    lo, hi = px.min(0), px.max(0)
    return DetectedPerson(landmarks_px=px.astype(np.float32),
                          # the condition encoder divides MediaPipe's z by its measured scale; undo that here
                          landmarks_z=(sim.rel_depth[0].numpy() * depth_scale).astype(np.float32),
                          visibility=vis.astype(np.float32), presence=sim.presence[0].numpy().astype(np.float32),
                          world_landmarks=sim.world[0].numpy().astype(np.float32),
                          bbox=(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])), score=1.0)


def _errors(pred: np.ndarray, scene, pred2d: np.ndarray | None = None) -> dict:
    from genhmr_app.bench.run import procrustes_error

    true = scene.joints_coco
    mid_p, mid_t = pred[[11, 12]].mean(0), true[[11, 12]].mean(0)
    diff = (pred[LIMBS] - mid_p) - (true[LIMBS] - mid_t)  # camera frame, mid-hip aligned
    out = {"mpjpe": float(np.linalg.norm(diff, axis=-1).mean()) * 1000,
           "in_plane": float(np.linalg.norm(diff[:, :2], axis=-1).mean()) * 1000,
           "depth": float(np.abs(diff[:, 2]).mean()) * 1000,
           "pa_mpjpe": procrustes_error(pred[LIMBS], true[LIMBS]) * 1000}
    if pred2d is not None:
        out["err2d_px"] = float(np.linalg.norm(pred2d[LIMBS] - scene.kp2d[LIMBS], axis=-1).mean())
    return out


@torch.no_grad()
def _coco(recon: Reconstructor, orient: torch.Tensor, pose: torch.Tensor, betas: torch.Tensor) -> np.ndarray:
    out = recon.body.forward(orient, pose, betas)
    return out.keypoints_coco17[0].cpu().numpy()


PAIRED = ("perfect detector output", "simulated detector output", "real detector output")


def error_budget(recon: Reconstructor, scenes: list, detections: list, settings: ReconstructionSettings,
                 seed: int = 0, regressor: Reconstructor | None = None) -> dict[str, dict]:
    """Mean errors per budget row over the scenes where the real detector found the person. With a
    `regressor` (a Reconstructor in regress mode), also both models at P=0 from the same three inputs."""
    rows: dict[str, list[dict]] = {k: [] for k in (
        "tokenizer round trip of the true pose (floor)", "perfect detector output", "simulated detector output",
        "real detector output, no refinement (P=0)", "real detector output, one constant joint prior",
        "real detector output", "  … with the true global orientation", "  … and the true shape",
        "real detector output, the fit on MediaPipe's landmarks as they are",
        "real detector output, the fit on the learned correction of them",
        "real detector output, the fit given the true 2D keypoints")}
    for group in TRUE_2D_GROUPS:
        rows[f"  … given the true 2D of {group} only"] = []
    names = list(rows)
    if regressor is not None:
        for source in PAIRED:
            rows[f"P=0 from {source}: generator"] = []
            rows[f"P=0 from {source}: regressor"] = []
    gen = torch.Generator().manual_seed(seed)
    # With a landmark placement the simulated detector puts its points where the real one does.
    own, placed_body = (SparseBody(recon.body), recon.sparse) if recon.placement is not None else (recon.sparse, None)
    perfect = Synthesizer(own, _perfect_noise(recon.noise), detector_body=placed_body)
    noisy = Synthesizer(own, recon.noise, detector_body=placed_body)
    z_scale = recon.noise.landmark_z_scale
    no_refine = replace(settings, refine_steps=0)
    constant_prior = replace(settings, uncertainty_prior=False)
    # The correction is trained on the real detector's mistakes; simulated detections have other ones.
    uncorrected, corrected = replace(settings, landmark_correction=False), replace(settings, landmark_correction=True)
    for scene, detection in zip(scenes, detections):
        if detection is None:
            continue
        orient = torch.as_tensor(scene.orient, dtype=torch.float32)[None]
        true_pose = torch.as_tensor(scene.body_pose, dtype=torch.float32)[None]
        betas = torch.as_tensor(scene.betas, dtype=torch.float32)[None]
        with torch.no_grad():
            round_trip = recon.tokenizer.decode(recon.tokenizer.encode(true_pose.to(recon.device))).cpu()
        rows[names[0]].append(_errors(_coco(recon, orient, round_trip, betas), scene))
        w, h = scene.image.shape[1], scene.image.shape[0]
        timing: dict[str, float] = {"detect": 0.0, "sample": 0.0, "refine": 0.0}
        inputs = {}
        placed = detector_placed(noisy, scene)
        for name, synth, source in ((names[1], perfect, PAIRED[0]), (names[2], noisy, PAIRED[1])):
            person = inputs[source] = simulated_person(synth, scene, gen, z_scale, placed)
            p = recon.reconstruct_person(person, w, h, scene.focal, uncorrected, timing)
            rows[name].append(_errors(p.keypoints3d_coco17, scene, p.keypoints2d_coco17))
        if regressor is not None:
            for label, model in (("generator", recon), ("regressor", regressor)):
                # Simulated inputs come with the true focal length; the real detector's go as the app runs them.
                found = [model.reconstruct_person(person, w, h, scene.focal, no_refine, timing)
                         for person in inputs.values()] + model.reconstruct_detection(detection, no_refine).people[:1]
                for source, p in zip(PAIRED, found):
                    rows[f"P=0 from {source}: {label}"].append(_errors(p.keypoints3d_coco17, scene, p.keypoints2d_coco17))
        for name, s in ((names[3], no_refine), (names[4], constant_prior), (names[5], settings)):
            r = recon.reconstruct_detection(detection, s)
            if r.people:
                p = r.people[0]
                rows[name].append(_errors(p.keypoints3d_coco17, scene, p.keypoints2d_coco17))
        if r.people:
            best = r.people[0].best
            pose = roma.rotvec_to_rotmat(torch.as_tensor(best.body_pose, dtype=torch.float32).reshape(1, 23, 3))
            pred_betas = torch.as_tensor(best.betas, dtype=torch.float32)[None]
            rows[names[6]].append(_errors(_coco(recon, orient, pose, pred_betas), scene))
            rows[names[7]].append(_errors(_coco(recon, orient, pose, betas), scene))
        for name, s in ((names[8], uncorrected), (names[9], corrected)):
            r = recon.reconstruct_detection(detection, s)
            if r.people:
                rows[name].append(_errors(r.people[0].keypoints3d_coco17, scene, r.people[0].keypoints2d_coco17))
        truth_px = placed_px(placed, scene.focal, (w, h))
        with fit_onto(recon, truth_px):
            r = recon.reconstruct_detection(detection, settings)
        if r.people:
            rows[names[10]].append(_errors(r.people[0].keypoints3d_coco17, scene, r.people[0].keypoints2d_coco17))
        for group, landmarks in TRUE_2D_GROUPS.items():
            with fit_onto(recon, truth_px, only=landmarks):
                r = recon.reconstruct_detection(detection, settings)
            if r.people:
                rows[f"  … given the true 2D of {group} only"].append(
                    _errors(r.people[0].keypoints3d_coco17, scene, r.people[0].keypoints2d_coco17))
    return {k: {m: float(np.mean([r[m] for r in v])) for m in v[0]} | {"n": len(v)} for k, v in rows.items() if v}


@contextmanager
def fit_onto(recon: Reconstructor, points_px: np.ndarray, only: tuple[int, ...] | None = None):
    """The Reconstructor's fits pull the body onto `points_px` (33, 2) instead of the detector's (corrected)
    landmarks, with MediaPipe's visibility as the weights; everything else (the generator's input, the
    camera) stays the detector's. With `only`, just those landmarks are replaced, and the rest keep the
    targets and weights the app would use. An oracle for the error budget, restored on leaving."""
    own = recon.fit_targets

    def targets(person: DetectedPerson, corrected: bool = True) -> FitTargets:
        if only is None:
            return FitTargets(points_px, person.visibility)
        points, weights, familiarity = own(person, corrected)
        points = np.array(points, dtype=np.float32)
        points[list(only)] = points_px[list(only)]
        return FitTargets(points, weights, familiarity)

    recon.fit_targets = targets
    try:
        yield
    finally:
        del recon.fit_targets  # back to the class's method


def budget_lines(budget: dict[str, dict]) -> list[str]:
    lines = ["| input to the pipeline | MPJPE | in-plane | depth | PA-MPJPE | 2D px | n |", "|---|---|---|---|---|---|---|"]
    for name, m in budget.items():
        e2d = f"{m['err2d_px']:.1f}" if "err2d_px" in m else "–"
        lines.append(f"| {name} | {m['mpjpe']:.1f} | {m['in_plane']:.1f} | {m['depth']:.1f} | {m['pa_mpjpe']:.1f} "
                     f"| {e2d} | {m['n']} |")
    return lines
