"""Diagnostic: MediaPipe's tracking pass on the same still image, as a second look at the person.

The twenty-fifth session's question (issue 9, target (a); the error budget says precise 2D where the
person is seen is what would pay). In IMAGE mode MediaPipe crops the person where its person detector
boxes them; in VIDEO mode, from the second frame on, it crops where the last frame's landmarks put
them, a better-aligned crop. So a still is fed to a VIDEO-mode landmarker twice (after a blank frame,
which makes the tracker drop whoever it tracked), and the second result's 2D landmarks are used:
- "tracking pass, fit only": the joint fit pulls onto them; the generator keeps the IMAGE-mode input;
- "average, fit only": the mean of both runs' 2D;
- "tracking pass, both": the generator sees them too.
A tracking pass that found someone else (median landmark distance over 10% of the body's height) is
left out. Rendered validation scenes (seed 10's, rendered afresh; MPJPE paired against the shipped run,
2D error of the landmarks MediaPipe calls visible against the true keypoints placed as it places them),
then the shared real images: the annotated photos' 2D (MediaPipe's own and our placed keypoints, % of
the height) per person, and MPI-INF-3DHP PA-MPJPE per frame. Last, the time of each kind of pass.

    .venv/bin/python scripts/analysis/tracking_pass.py [--scenes 600]
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
from genhmr_app.bench.validate import rendered_validation_scenes
from genhmr_app.body.sparse import SparseBody
from genhmr_app.detection.detector import DetectionResult, PoseDetector
from genhmr_app.paths import shared_data_dir
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
from genhmr_app.training.synthesis import Synthesizer


class TrackingPass:
    """A VIDEO-mode landmarker that looks at a still twice and reports the second look."""

    def __init__(self, recon: Reconstructor) -> None:
        self.video = recon.detector("video")
        self.timestamp = 0
        self.times_ms: dict[str, list[float]] = {"blank (reset)": [], "first frame": [], "tracking pass": []}

    def _timed(self, name: str, image: np.ndarray, gap_ms: int) -> DetectionResult:
        self.timestamp += gap_ms
        t0 = time.perf_counter()
        out = self.video.detect(image, self.timestamp)
        self.times_ms[name].append((time.perf_counter() - t0) * 1000)
        return out

    def landmarks(self, image: np.ndarray, first_px: np.ndarray) -> np.ndarray | None:
        """(33, 2) px of the tracking pass, None when it lost the person or found someone else."""
        self._timed("blank (reset)", np.zeros_like(image), 1000)
        self._timed("first frame", image, 33)
        second = self._timed("tracking pass", image, 33)
        if not second.people:
            return None
        px = second.people[0].landmarks_px
        if np.median(np.linalg.norm(px - first_px, axis=-1)) > 0.1 * np.ptp(first_px[:, 1]):
            return None
        return px


def rendered(recon: Reconstructor, tracker: TrackingPass, scenes: int) -> None:
    synth = Synthesizer(SparseBody(recon.body), recon.noise, detector_body=recon.sparse)
    settings = ReconstructionSettings()
    names = ("IMAGE mode (shipped)", "tracking pass, fit only", "average, fit only", "tracking pass, both")
    mpjpe: dict[str, dict[int, float]] = {n: {} for n in names}
    err2d: dict[str, list[float]] = {n: [] for n in names}
    for i, scene_r, scene, detection in rendered_validation_scenes(recon, 10, scenes):
        first = detection.people[0]
        second = tracker.landmarks(scene_r.image, first.landmarks_px)
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
                recon.fit_targets = lambda person, corrected=True, p=points: (p.astype(np.float32), person.visibility)
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


def real(recon: Reconstructor, tracker: TrackingPass) -> None:
    """The shared real images, with the IMAGE-mode detector's first person's 2D replaced by the
    tracking pass's for the fit (mode "fit") or for everything (mode "both")."""
    original = PoseDetector.detect
    mode: dict[str, str | None] = {"now": None}

    def detect(self: PoseDetector, rgb: np.ndarray, timestamp_ms: int | None = None) -> DetectionResult:
        out = original(self, rgb, timestamp_ms)
        if self.mode != "image" or mode["now"] is None or not out.people:
            return out
        second = tracker.landmarks(np.asarray(rgb), out.people[0].landmarks_px)
        if second is None:
            return out
        if mode["now"] == "fit":
            out.people[0].tracked_px = second  # read by the fit's targets below
            return out
        return replace(out, people=[replace(out.people[0], landmarks_px=second), *out.people[1:]])

    own_targets = Reconstructor.fit_targets

    def targets(self: Reconstructor, person, corrected: bool = True):
        points, weights = own_targets(self, person, corrected)
        tracked = getattr(person, "tracked_px", None)
        return (tracked, weights) if tracked is not None else (points, weights)

    PoseDetector.detect, Reconstructor.fit_targets = detect, targets
    kp2d = shared_data_dir() / "images" / "kp2d"
    try:
        for now in (None, "fit", "both"):
            mode["now"] = now
            photos = run_real_2d(recon, ReconstructionSettings(), kp2d)
            mpi = run_mpi_inf_3dhp(recon, ReconstructionSettings())
            label = {None: "IMAGE mode (shipped)", "fit": "tracking pass, fit only", "both": "tracking pass, both"}[now]
            print(f"\n{label}: photos (MediaPipe's own / ours placed, % of height) mean "
                  f"{100 * photos['mediapipe_share']:.2f} / {100 * photos['placed_share']:.2f}; per person "
                  + ", ".join(f"{100 * r['mediapipe_share']:.2f}/{100 * r['placed_share']:.2f}"
                              for r in photos["rows"] if r["found"]))
            found = [r for r in mpi if r["found"]]
            print(f"  MPI-INF-3DHP PA-MPJPE mean {np.mean([r['pa_mpjpe_mm'] for r in found]):.1f}; per frame "
                  + ", ".join(f"{r['pa_mpjpe_mm']:.1f}" for r in found), flush=True)
    finally:
        PoseDetector.detect, Reconstructor.fit_targets = original, own_targets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=600)
    args = ap.parse_args()
    torch.set_num_threads(1)
    recon = Reconstructor(device="cpu")
    tracker = TrackingPass(recon)
    rendered(recon, tracker, args.scenes)
    real(recon, tracker)
    image_ms = []
    for n, (_, scene_r, _, _) in enumerate(rendered_validation_scenes(recon, 10, args.scenes)):
        if n == 40:
            break
        t0 = time.perf_counter()
        recon.detector("image").detect(scene_r.image)
        image_ms.append((time.perf_counter() - t0) * 1000)
    print("\nmedian ms: IMAGE-mode detection %.1f; " % np.median(image_ms)
          + "; ".join(f"{k} {np.median(v):.1f}" for k, v in tracker.times_ms.items()))


if __name__ == "__main__":
    main()
