"""Diagnostic: what a second MediaPipe run on the mirrored image gives the joint fit.

The twenty-fourth session's question (issue 9, target (a)): test-time mirroring of the detector, the
standard pose-estimation trick, measured on the current pipeline. Every validation scene (seed 10's
poses, rendered afresh; the same people as `main.py validate`'s cache, matched by camera and keypoints)
is also detected mirrored; the mirrored landmarks are mirrored back (x → width − x, left and right
swapped) and averaged with the first run's 2D landmarks. Variants, MPJPE paired against the shipped run:
- "mirror, fit only": the averaged landmarks are what the joint fit pulls onto; the generator keeps
  MediaPipe's first run as its input (it was trained on single runs);
- "mirror, both": the generator sees the averaged 2D too.
A mirrored run that found another person (median landmark distance over 10% of the body's height) is
left out of every variant.

    .venv/bin/python scripts/analysis/mirror_detection.py --scenes 600
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from genhmr_app.bench.run import paired_margin, person_metrics
from genhmr_app.bench.validate import rendered_validation_scenes
from genhmr_app.detection.landmarks import MP33_FLIP_INDEX
from genhmr_app.pipeline.reconstructor import FitTargets, ReconstructionSettings, Reconstructor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=600)
    ap.add_argument("--seed", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    recon = Reconstructor(device="cpu")
    detector = recon.detector("image")
    settings = ReconstructionSettings()
    results: dict[str, dict[int, dict]] = {"shipped": {}, "mirror, fit only": {}, "mirror, both": {}}
    for i, rendered, scene, detection in rendered_validation_scenes(recon, args.seed, args.scenes):
        first = detection.people[0]
        mirrored = detector.detect(np.ascontiguousarray(rendered.image[:, ::-1]))
        if not mirrored.people:
            continue
        back = mirrored.people[0].landmarks_px[list(MP33_FLIP_INDEX)].copy()
        back[:, 0] = rendered.image.shape[1] - back[:, 0]
        if np.median(np.linalg.norm(back - first.landmarks_px, axis=-1)) > 0.1 * np.ptp(first.landmarks_px[:, 1]):
            continue
        averaged = (0.5 * (back + first.landmarks_px)).astype(np.float32)
        shipped = person_metrics(recon.reconstruct_detection(detection, settings), scene)
        if shipped is None:
            continue
        results["shipped"][i] = shipped
        recon.fit_targets = lambda person, corrected=True: FitTargets(averaged, person.visibility)
        try:
            fit_only = person_metrics(recon.reconstruct_detection(detection, settings), scene)
        finally:
            del recon.fit_targets
        both = person_metrics(recon.reconstruct_detection(
            replace(detection, people=[replace(first, landmarks_px=averaged), *detection.people[1:]]), settings), scene)
        for name, m in (("mirror, fit only", fit_only), ("mirror, both", both)):
            if m is not None:
                results[name][i] = m
    base = {k: r["mpjpe"] for k, r in results["shipped"].items()}
    print("| variant | n | MPJPE | 2D px | MPJPE vs shipped (95%) |\n|---|---|---|---|---|")
    for name, rows in results.items():
        margin = paired_margin({k: r["mpjpe"] for k, r in rows.items()}, base)
        cell = "–" if name == "shipped" or margin is None else f"{margin[0]:+.2f} ({margin[1]:+.2f} to {margin[2]:+.2f})"
        print(f"| {name} | {len(rows)} | {np.mean([r['mpjpe'] for r in rows.values()]):.2f} "
              f"| {np.mean([r['err2d_px'] for r in rows.values()]):.2f} | {cell} |")


if __name__ == "__main__":
    main()
