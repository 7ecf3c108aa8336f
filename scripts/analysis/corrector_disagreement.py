"""A landmark corrector's own domain-check thresholds: its ensemble's disagreement on validation renders.

CorrectionSettings.trusted_disagreement / untrusted_disagreement are the 95th / 99th percentiles of the
shipped ensemble's disagreement on the first 300 seed-10 validation renders; a retrained ensemble
disagrees by its own amounts, so its thresholds are measured the same way before it is compared or
shipped. Printed for each look the fit corrects: MediaPipe's first look, the first tracking pass's and
the last one's (the app's still path fits the last two). A corrector that reads image patches gets the
scenes rendered again and each look's patches cut from them.

    python scripts/analysis/corrector_disagreement.py [--corrector PATH] [--seed 10] [--scenes 300]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from genhmr_app.bench.validate import validation_scenes, with_images
from genhmr_app.detection.landmark_correction import CORRECTOR_PATH, LandmarkCorrector, network_inputs
from genhmr_app.detection.landmark_patches import landmark_patches
from genhmr_app.pipeline.reconstructor import Reconstructor

import torch


def disagreements(corrector: LandmarkCorrector, pairs: list[tuple]) -> dict[str, np.ndarray]:
    """Scenes whose stills had both tracking passes; per look, the ensemble's disagreement on each."""
    people = [d.people[0] for _, d in pairs]
    people = [p for p in people if p.first_pass_px is not None and p.tracked_px is not None]
    stack = lambda name: np.stack([getattr(p, name) for p in people]).astype(np.float32)  # noqa: E731
    first = stack("landmarks_px")
    rest = [stack(n) for n in ("landmarks_z", "visibility", "presence", "world_landmarks")]
    looks = {"image": (first, None, None), "first pass": (stack("first_pass_px"), first, stack("first_pass_confidence")),
             "last pass": (stack("tracked_px"), first, stack("tracked_confidence"))}
    out = {}
    for name, (points, first_look, confidence) in looks.items():
        features = network_inputs(points, *rest, corrector.reads_looks, first_look, confidence)
        patches = None
        if corrector.reads_patches:
            patches = torch.from_numpy(np.stack([landmark_patches(p.image, q, p.bbox) for p, q in zip(people, points)]))
        out[name] = corrector.predict(torch.from_numpy(features), patches)[2].numpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corrector", type=Path, default=CORRECTOR_PATH)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--scenes", type=int, default=300)
    args = parser.parse_args()
    recon = Reconstructor()
    pairs = validation_scenes(recon, args.seed, 600)[:args.scenes]
    corrector = LandmarkCorrector.load(args.corrector)
    if corrector.reads_patches:
        pairs = with_images(recon, pairs, args.seed, args.scenes, "flat", cache_images=600)
    result = {}
    looks = disagreements(corrector, pairs)
    result["people with both passes"] = len(looks["image"])
    for name, values in looks.items():
        result[name] = {"p95": round(float(np.percentile(values, 95)), 4), "p99": round(float(np.percentile(values, 99)), 4),
                        "median": round(float(np.median(values)), 4)}
    print(json.dumps({"corrector": str(args.corrector), "scenes": len(pairs), **result}, indent=1))


if __name__ == "__main__":
    main()
