"""Live tracking against the still-image path on a rendered sequence with 3D truth (issue 10).

The embedded body walks (shared motion capture) while turning slowly, rendered over a procedural room
at 25 fps. Each frame is reconstructed twice:
- still: what the app does with a photo (IMAGE-mode detection, ReconstructionSettings() in full);
- live: what the app does with a camera (VIDEO-mode detection, pipeline/live.LiveTracker, with the
  window's default smoothing unless --smoothing says otherwise).
PA-MPJPE over the 12 COCO limb keypoints (as `main.py bench`), per path; the target is live within 5%
of still. Run: `python -m genhmr_app.bench.live_accuracy [--frames 60]`.

`--clips validation` runs the 18 validation-split clips instead (bows, waves, dashes, slashes, walks:
the motions settings are chosen on, never the walk the figure is reported on) and prints each clip's
ratio, the ratio of the means and the mean of the clips' ratios (which no single clip's large error
dominates).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from genhmr_app.bench.error_budget import LIMBS
from genhmr_app.bench.run import procrustes_error
from genhmr_app.settings import DEFAULT_LIVE_SMOOTHING

FPS = 25.0
# Every validation-split Bandai clip (mocap/dataset.split_for puts their groups in "val"). Until the
# thirty-first session the first five listed here alone (bow, byebye, dash, slash, walk-back); one clip
# of 60 frames moves the mean by a few percent, so settings are now chosen on all of them.
VALIDATION_CLIPS = ("dataset-1_bow_normal_001", "dataset-1_byebye_childish_001", "dataset-1_dash_proud_001",
                    "dataset-1_slash_normal_001", "dataset-1_walk-back_angry_001",
                    "dataset-1_bow_musical_001", "dataset-1_bye_not-confident_001", "dataset-1_bye_tired_001",
                    "dataset-1_byebye_proud_001", "dataset-1_dash_chimpira_001", "dataset-1_guide_happy_001",
                    "dataset-1_slash_normal_002", "dataset-1_walk-back_chimpira_001",
                    "dataset-1_walk-back_feminine_001", "dataset-1_walk-back_masculinity_001",
                    "dataset-1_walk-right_chimpira_001", "dataset-1_walk-right_happy_001",
                    "dataset-1_walk-right_musical_001")


def load_clip(stem: str | None):
    """(body model, zero betas, rest joints, the clip retargeted): the bench's walk when `stem` is None,
    else that shared Bandai clip."""
    from genhmr_app.bench.scenes import WALK_CLIP, load_walk_clip

    return load_walk_clip(WALK_CLIP if stem is None else ("mocap", "bandai-1", f"{stem}.bvh"))


def render_sequence(frames: int, wh: tuple[int, int] = (480, 480), seed: int = 3, turn_deg_per_s: float = 30.0,
                    clip_stem: str | None = None):
    """[(rgb, coco17 truth (17, 3))], focal: the clip (the walk by default) from its 10th frame,
    turning about the vertical axis while it moves on the spot."""
    from genhmr_app.conditioning.camera import focal_from_fov
    from genhmr_app.training import render as rnd

    body, betas, rest, clip = load_clip(clip_stem)
    focal = focal_from_fov(wh[1], 55.0)
    flip = np.array([[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]])  # world Y up → camera y down
    rng = np.random.default_rng(seed)
    colours = rnd.body_regions(body).colours(rnd.random_outfit(rng))
    background = rnd.make_background("room", wh, rng)
    out = []
    step = clip.fps / FPS
    with rnd.PersonRenderer(body.faces, wh) as renderer:
        for i in range(frames):
            k = min(int(10 + i * step), len(clip.body_pose) - 1)
            yaw = np.deg2rad(turn_deg_per_s * i / FPS)
            spin = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
            orient = flip @ spin @ clip.global_orient[k]
            transl = np.array([0.0, 0.1, 3.2]) - rest[0]
            with torch.no_grad():
                posed = body.forward(torch.as_tensor(orient[None], dtype=torch.float32),
                                     torch.as_tensor(clip.body_pose[k:k + 1], dtype=torch.float32),
                                     torch.as_tensor(betas)[None], torch.as_tensor(transl[None], dtype=torch.float32))
            image = renderer.render(posed.vertices[0].numpy(), focal, colours, background).image
            out.append((image, posed.keypoints_coco17[0].numpy()))
    return out, focal


def evaluate(frames: int, smoothing: float, clip_stem: str | None = None, recon=None, tracker_settings=None) -> dict:
    """`tracker_settings`: the LiveTracker's LiveSettings (None: its defaults)."""
    from genhmr_app.detection import PoseDetector
    from genhmr_app.pipeline.live import LiveSettings, LiveTracker
    from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor

    sequence, focal = render_sequence(frames, clip_stem=clip_stem)
    owned = recon is None
    recon = Reconstructor() if owned else recon
    still_settings = ReconstructionSettings(focal_px=focal)
    live_settings = ReconstructionSettings(focal_px=focal)
    tracker = LiveTracker(recon, tracker_settings or LiveSettings(), smoothing=smoothing)
    still, live, live_ms, still_ms = [], [], [], []
    with PoseDetector(mode="video") as video:
        for i, (rgb, truth) in enumerate(sequence):
            t = time.perf_counter()
            r = recon.run(rgb, still_settings)
            still_ms.append((time.perf_counter() - t) * 1000)
            if r.people:
                still.append(procrustes_error(r.people[0].keypoints3d_coco17[LIMBS], truth[LIMBS]) * 1000)
            detection = video.detect(rgb, timestamp_ms=int(i * 1000 / FPS))
            person = detection.people[0] if detection.people else None
            t = time.perf_counter()
            p = tracker.step(person, rgb.shape[1], rgb.shape[0], focal, live_settings, {}, i / FPS)
            live_ms.append((time.perf_counter() - t) * 1000)
            if p is not None:
                live.append(procrustes_error(p.keypoints3d_coco17[LIMBS], truth[LIMBS]) * 1000)
    if owned:
        recon.close()
    out = {"clip": clip_stem or "walk", "frames": frames, "smoothing": smoothing, "still_found": len(still), "live_found": len(live),
           "still_pa_mpjpe_mm": round(float(np.mean(still)), 1), "live_pa_mpjpe_mm": round(float(np.mean(live)), 1),
           "live_restarts": tracker.restarts, "still_model_ms_median": round(float(np.median(still_ms)), 1),
           "live_model_ms_median": round(float(np.median(live_ms)), 1)}
    out["live_over_still"] = round(out["live_pa_mpjpe_mm"] / out["still_pa_mpjpe_mm"], 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="live_accuracy", description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--smoothing", type=float, default=DEFAULT_LIVE_SMOOTHING,
                    help="the live smoothing strength (default: the window's default)")
    ap.add_argument("--clips", choices=("walk", "validation"), default="walk",
                    help="the bench's walk (the reported figure) or the 18 validation-split clips (to choose settings on)")
    ap.add_argument("--feedback-passes", type=int, default=None,
                    help="LiveSettings.feedback_passes for the tracker (default: its default)")
    args = ap.parse_args(argv)
    from genhmr_app.pipeline.live import LiveSettings

    tracker_settings = LiveSettings() if args.feedback_passes is None else LiveSettings(feedback_passes=args.feedback_passes)
    from genhmr_app.ui.app import one_torch_thread

    one_torch_thread()
    if args.clips == "validation":
        return validation_clips(args.frames, args.smoothing, args.json, tracker_settings)
    r = evaluate(args.frames, args.smoothing, tracker_settings=tracker_settings)
    print(f"live accuracy: PA-MPJPE live {r['live_pa_mpjpe_mm']} mm vs still {r['still_pa_mpjpe_mm']} mm "
          f"({r['live_over_still']}x; target ≤ 1.05x) over {r['frames']} rendered frames, smoothing {r['smoothing']} "
          f"(found: live {r['live_found']}, still {r['still_found']}; live restarts {r['live_restarts']}); "
          f"model time median live {r['live_model_ms_median']} ms, still {r['still_model_ms_median']} ms")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    return 0


