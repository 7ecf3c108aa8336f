"""Measure how MediaPipe's landmark errors go together (detection/landmark_noise.py) from the detector data.

The detector data (generate-detector-data) pairs what MediaPipe reported on a render with the pose,
shape and camera it was rendered from. Each landmark's error is the detector's point minus the body's
keypoint placed where the detector puts it (detection/placement.py: the fit's own target), in units
of the body's box height. The correlation of the 66 coordinates' errors is taken over the landmarks
the detector saw (visibility ≥ 0.5) and did not put on another body part (error < 8% of the height:
the fit's robust kernel handles those), pair by pair, then made positive definite.

A share of the samples is held out: the report gives the Gaussian log-likelihood of their errors
(each sample over the landmarks it saw) with every landmark independent and with the correlation at
several strengths, so that what the sample measured is seen to hold on samples it did not see.

    python main.py calibrate-landmark-noise [--data FOLDER ...] [--out weights/detector/landmark_noise.json]
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from genhmr_app.body.model import load_body_model
from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project
from genhmr_app.detection.landmark_noise import NOISE_PATH, NUM_COORDINATES, LandmarkNoise
from genhmr_app.detection.landmarks import MP33_INDEX
from genhmr_app.detection.placement import LandmarkPlacement
from genhmr_app.training.calibration_cli import calibration_parser, start_calibration, to_tensors

log = logging.getLogger(__name__)

TRUST = 0.08  # errors beyond 8% of the height are another body part, left to the fit's robust kernel
MIN_PAIRS = 50  # fewer shared samples than this: the pair counts as uncorrelated
EIGEN_FLOOR = 0.01  # the smallest eigenvalue kept: the face's points move nearly as one
BLOCK = 1000  # samples per hold-out block
STRENGTHS = (0.25, 0.5, 0.75, 1.0)


def placed_residuals(data: dict[str, torch.Tensor], placement: LandmarkPlacement | None, batch: int = 4096
                     ) -> tuple[np.ndarray, np.ndarray]:
    """→ errors (N, 33, 2) of the detector's landmarks against the placed keypoints, as a share of the
    box height of those keypoints, and that height (N,) px."""
    body = load_body_model()
    sparse = placement.keypoint_body(body) if placement is not None else SparseBody(body)
    errors, heights = [], []
    with torch.no_grad():
        for s in range(0, len(data["focal"]), batch):
            d = {k: v[s:s + batch] for k, v in data.items()}
            points = sparse.mediapipe33(d["global_orient"], d["body_pose"], d["betas"], d["transl"])
            px = project(points, d["focal"], d["image_wh"].float())
            h = (px[..., 1].amax(1) - px[..., 1].amin(1)).clamp_min(1.0)
            errors.append(((d["det_px"] - px) / h[:, None, None]).numpy())
            heights.append(h.numpy())
    return np.concatenate(errors), np.concatenate(heights)


def usable_landmarks(errors: np.ndarray, visibility: np.ndarray, min_visibility: float = 0.5) -> np.ndarray:
    """(N, 33) bool: landmarks the detector saw and put on the right body part."""
    return (visibility >= min_visibility) & (np.linalg.norm(errors, axis=-1) < TRUST)


def coordinate_scales(errors: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """(66,) robust standard deviation of each coordinate's error over the usable samples."""
    flat, mask = errors.reshape(len(errors), NUM_COORDINATES), np.repeat(usable, 2, axis=1)
    return np.array([1.4826 * np.median(np.abs(flat[mask[:, i], i] - np.median(flat[mask[:, i], i])))
                     if mask[:, i].any() else 1.0 for i in range(NUM_COORDINATES)])


