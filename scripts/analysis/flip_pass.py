"""Diagnostic: the tracking pass also run on the mirrored crop (flip test), combined with the plain pass.

The twenty-seventh session's question (issue 9, target (a)): pose networks are usually tested on the
image and its mirror image with their heatmaps averaged. Here the landmark network (detection/
landmark_pass.py) sees the tracker's region and the same region mirrored; the mirrored outputs are
mirrored back (x → side − x, left and right landmarks swapped) and combined with the plain pass:
- "flip, mean": the regressed coordinates averaged, the two heatmaps' probabilities averaged, then
  MediaPipe's heatmap refinement on that mean (the peak is the fit's certainty);
- "flip, peak-weighted": each pass refined on its own heatmap, the two spots weighted by their peaks,
  the certainty the mean of the two peaks.
Either then goes through MediaPipe's landmark filter with the first look, as the shipped single pass
does. Rendered validation scenes (seed 10, rendered afresh and matched to `main.py validate`'s cache),
MPJPE paired against the shipped run, 2D of the landmarks MediaPipe calls visible against the true
keypoints placed as the detector places them.

    .venv/bin/python scripts/analysis/flip_pass.py [--scenes 300]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from genhmr_app.bench.error_budget import detector_placed, placed_px
from genhmr_app.bench.run import IMAGE_WH, paired_margin, person_metrics
from genhmr_app.bench.validate import rendered_validation_scenes
from genhmr_app.body.sparse import SparseBody
from genhmr_app.detection.landmark_pass import (INPUT_SIDE, LandmarkPass, _sigmoid, refine_from_heatmap,
                                                region_from_landmarks33)
from genhmr_app.detection.landmarks import MP33_FLIP_INDEX
from genhmr_app.detection.tracking_looks import FRAME_S, LANDMARK_FILTER, LandmarkFilter, object_scale
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
from genhmr_app.training.synthesis import Synthesizer

FLIP39 = list(MP33_FLIP_INDEX) + list(range(33, 39))


def raw_outputs(net: LandmarkPass, rgb: np.ndarray, region, flip: bool):
    """(39, 5) raw landmarks in crop pixels, (64, 64, 39) heatmap probabilities, pose score; mirrored back."""
    raw, heatmap, score = net.forward(rgb, region, mirrored=flip)
    raw = raw.astype(np.float64)
    prob = _sigmoid(heatmap.astype(np.float64))
    if flip:
        raw = raw[FLIP39]
        raw[:, 0] = INPUT_SIDE - raw[:, 0]
        prob = prob[:, ::-1, :][:, :, FLIP39]
    return raw, prob, score


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def to_image(xy_norm: np.ndarray, region) -> np.ndarray:
    affine = region.crop_to_image()
    return ((xy_norm * INPUT_SIDE) @ affine[:, :2].T + affine[:, 2])[:33]


def combined_looks(net: LandmarkPass, rgb: np.ndarray, first_px: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    region = region_from_landmarks33(first_px.astype(np.float64))
    plain, plain_prob, s0 = raw_outputs(net, rgb, region, False)
    mirrored, mirrored_prob, s1 = raw_outputs(net, rgb, region, True)
    if min(s0, s1) < 0.5:
        return {}
    out = {}
    xy_p, peak_p = refine_from_heatmap(plain[:, :2] / INPUT_SIDE, logit(plain_prob))
    xy_m, peak_m = refine_from_heatmap(mirrored[:, :2] / INPUT_SIDE, logit(mirrored_prob))
    out["plain pass (as shipped)"] = (to_image(xy_p, region), peak_p[:33])
    out["mirrored pass alone"] = (to_image(xy_m, region), peak_m[:33])
    mean_xy, mean_peak = refine_from_heatmap(0.5 * (plain[:, :2] + mirrored[:, :2]) / INPUT_SIDE,
                                             logit(0.5 * (plain_prob + mirrored_prob)))
    out["flip, mean"] = (to_image(mean_xy, region), mean_peak[:33])
    w = np.stack([peak_p, peak_m])[..., None] + 1e-6
    out["flip, peak-weighted"] = (to_image((w[0] * xy_p + w[1] * xy_m) / w.sum(0), region),
                                  (0.5 * (peak_p + peak_m))[:33])
    return out


def filtered(first_px: np.ndarray, pass_px: np.ndarray) -> np.ndarray:
    """MediaPipe's landmark filter over the first look and one pass, as StillTracker.look does."""
    points = LandmarkFilter(*LANDMARK_FILTER)
    points(0.0, first_px.astype(np.float64), object_scale(first_px))
    return points(FRAME_S, pass_px, object_scale(pass_px)).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=300)
    args = ap.parse_args()
    torch.set_num_threads(1)
    recon = Reconstructor(device="cpu")
    net = LandmarkPass()
    synth = Synthesizer(SparseBody(recon.body), recon.noise, detector_body=recon.sparse)
    settings = ReconstructionSettings()
    mpjpe: dict[str, dict[int, float]] = {"shipped (cache)": {}}
    err2d: dict[str, list[float]] = {}
    ms: list[float] = []
    for i, scene_r, scene, detection in rendered_validation_scenes(recon, 10, args.scenes):
        first = detection.people[0]
        if first.tracked_px is None:
            continue
        t0 = time.perf_counter()
        looks = combined_looks(net, scene_r.image, first.landmarks_px)
        ms.append((time.perf_counter() - t0) * 1000)
        if not looks:
            continue
        base = person_metrics(recon.reconstruct_detection(detection, settings), scene)
        if base is None:
            continue
        mpjpe["shipped (cache)"][i] = base["mpjpe"]
        truth = placed_px(detector_placed(synth, scene), scene.focal, IMAGE_WH)
        seen = first.visibility >= 0.5
        err2d.setdefault("shipped (cache)", []).append(float(np.linalg.norm(first.tracked_px - truth, axis=-1)[seen].mean()))
        for name, (px, peak) in looks.items():
            smoothed = filtered(first.landmarks_px, px)
            err2d.setdefault(name, []).append(float(np.linalg.norm(smoothed - truth, axis=-1)[seen].mean()))
            moved = replace(detection, people=[replace(first, tracked_px=smoothed, tracked_confidence=peak.astype(np.float32)),
                                               *detection.people[1:]])
            m = person_metrics(recon.reconstruct_detection(moved, settings), scene)
            if m is not None:
                mpjpe.setdefault(name, {})[i] = m["mpjpe"]
    ref = mpjpe["shipped (cache)"]
    print("| variant | n | MPJPE | vs shipped (95%) | 2D of visible landmarks, px |\n|---|---|---|---|---|")
    for name, rows in mpjpe.items():
        margin = paired_margin(rows, ref)
        cell = "–" if rows is ref or margin is None else f"{margin[0]:+.2f} ({margin[1]:+.2f} to {margin[2]:+.2f})"
        print(f"| {name} | {len(rows)} | {np.mean(list(rows.values())):.2f} | {cell} | {np.mean(err2d[name]):.3f} |")
    print(f"median ms for both passes: {np.median(ms):.1f}")


if __name__ == "__main__":
    main()
