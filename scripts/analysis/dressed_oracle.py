"""Where the dressed renders lose: the shipped pipeline against the same fit given the true 2D keypoints,
on the same validation people flat and dressed (thirty-fifth session).

If the fit given the true 2D loses as much on the dressed people as the app does, what the dressed look
costs is not in MediaPipe's 2D; if it loses little, the 2D landmarks (what a corrector could fix) are it.

    python scripts/analysis/dressed_oracle.py [--seed 10] [--scenes 300]
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from genhmr_app.bench.error_budget import detector_placed, fit_onto, placed_px
from genhmr_app.bench.run import person_metrics
from genhmr_app.bench.validate import validation_scenes, with_tracking_passes
from genhmr_app.body.sparse import SparseBody
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
from genhmr_app.training.synthesis import Synthesizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--scenes", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    recon = Reconstructor(device="cpu")
    settings = ReconstructionSettings()
    synth = Synthesizer(SparseBody(recon.body), recon.noise, detector_body=recon.sparse)
    out = {}
    for look in ("flat", "dressed"):
        rows = {"app": {}, "true 2D": {}}
        for scene, detection in validation_scenes(recon, args.seed, 600, look)[:args.scenes]:
            # The same person in both looks (the caches number only the people found, so match them).
            i = (round(float(scene.focal), 3), round(float(scene.betas[0]), 5))
            detection = with_tracking_passes(detection, settings.tracking_passes)
            m = person_metrics(recon.reconstruct_detection(detection, settings), scene)
            truth = placed_px(detector_placed(synth, scene), scene.focal, (detection.image_width, detection.image_height))
            with fit_onto(recon, truth):
                t = person_metrics(recon.reconstruct_detection(detection, settings), scene)
            if m is not None and t is not None:
                rows["app"][i], rows["true 2D"][i] = m, t
        out[look] = rows
    common = {look: set(out[look]["app"]) for look in out}
    both = common["flat"] & common["dressed"]
    summary = {"people in both looks": len(both)}
    for look in out:
        for name, rows in out[look].items():
            summary[f"{look}, {name}"] = {k: round(float(np.mean([rows[i][k] for i in both])), 2)
                                          for k in ("mpjpe", "pa_mpjpe", "err2d_px")}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
