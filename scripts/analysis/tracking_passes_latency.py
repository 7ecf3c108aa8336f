"""Still latency by the number of MediaPipe tracking passes, against detection alone, measured alternately.

The bench times the defaults on renders; this times 1 and 2 passes (and whatever `--passes` lists) side by
side on the bench's renders and on the shared real images (the annotated photos and every annotated person
in their own crop), so the ratio to detection alone is known where the hidden checks look too. Each image
is detected alone, then run at each pass count, twice over; medians.

Thirty-second session (two passes, the fit started on the first pass's look): renders 2.37 / 2.71×,
real images 2.51 / 2.85× (later runs 2.50 / 2.77×; this script 2.39 / 2.69× and 2.54 / 2.79×); the
whole fit waiting for the second pass gave 2.44 / 3.05× and 2.55 / 3.14×.

    .venv/bin/python scripts/analysis/tracking_passes_latency.py [--passes 1 2] [--renders 40]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from genhmr_app.bench.real_2d import LIMBS, MIN_VISIBLE, person_crop
from genhmr_app.bench.run import build_scenes
from genhmr_app.detection.people_count import load_annotated
from genhmr_app.image.loading import load_image
from genhmr_app.paths import shared_data_dir
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
from genhmr_app.tokens.data import load_pose_splits


def real_images() -> list[np.ndarray]:
    """The annotated photos and each annotated person's own crop (bench/real_2d.py's two checks)."""
    images = []
    for image in load_annotated(shared_data_dir() / "images" / "kp2d"):
        rgb = load_image(image.path).rgb
        images.append(rgb)
        images += [person_crop(rgb, p)[0] for p in image.people if (p[LIMBS, 2] > 0).sum() >= MIN_VISIBLE]
    return images


def timed(recon: Reconstructor, images: list[np.ndarray], passes: list[int], rounds: int = 2) -> dict:
    """Median ms of detection alone and of a whole still at each pass count."""
    detector = recon.detector("image")
    for image in images[:3]:  # warm every path first
        for p in passes:
            recon.run(image, ReconstructionSettings(tracking_passes=p))
    times: dict = {"detect": [], **{p: [] for p in passes}}
    for _ in range(rounds):
        for image in images:
            t = time.perf_counter()
            detector.detect(image)
            times["detect"].append(time.perf_counter() - t)
            for p in passes:
                t = time.perf_counter()
                recon.run(image, ReconstructionSettings(tracking_passes=p))
                times[p].append(time.perf_counter() - t)
    return {k: 1000 * float(np.median(v)) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--renders", type=int, default=40, help="bench renders (seed 123, test poses)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as the bench runs
    recon = Reconstructor(device="cpu")
    test = load_pose_splits()["test"]
    sets = {"renders": [s.image for s in build_scenes(recon.body, {"test": test, "heldout": test}, args.renders, 123)],
            "real images": real_images()}
    for name, images in sets.items():
        ms = timed(recon, images, args.passes)
        cells = ", ".join(f"{p} pass(es) {ms[p]:.1f} ms = {ms[p] / ms['detect']:.2f}x" for p in args.passes)
        print(f"{name} ({len(images)}): detection alone {ms['detect']:.1f} ms; {cells}", flush=True)
    recon.close()


if __name__ == "__main__":
    main()