def error_correlation(errors: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """(66, 66) correlation of the coordinates' errors (errors (N, 33, 2), usable (N, 33)): each pair over
    the samples where both landmarks are usable, then the nearest positive definite matrix with unit
    diagonal (eigenvalues floored at EIGEN_FLOOR)."""
    flat = errors.reshape(len(errors), NUM_COORDINATES).astype(np.float64)
    mask = np.repeat(usable, 2, axis=1).astype(np.float64)
    count = mask.sum(0).clip(min=1)
    centred = (flat - (flat * mask).sum(0) / count) * mask
    pairs = mask.T @ mask
    cov = centred.T @ centred / pairs.clip(min=1)
    var = np.sqrt(np.outer(np.diag(cov), np.diag(cov))).clip(min=1e-12)
    corr = np.where(pairs >= MIN_PAIRS, cov / var, 0.0)
    np.fill_diagonal(corr, 1.0)
    values, vectors = np.linalg.eigh((corr + corr.T) / 2)
    corr = vectors @ np.diag(values.clip(min=EIGEN_FLOOR)) @ vectors.T
    scale = np.sqrt(np.diag(corr))
    return corr / np.outer(scale, scale)


def mean_log_likelihood(errors: np.ndarray, usable: np.ndarray, scales: np.ndarray, correlation: np.ndarray) -> float:
    """Mean over samples of the Gaussian log-likelihood of each sample's usable coordinates (N, 33, 2),
    covariance diag(scales) · correlation · diag(scales), per coordinate seen."""
    cov = correlation * np.outer(scales, scales)
    total, seen = 0.0, 0
    flat = errors.reshape(len(errors), NUM_COORDINATES)
    for e, m in zip(flat, np.repeat(usable, 2, axis=1)):
        if m.sum() < 2:
            continue
        sub = cov[np.ix_(m, m)]
        chol = np.linalg.cholesky(sub)
        z = np.linalg.solve(chol, e[m])
        total += -0.5 * (z @ z) - np.log(np.diag(chol)).sum() - 0.5 * m.sum() * np.log(2 * np.pi)
        seen += int(m.sum())
    return total / max(seen, 1)


def main(argv: list[str] | None = None) -> int:
    parser = calibration_parser("calibrate-landmark-noise", __doc__, NOISE_PATH)
    run = start_calibration(parser, argv)
    args, command, t0, folders, data = run.args, run.command, run.started, run.folders, run.data
    errors, _ = placed_residuals(to_tensors(data), LandmarkPlacement.load())
    usable = usable_landmarks(errors, data["visibility"], args.min_visibility)
    held_out = (np.arange(len(errors)) // BLOCK) % args.holdout_every == 0
    if held_out.all() or not held_out.any():
        parser.error(f"{len(errors)} samples are too few to hold out every {args.holdout_every}th block of {BLOCK}")
    correlation = error_correlation(errors[~held_out], usable[~held_out])
    scales = coordinate_scales(errors[~held_out], usable[~held_out])
    eye = np.eye(NUM_COORDINATES)
    independent = mean_log_likelihood(errors[held_out], usable[held_out], scales, eye)
    gains = {f"{s:g}": round(mean_log_likelihood(errors[held_out], usable[held_out], scales,
                                                 (1 - s) * eye + s * correlation) - independent, 4) for s in STRENGTHS}
    index = {name: 2 * k for name, k in MP33_INDEX.items()}
    named = {"nose-left_eye y": (index["nose"] + 1, index["left_eye"] + 1),
             "shoulders x": (index["left_shoulder"], index["right_shoulder"]),
             "hips y": (index["left_hip"] + 1, index["right_hip"] + 1),
             "left shoulder-hip x": (index["left_shoulder"], index["left_hip"]),
             "left wrist-index x": (index["left_wrist"], index["left_index"]),
             "left elbow-wrist x": (index["left_elbow"], index["left_wrist"])}
    metrics = {"samples_fitted": int((~held_out).sum()), "samples_held_out": int(held_out.sum()),
               "held_out_log_likelihood_gain_per_coordinate": gains,
               "correlations": {name: round(float(correlation[i, j]), 3) for name, (i, j) in named.items()},
               "seconds": round(time.perf_counter() - t0, 1)}
    source = f"{command}; detector data {', '.join(f.name for f in folders)} (training-split poses)"
    LandmarkNoise(correlation, source, metrics).save(args.out)
    print(f"fitted on {metrics['samples_fitted']} detections, held out {metrics['samples_held_out']}")
    print("held-out log-likelihood per coordinate seen, against independent errors, by strength: "
          + ", ".join(f"{s}: {g:+.4f}" for s, g in gains.items()))
    print("correlations: " + ", ".join(f"{n} {v:+.2f}" for n, v in metrics["correlations"].items()))
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
