"""Diagnostic: which of MediaPipe's landmarks cost the most 3D, on the validation scenes.

The twenty-fourth session's question (issue 9, target (a)). The shipped pipeline is re-run with the true
2D (the true body's keypoints placed where the detector puts them) for some of MediaPipe's 33 landmarks
and MediaPipe's own for the rest (`bench/error_budget.fit_onto(only=...)`, which the bench's error budget
uses for its coarser groups). Splits: one group of landmarks at a time; the landmarks MediaPipe calls
visible (visibility >= 0.5) or not; the landmarks in front of the torso or behind it (true depth).
MPJPE paired against the shipped run on seed 10's cached validation scenes (`main.py validate`'s).

    .venv/bin/python scripts/analysis/landmark_oracles.py
"""

from __future__ import annotations

import numpy as np
import torch

from genhmr_app.bench.error_budget import detector_placed, fit_onto, placed_px
from genhmr_app.bench.run import IMAGE_WH, paired_margin, person_metrics
from genhmr_app.bench.validate import validation_scenes
from genhmr_app.body.sparse import SparseBody
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
from genhmr_app.training.synthesis import Synthesizer

TORSO = [11, 12, 23, 24]
GROUPS = {"face": range(11), "shoulders": (11, 12), "elbows": (13, 14), "wrists and hand points": range(15, 23),
          "hips": (23, 24), "knees": (25, 26), "ankles and feet": range(27, 33), "arms": range(13, 23),
          "legs": range(25, 33), "all": range(33)}


def main() -> None:
    torch.set_num_threads(1)
    recon = Reconstructor(device="cpu")
    pairs = validation_scenes(recon, 10, 600)
    settings = ReconstructionSettings()
    synth = Synthesizer(SparseBody(recon.body), recon.noise, detector_body=recon.sparse)
    truth = [placed_px(detector_placed(synth, s), s.focal, IMAGE_WH) for s, _ in pairs]

    def in_front(person, scene) -> np.ndarray:
        depth = scene.mp33[:, 2]
        return depth - depth[TORSO].mean() <= 0.05

    splits = {"none": lambda p, s: np.zeros(33, bool)}
    splits |= {name: (lambda p, s, idx=tuple(idx): np.isin(np.arange(33), idx)) for name, idx in GROUPS.items()}
    splits |= {"MediaPipe calls visible (>= 0.5)": lambda p, s: p.visibility >= 0.5,
               "MediaPipe calls hidden (< 0.5)": lambda p, s: p.visibility < 0.5,
               "in front of the torso (true depth)": in_front,
               "behind the torso (true depth)": lambda p, s: ~in_front(p, s)}
    print("| true 2D for | share of landmarks | MPJPE | vs MediaPipe's 2D everywhere (95%) |\n|---|---|---|---|")
    base: dict[int, float] = {}
    for name, chosen in splits.items():
        rows, shares = {}, []
        for i, ((scene, detection), points) in enumerate(zip(pairs, truth)):
            mask = chosen(detection.people[0], scene)
            shares.append(mask.mean())
            with fit_onto(recon, points, only=tuple(np.flatnonzero(mask))):
                metrics = person_metrics(recon.reconstruct_detection(detection, settings), scene)
            if metrics is not None:
                rows[i] = metrics["mpjpe"]
        if name == "none":
            base = rows
        margin = paired_margin(rows, base)
        cell = "–" if name == "none" else f"{margin[0]:+.2f} ({margin[1]:+.2f} to {margin[2]:+.2f})"
        print(f"| {name} | {np.mean(shares):.2f} | {np.mean(list(rows.values())):.2f} | {cell} |", flush=True)


if __name__ == "__main__":
    main()
