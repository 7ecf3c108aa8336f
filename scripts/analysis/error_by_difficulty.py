"""Diagnostic: where target (a)'s margin comes from, by scene difficulty, and how much of it is global.

The twenty-seventh session's question (issue 9): (a) MPJPE ≤ 0.85 × the regressor's (e) is a ratio, so
every scene counts in proportion to its error. On `main.py validate`'s rendered scenes (seed 10 unless
--seed), each run as the app runs it:
- (a) GenHMR at the defaults, (c) the same without refinement (P=0), (e) the regressor without
  refinement, (e+) the regressor with the same refinement (a constant joint prior);
- a table by fifths of (e)'s error: each model's MPJPE, PA-MPJPE, 2D error, and each fifth's share of
  the margin mean(a − 0.85 e);
- how much of (a)'s and (e)'s error is the whole body's turn or size: MPJPE (mid-hip aligned) after the
  best rotation about the mid-hip (Kabsch on the 12 limb joints), after the best rotation and scale,
  after the best turn about the camera's vertical axis alone (and, 28th session, about its x axis
  alone: pitch, and its z axis: roll), and after the rotation that best lines up the torso (shoulders
  and hips) applied to the whole body, with the median angle of the best rotation. These are upper
  bounds (the best rotation also absorbs some of the pose's own error).

    .venv/bin/python scripts/analysis/error_by_difficulty.py [--seed 10] [--images 600]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from genhmr_app.bench.run import LIMBS
from genhmr_app.bench.validate import Reconstructors, applied, parse_variant, validation_scenes, with_tracking_passes
from genhmr_app.pipeline.reconstructor import Reconstructor

VARIANTS = {"a": "a=", "c": "c=refine_steps=0", "e": "e=weights=weights/genhmr/regressor.pt,refine_steps=0",
            "e+": "e+=weights=weights/genhmr/regressor.pt"}
MARGIN_FACTOR = 0.85


def best_rotation(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, float]:
    """(3, 3) rotation R minimising |pred R^T - true| (both centred already) and the scale that goes with it."""
    u, s, vt = np.linalg.svd(pred.T @ true)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(vt.T @ u.T))])
    return vt.T @ d @ u.T, float((s * np.diag(d)).sum() / (pred ** 2).sum())


def turn(angle: float, axis: int) -> np.ndarray:
    """Rotation by `angle` (rad) about the camera's x (0: pitch), y (1: yaw, the vertical) or z (2: roll) axis."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    rot = np.eye(3)
    rot[i, i], rot[i, j], rot[j, i], rot[j, j] = c, -s, s, c
    return rot


TORSO = [5, 6, 11, 12]  # COCO shoulders and hips: the body's own frame, apart from the limbs' pose