def validation_clips(frames: int, smoothing: float, json_path: Path | None, tracker_settings=None) -> int:
    """Each validation clip's live and still PA-MPJPE, and the means' ratio."""
    from genhmr_app.pipeline.reconstructor import Reconstructor

    recon = Reconstructor()
    try:
        rows = [evaluate(frames, smoothing, stem, recon, tracker_settings) for stem in VALIDATION_CLIPS]
    finally:
        recon.close()
    for r in rows:
        print(f"{r['clip']}: live {r['live_pa_mpjpe_mm']} mm, still {r['still_pa_mpjpe_mm']} mm ({r['live_over_still']}x)")
    live, still = (float(np.mean([r[k] for r in rows])) for k in ("live_pa_mpjpe_mm", "still_pa_mpjpe_mm"))
    per_clip = float(np.mean([r["live_over_still"] for r in rows]))
    print(f"live accuracy on {len(rows)} validation clips of {frames} frames: live {live:.1f} mm vs still {still:.1f} mm "
          f"({live / still:.3f}x; mean of the clips' ratios {per_clip:.3f}x), smoothing {smoothing}")
    if json_path:
        json_path.write_text(json.dumps({"clips": rows, "live_pa_mpjpe_mm": live, "still_pa_mpjpe_mm": still,
                                         "live_over_still": live / still, "mean_clip_ratio": per_clip}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
