"""Diagnostic: MediaPipe's tracking pass on the same still image, as a second look at the person.

The twenty-fifth session's question (issue 9, target (a); the error budget says precise 2D where the
person is seen is what would pay). In IMAGE mode MediaPipe crops the person where its person detector
boxes them; in VIDEO mode, from the second frame on, it crops where the last frame's landmarks put
them, a better-aligned crop, and smooths the landmarks over the frames. The app's
detection/tracking_looks.StillTracker takes those steps on the still (the twenty-fifth session through
MediaPipe's VIDEO-mode graph, the twenty-sixth with the landmark network run directly), and the last of
`--passes` tracking passes gives the 2D landmarks used:
- "tracking pass, fit only": the joint fit pulls onto them; the generator keeps the IMAGE-mode input;
- "average, fit only": the mean of both runs' 2D;
- "tracking pass, both": the generator sees them too.
A tracking pass that found someone else (median landmark distance over 10% of the body's height) is
left out. Rendered validation scenes (seed 10's, rendered afresh; MPJPE paired against the shipped run,
2D error of the landmarks MediaPipe calls visible against the true keypoints placed as it places them),
then the shared real images: the annotated photos' 2D (MediaPipe's own and our placed keypoints, % of
the height) per person, and MPI-INF-3DHP PA-MPJPE per frame, run by the app itself
(ReconstructionSettings.tracking_passes). Last, the time of the second look and of IMAGE-mode detection.

    .venv/bin/python scripts/analysis/tracking_pass.py [--scenes 600] [--passes 1]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from genhmr_app.bench.error_budget import detector_placed, placed_px
from genhmr_app.bench.real_2d import run_real_2d
from genhmr_app.bench.run import IMAGE_WH, paired_margin, person_metrics, run_mpi_inf_3dhp
from genhmr_app.bench.validate import rendered_validation_scenes, with_tracking_passes
from genhmr_app.body.sparse import SparseBody
from genhmr_app.detection.tracking_looks import StillTracker
from genhmr_app.paths import shared_data_dir
from genhmr_app.pipeline.reconstructor import FitTargets, ReconstructionSettings, Reconstructor
from genhmr_app.training.synthesis import Synthesizer


def rendered(recon: Reconstructor, tracker: StillTracker, passes: int, scenes: int) -> list[float]:
    """The validation scenes' table; returns the milliseconds each second look took."""
    synth = Synthesizer(SparseBody(recon.body), recon.noise, detector_body=recon.sparse)
    settings = ReconstructionSettings()
    names = ("IMAGE mode, one look", "tracking pass, fit only", "average, fit only", "tracking pass, both")
    mpjpe: dict[str, dict[int, float]] = {n: {} for n in names}
    err2d: dict[str, list[float]] = {n: [] for n in names}
    look_ms: list[float] = []
    for i, scene_r, scene, detection in rendered_validation_scenes(recon, 10, scenes):
        detection = with_tracking_passes(detection, 0)  # the cache holds the default pass's look
        first = detection.people[0]
        t0 = time.perf_counter()
        look = tracker.look(scene_r.image, first, passes)
        second = None if look is None else look.landmarks_px
        look_ms.append((time.perf_counter() - t0) * 1000)
        if second is None:
            continue
        truth = placed_px(detector_placed(synth, scene), scene.focal, IMAGE_WH)
        seen = first.visibility >= 0.5
        average = (0.5 * (first.landmarks_px + second)).astype(np.float32)
        for name, points in zip(names, (first.landmarks_px, second, average, second)):
            err2d[name].append(float(np.linalg.norm(points - truth, axis=-1)[seen].mean()))
            if name.endswith("both"):
                moved = replace(detection, people=[replace(first, landmarks_px=second), *detection.people[1:]])
                metrics = person_metrics(recon.reconstruct_detection(moved, settings), scene)
            elif name.startswith("IMAGE"):
                metrics = person_metrics(recon.reconstruct_detection(detection, settings), scene)
            else:
                recon.fit_targets = lambda person, corrected=True, p=points: FitTargets(p.astype(np.float32), person.visibility)
                try:
                    metrics = person_metrics(recon.reconstruct_detection(detection, settings), scene)
                finally:
                    del recon.fit_targets
            if metrics is not None:
                mpjpe[name][i] = metrics["mpjpe"]
    base = mpjpe[names[0]]
    print("| rendered validation scenes | n | MPJPE | vs shipped (95%) | 2D of visible landmarks, px |\n|---|---|---|---|---|")
    for name in names:
        margin = paired_margin(mpjpe[name], base)
        cell = "–" if name == names[0] else f"{margin[0]:+.2f} ({margin[1]:+.2f} to {margin[2]:+.2f})"
        print(f"| {name} | {len(mpjpe[name])} | {np.mean(list(mpjpe[name].values())):.2f} | {cell} | "
              f"{np.mean(err2d[name]):.3f} |", flush=True)
    return look_ms


def real(recon: Reconstructor, passes: int) -> None:
    """The shared real images as the app runs them (ReconstructionSettings.tracking_passes: the fit
    pulls onto the tracked look), and with the generator also given the tracked look ("both")."""
    own_look = Reconstructor.look_again

    def look_for_both(self: Reconstructor, rgb, detection, n):
        out = own_look(self, rgb, detection, n)
        if out is detection:
            return out
        person = out.people[0]
        return replace(out, people=[replace(person, landmarks_px=person.tracked_px)])

    kp2d = shared_data_dir() / "images" / "kp2d"
    for label, settings in (("IMAGE mode, one look", ReconstructionSettings(tracking_passes=0)),
                            ("tracking passes, fit only", ReconstructionSettings(tracking_passes=passes)),
                            ("tracking passes, both", ReconstructionSettings(tracking_passes=passes))):
        if label.endswith("both"):
            Reconstructor.look_again = look_for_both
        try:
            photos = run_real_2d(recon, settings, kp2d)
            mpi = run_mpi_inf_3dhp(recon, settings)
        finally:
            Reconstructor.look_again = own_look
        print(f"\n{label}: photos (MediaPipe's own / ours placed, % of height) mean "
              f"{100 * photos['mediapipe_share']:.2f} / {100 * photos['placed_share']:.2f}; per person "
              + ", ".join(f"{100 * r['mediapipe_share']:.2f}/{100 * r['placed_share']:.2f}"
                          for r in photos["rows"] if r["found"]))
        found = [r for r in mpi if r["found"]]
        print(f"  MPI-INF-3DHP PA-MPJPE mean {np.mean([r['pa_mpjpe_mm'] for r in found]):.1f}; per frame "
              + ", ".join(f"{r['pa_mpjpe_mm']:.1f}" for r in found), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=600)
    ap.add_argument("--passes", type=int, default=1, help="tracking passes after the tracker's own first look")
    args = ap.parse_args()
    torch.set_num_threads(1)
    recon = Reconstructor(device="cpu")
    tracker = StillTracker()
    look_ms = rendered(recon, tracker, args.passes, args.scenes)
    real(recon, args.passes)
    image_ms = []
    for n, (_, scene_r, _, _) in enumerate(rendered_validation_scenes(recon, 10, args.scenes)):
        if n == 40:
            break
        t0 = time.perf_counter()
        recon.detector("image").detect(scene_r.image)
        image_ms.append((time.perf_counter() - t0) * 1000)
    print(f"\nmedian ms: IMAGE-mode detection {np.median(image_ms):.1f}; the second look ({args.passes} pass(es)) "
          f"{np.median(look_ms):.1f}")
    tracker.close()


if __name__ == "__main__":
    main()