def global_parts(pred_coco: np.ndarray, true_coco: np.ndarray) -> dict[str, float]:
    """MPJPE (m) of the 12 limb joints, mid-hip aligned: as is, after the best rotation, + scale, best yaw."""
    pred = pred_coco[LIMBS] - pred_coco[[11, 12]].mean(0)
    true = true_coco[LIMBS] - true_coco[[11, 12]].mean(0)
    err = lambda p: float(np.linalg.norm(p - true, axis=-1).mean())  # noqa: E731
    rot, scale = best_rotation(pred, true)
    centre = lambda k: k[TORSO] - k[[11, 12]].mean(0)  # noqa: E731
    torso_rot, _ = best_rotation(centre(pred_coco), centre(true_coco))
    grid = np.radians(np.arange(-60.0, 60.5, 1.0))
    errors = {axis: np.array([err(pred @ turn(a, axis).T) for a in grid]) for axis in range(3)}
    return {"mpjpe": err(pred), "rotated": err(pred @ rot.T), "rotated_scaled": err(scale * pred @ rot.T),
            "yaw_only": errors[1].min(), "pitch_only": errors[0].min(), "roll_only": errors[2].min(),
            "pitch_deg": float(np.degrees(grid[errors[0].argmin()])),
            "yaw_deg": float(np.degrees(grid[errors[1].argmin()])),
            "torso_rotated": err(pred @ torso_rot.T),
            "angle_deg": float(np.degrees(np.arccos(np.clip((np.trace(rot) - 1) / 2, -1.0, 1.0))))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--images", type=int, default=600)
    args = ap.parse_args()
    torch.set_num_threads(1)
    recons = Reconstructors(Reconstructor(device="cpu"))
    pairs = validation_scenes(recons.shipped, args.seed, args.images)
    rows: dict[str, dict[int, dict]] = {}
    for key, spec in VARIANTS.items():
        variant = parse_variant(spec)
        recon = recons.for_variant(variant)
        rows[key] = {}
        with applied(recon, variant):
            for i, (scene, detection) in enumerate(pairs):
                detection = with_tracking_passes(detection, variant.settings.tracking_passes)
                result = recon.reconstruct_detection(detection, variant.settings)
                if not result.people:
                    continue
                person = result.people[0]
                parts = global_parts(person.keypoints3d_coco17, scene.joints_coco)
                err2d = float(np.linalg.norm(person.keypoints2d_coco17[LIMBS] - scene.kp2d[LIMBS], axis=-1).mean())
                rows[key][i] = parts | {"err2d_px": err2d}
    common = sorted(set.intersection(*(set(r) for r in rows.values())))
    value = lambda key, field: np.array([rows[key][i][field] for i in common])  # noqa: E731
    mm = {key: value(key, "mpjpe") * 1000 for key in VARIANTS}
    margin = mm["a"] - MARGIN_FACTOR * mm["e"]
    print(f"seed {args.seed}: {len(common)} scenes; MPJPE " + ", ".join(f"({k}) {v.mean():.1f}" for k, v in mm.items())
          + f"; (a)/(e) {mm['a'].mean() / mm['e'].mean():.3f}; margin (a) − {MARGIN_FACTOR} × (e) {margin.mean():+.2f} mm")
    print("\n| fifth by (e)'s error | (e) | (e+) | (c) | (a) | (a)/(e) | 2D (a) / (e+) px | share of the margin |")
    print("|---|---|---|---|---|---|---|---|")
    for n, chunk in enumerate(np.array_split(np.argsort(mm["e"]), 5)):
        print(f"| {n + 1} | {mm['e'][chunk].mean():.1f} | {mm['e+'][chunk].mean():.1f} | {mm['c'][chunk].mean():.1f} | "
              f"{mm['a'][chunk].mean():.1f} | {mm['a'][chunk].mean() / mm['e'][chunk].mean():.3f} | "
              f"{value('a', 'err2d_px')[chunk].mean():.1f} / {value('e+', 'err2d_px')[chunk].mean():.1f} | "
              f"{margin[chunk].sum() / len(margin):+.2f} |")
    print("\n| model | MPJPE | best rotation about the mid-hip | + best scale | best turn about the vertical alone "
          "| about the camera's x (pitch) alone | about its z (roll) alone | the torso's best rotation "
          "| rotation, median ° |\n|---|---|---|---|---|---|---|---|---|")
    for key in ("a", "e"):
        cells = [value(key, f).mean() * 1000 for f in ("mpjpe", "rotated", "rotated_scaled", "yaw_only",
                                                       "pitch_only", "roll_only", "torso_rotated")]
        print(f"| ({key}) | " + " | ".join(f"{c:.1f}" for c in cells) + f" | {np.median(value(key, 'angle_deg')):.1f} |")
    # A systematic lean (the same sign in most scenes) would be a bias the models learnt, not noise.
    print("\n| model | best pitch, mean ° | quartiles ° | best yaw, mean ° | quartiles ° |\n|---|---|---|---|---|")
    for key in ("a", "e"):
        pitch, turn_y = value(key, "pitch_deg"), value(key, "yaw_deg")
        print(f"| ({key}) | {pitch.mean():+.1f} | {np.percentile(pitch, 25):+.0f} / {np.median(pitch):+.0f} / "
              f"{np.percentile(pitch, 75):+.0f} | {turn_y.mean():+.1f} | {np.percentile(turn_y, 25):+.0f} / "
              f"{np.median(turn_y):+.0f} / {np.percentile(turn_y, 75):+.0f} |")


if __name__ == "__main__":
    main()
