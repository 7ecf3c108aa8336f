"""Diagnostic: does the person's silhouette (MediaPipe's segmentation mask) add to the joint fit?

The twenty-third session's question (issue 9, target (a)). MediaPipe's pose landmarker can also return a
mask of the person at almost no cost, and the mask is information the joint fit does not use. This
script runs the shipped pipeline, then continues from its result with a second fit (L-BFGS through the
full mesh, autograd) whose objective is the joint fit's own (Geman-McClure on MediaPipe's landmarks
placed as the detector places them, the hand points at their share, a prior holding each joint near the
shipped result) plus two silhouette terms, both robust (Geman-McClure at 5% of the person's box):
- "out": the body's vertices should project inside the mask (distance transform of its outside);
- "in": the mask's outline should lie on the body's projected outline (each outline point's distance to
  the nearest projected vertex; outline points on the image border are the frame, not the person).
A control with both weights 0 shows what the second optimiser alone changes.

Printed per variant: rendered validation scenes (seed 10's poses, rendered afresh, so the scenes are
not `main.py validate`'s cached ones; masks from MediaPipe, or the renderer's true mask as an oracle),
MPJPE paired against the shipped result; and with `--real` the real images (`main.py validate --real`'s
guard: MPI-INF-3DHP PA-MPJPE and the annotated photos' placed 2D error).

    .venv/bin/python scripts/analysis/silhouette_fit.py --scenes 120 --real
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import roma
import torch
from tqdm import tqdm

import genhmr_app.bench.run as bench_run
from genhmr_app.conditioning.camera import project
from genhmr_app.detection.detector import PoseDetector
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
from genhmr_app.refinement.joint_fit import HAND_LANDMARKS, JointFitSettings

SIGMA = JointFitSettings.robust_sigma
MESH_POINTS = 1500  # every k-th vertex, about this many
OUTLINE_POINTS = 300


def outside_distance(mask: np.ndarray) -> np.ndarray:
    """(H, W) px from each pixel to the mask (0 inside)."""
    inside = (mask > 0.5).astype(np.uint8)
    return cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5).astype(np.float32)


def outline_points(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """(M, 2) px: points along the mask's outer outline, without those on the image border."""
    inside = (mask > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(inside, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros((0, 2), np.float32)
    pts = np.concatenate([c[:, 0] for c in contours]).astype(np.float32)
    pts = pts[np.linspace(0, len(pts) - 1, min(OUTLINE_POINTS, len(pts))).astype(int)]
    keep = (pts[:, 0] > 1) & (pts[:, 1] > 1) & (pts[:, 0] < width - 2) & (pts[:, 1] < height - 2)
    return pts[keep]


def silhouette_fit(recon: Reconstructor, person, hyp, width: int, height: int, focal_px: float, mask: np.ndarray,
                   w_out: float, w_in: float, iterations: int = 25):
    """The shipped result `hyp` refitted with the silhouette terms; (orient (1,3,3), pose (1,23,3,3),
    betas (1,10), transl (1,3))."""
    f32 = torch.float32
    focal, wh = torch.tensor([focal_px], dtype=f32), torch.tensor([[width, height]], dtype=f32)
    box = float(recon.encoder.encode(person, width, height, focal_px).crop[0, 2])
    rot0 = torch.cat([roma.rotvec_to_rotmat(torch.tensor(hyp.global_orient, dtype=f32))[None, None],
                      roma.rotvec_to_rotmat(torch.tensor(hyp.body_pose, dtype=f32).reshape(23, 3))[None]], 1)
    betas, transl0 = torch.tensor(hyp.betas, dtype=f32)[None], torch.tensor(hyp.transl, dtype=f32)[None]
    target = torch.tensor(person.landmarks_px, dtype=f32)[None]
    weight = torch.tensor(person.visibility, dtype=f32)[None].clone()
    weight[:, list(HAND_LANDMARKS)] *= JointFitSettings.hand_weight
    prior = torch.full((24, 1), JointFitSettings.pose_prior)
    prior[0] = JointFitSettings.orient_prior
    distance = torch.tensor(outside_distance(mask))[None, None]
    outline = torch.tensor(outline_points(mask, width, height))
    every = torch.arange(0, recon.body.smpl.v_template.shape[0], max(1, recon.body.smpl.v_template.shape[0] // MESH_POINTS))
    offsets = torch.zeros(24, 3, requires_grad=True)
    shift = torch.zeros(1, 3, requires_grad=True)
    optimiser = torch.optim.LBFGS([offsets, shift], lr=1, max_iter=iterations, line_search_fn="strong_wolfe")
    s2 = SIGMA ** 2

    def robust(r: torch.Tensor) -> torch.Tensor:  # Geman-McClure, scaled as the joint fit's
        return s2 * r.pow(2) / (r.pow(2) + s2)

    def objective() -> torch.Tensor:
        optimiser.zero_grad()
        rot = rot0 @ roma.rotvec_to_rotmat(offsets)[None]
        transl = transl0 + shift
        points = recon.detector_like_keypoints(recon.sparse.mediapipe33(rot[:, 0], rot[:, 1:], betas, transl), rot[:, 0])
        residual = ((project(points, focal, wh) - target) / box).norm(dim=-1)
        loss = (weight * robust(residual)).sum() / weight.sum() + (prior * offsets.pow(2)).sum()
        if w_out or w_in:
            uv = project(recon.body.forward(rot[:, 0], rot[:, 1:], betas, transl).vertices[:, every], focal, wh)[0]
            if w_out:
                grid = torch.stack([uv[:, 0] / (width - 1), uv[:, 1] / (height - 1)], -1)[None, None] * 2 - 1
                outside = torch.nn.functional.grid_sample(distance, grid, align_corners=True)[0, 0, 0] / box
                loss = loss + w_out * robust(outside).mean()
            if w_in and len(outline):
                loss = loss + w_in * robust(torch.cdist(outline, uv).min(1).values / box).mean()
        loss.backward()
        return loss

    optimiser.step(objective)
    with torch.no_grad():
        rot = rot0 @ roma.rotvec_to_rotmat(offsets)[None]
    return rot[:, 0], rot[:, 1:], betas, (transl0 + shift).detach()


def limb_mpjpe(recon: Reconstructor, params, scene) -> float:
    with torch.no_grad():
        pred = recon.body.forward(*params).keypoints_coco17[0].numpy()
    limbs, true = bench_run.LIMBS, scene.joints_coco
    return float(np.linalg.norm((pred[limbs] - pred[[11, 12]].mean(0)) - (true[limbs] - true[[11, 12]].mean(0)),
                                axis=-1).mean()) * 1000


def rendered(recon: Reconstructor, scenes: int, variants: list[tuple[str, float, float, str]]) -> None:
    from genhmr_app.tokens.data import load_pose_splits

    true_masks = []
    shared = bench_run.shared_renderer

    class KeepMask:  # the renderer's own mask, for the oracle variants
        def __init__(self, renderer):
            self.renderer = renderer

        def render(self, *args, **kwargs):
            out = self.renderer.render(*args, **kwargs)
            true_masks.append(out.mask)
            return out

    bench_run.shared_renderer = lambda faces, wh: KeepMask(shared(faces, wh))
    val = load_pose_splits()["val"]
    built = bench_run.build_scenes(recon.body, {"test": val, "heldout": val}, scenes, 10)
    bench_run.shared_renderer = shared
    detector = PoseDetector(mode="image", output_mask=True)
    cases = []
    for scene, true_mask in tqdm(list(zip(built, true_masks)), desc="detect"):
        detection = detector.detect(scene.image)
        if bench_run.detection_matches(detection, scene) and detection.people[0].mask is not None:
            cases.append((scene, true_mask, detection, recon.reconstruct_detection(detection, ReconstructionSettings())))
    print(f"rendered validation scenes: {len(cases)} of {scenes} found")
    shipped = np.array([bench_run.person_metrics(r, scene)["mpjpe"] for scene, _, _, r in cases])
    print(f"shipped {shipped.mean():.2f} mm")
    for name, w_out, w_in, source in variants:
        t0 = time.perf_counter()
        errors = []
        for scene, true_mask, detection, r in tqdm(cases, desc=name, leave=False):
            person = detection.people[0]
            mask = true_mask.astype(np.float32) if source == "true" else person.mask
            errors.append(limb_mpjpe(recon, silhouette_fit(recon, person, r.people[0].best, r.width, r.height, r.focal_px, mask,
                                                          w_out, w_in), scene))
        d = np.array(errors) - shipped
        half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
        print(f"{name:18s} {np.mean(errors):7.2f} mm, against shipped {d.mean():+.2f} ({d.mean() - half:+.2f} to "
              f"{d.mean() + half:+.2f})  {time.perf_counter() - t0:.0f} s", flush=True)


def real(recon: Reconstructor, variants: list[tuple[str, float, float, str]]) -> None:
    from genhmr_app.bench.validate import evaluate_real, parse_variant

    original = Reconstructor.reconstruct_person
    chosen = {}

    def with_silhouette(self, person, width, height, focal, settings, timing, on_iteration=None):
        out = original(self, person, width, height, focal, settings, timing, on_iteration)
        if not chosen or person.mask is None:
            return out
        orient, pose, betas, transl = silhouette_fit(self, person, out.best, width, height, focal, person.mask,
                                                     chosen["out"], chosen["in"])
        with torch.no_grad():
            body = self.body.forward(orient, pose, betas, transl)
            kp2d = project(body.keypoints_coco17, torch.tensor([focal]), torch.tensor([[float(width), float(height)]]))
        best = out.best
        best.global_orient = roma.rotmat_to_rotvec(orient[0]).numpy()
        best.body_pose = roma.rotmat_to_rotvec(pose[0]).reshape(-1).numpy()
        best.transl = transl[0].numpy()
        out.vertices, out.joints = body.vertices[0].numpy(), body.joints[0].numpy()
        out.keypoints3d_coco17, out.keypoints2d_coco17 = body.keypoints_coco17[0].numpy(), kp2d[0].numpy()
        return out

    Reconstructor.reconstruct_person = with_silhouette
    recon._detectors["image"] = PoseDetector(mode="image", output_mask=True)
    try:
        for name, w_out, w_in, source in [("shipped", 0.0, 0.0, "mediapipe")] + variants:
            if source != "mediapipe":
                continue  # real images have no true mask
            chosen.clear()
            if name != "shipped":
                chosen.update({"out": w_out, "in": w_in})
            r = evaluate_real(recon, parse_variant(f"{name}="))
            print(f"{name:18s} MPI-INF-3DHP {r['mpi_pa_mpjpe']:.1f} mm (MediaPipe {r['mpi_mediapipe']:.1f}), "
                  f"photos {r['photos_placed_pct']:.2f}% of height (MediaPipe {r['photos_mediapipe_pct']:.2f})", flush=True)
    finally:
        Reconstructor.reconstruct_person = original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=120)
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    variants = [("control", 0.0, 0.0, "mediapipe"), ("out 100", 100.0, 0.0, "mediapipe"),
                ("out+in 100", 100.0, 100.0, "mediapipe"), ("in 100", 0.0, 100.0, "mediapipe"),
                ("out+in 300", 300.0, 300.0, "mediapipe"), ("true out+in 100", 100.0, 100.0, "true")]
    recon = Reconstructor(device="cpu")
    rendered(recon, args.scenes, variants)
    if args.real:
        real(recon, variants)


if __name__ == "__main__":
    main()
