"""Diagnostic: how steady the live path's body is, in motion and held still (issue 10's fluent demo).

The thirty-first session changed how a live frame decodes its pose (pipeline/live.py); accuracy is
`bench-live-accuracy`, this is the other half: the mean joint acceleration (mm/frame², the 12 COCO limb
joints relative to the mid-hip) of the live output
- in motion: the first `--clips` validation-split clips of `bench-live-accuracy` (60 rendered frames);
- at rest: each clip's first frame shown 40 times with fresh image noise (sd 4 grey levels), so all
  that moves is the model's answer to noise;
at the window's default smoothing and without any, with the clips' PA-MPJPE beside them.
Compare two versions of the code by running it on each.

    .venv/bin/python scripts/analysis/live_jitter.py [--clips 5]
"""

from __future__ import annotations

import argparse

import numpy as np


def acceleration_mm(keypoints: list[np.ndarray]) -> float:
    """Mean norm of the second difference of the limb joints (mid-hip relative), mm per frame²."""
    from genhmr_app.bench.error_budget import LIMBS

    k = np.asarray(keypoints)[:, LIMBS]
    k = k - k[:, 6:8].mean(1, keepdims=True)  # LIMBS[6:8] are the hips
    return float(np.linalg.norm(k[2:] - 2 * k[1:-1] + k[:-2], axis=-1).mean() * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=5)
    args = ap.parse_args()
    from genhmr_app.ui.app import one_torch_thread

    one_torch_thread()
    from genhmr_app.bench.error_budget import LIMBS
    from genhmr_app.bench.live_accuracy import FPS, VALIDATION_CLIPS, render_sequence
    from genhmr_app.bench.run import procrustes_error
    from genhmr_app.detection import PoseDetector
    from genhmr_app.pipeline.live import LiveTracker
    from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
    from genhmr_app.settings import DEFAULT_LIVE_SMOOTHING

    recon = Reconstructor()
    clips = [(stem, *render_sequence(60, clip_stem=stem)) for stem in VALIDATION_CLIPS[:args.clips]]
    for smoothing in (DEFAULT_LIVE_SMOOTHING, 0.0):
        motion, rest, errors = [], [], []
        for index, (stem, sequence, focal) in enumerate(clips):
            settings = ReconstructionSettings(focal_px=focal)
            rng = np.random.default_rng(index)
            first = sequence[0][0].astype(np.int16)
            noisy = [np.clip(first + rng.normal(0, 4, first.shape), 0, 255).astype(np.uint8) for _ in range(40)]
            for frames, truths, out in (([f for f, _ in sequence], [t for _, t in sequence], motion),
                                        (noisy, None, rest)):
                tracker, keypoints = LiveTracker(recon, smoothing=smoothing), []
                with PoseDetector(mode="video") as video:
                    for i, rgb in enumerate(frames):
                        detection = video.detect(rgb, timestamp_ms=int(i * 1000 / FPS))
                        person = detection.people[0] if detection.people else None
                        p = tracker.step(person, rgb.shape[1], rgb.shape[0], focal, settings, {}, i / FPS)
                        if p is None:
                            continue
                        keypoints.append(p.keypoints3d_coco17)
                        if truths is not None:
                            errors.append(procrustes_error(p.keypoints3d_coco17[LIMBS], truths[i][LIMBS]) * 1000)
                out.append(acceleration_mm(keypoints[5:]))  # past the filter's start
        print(f"smoothing {smoothing}: joint acceleration in motion {np.mean(motion):.2f}, at rest {np.mean(rest):.2f} "
              f"mm/frame²; PA-MPJPE in motion {np.mean(errors):.2f} mm ({len(clips)} clips)", flush=True)
    recon.close()


if __name__ == "__main__":
    main()
