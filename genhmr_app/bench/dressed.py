"""The bench's test set once more, its people dressed (training/appearance.py: patterned, loose clothes
and a face): the same poses, shapes, cameras and backgrounds, so the accuracy targets can be read again
for people who look otherwise than the flat-coloured renders the models were trained on."""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from genhmr_app.bench.run import A, LIMBS, build_scenes, detection_matches, paired_margin, person_metrics, procrustes_error
from genhmr_app.detection.landmarks import mp33_to_coco17
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor

REGRESSOR = "(e) regressor P=0"


def dressed_section(recon: Reconstructor, regress: Reconstructor | None, images: int, seed: int) -> tuple[list[str], dict]:
    """Markdown lines and a summary: (a) and the regressor (e) on the dressed scenes, MediaPipe beside them,
    and the accuracy targets' margins on this set."""
    from genhmr_app.tokens.data import load_pose_splits

    scenes = build_scenes(recon.body, load_pose_splits(), images, seed, look="dressed")
    detector = recon.detector("image")
    models = {A: (recon, ReconstructionSettings())}
    if regress is not None:
        models[REGRESSOR] = (regress, ReconstructionSettings(refine_steps=0))
    rows: dict[str, dict[int, dict]] = {name: {} for name in models}
    mediapipe_pa, mediapipe_2d = {}, {}
    for i, scene in enumerate(tqdm(scenes, desc="evaluate dressed")):
        detection = detector.detect(scene.image)
        if not detection_matches(detection, scene):
            continue
        detection = recon.look_again(scene.image, detection, ReconstructionSettings().tracking_passes)
        person = detection.people[0]
        mediapipe_pa[i] = procrustes_error(mp33_to_coco17(person.world_landmarks)[LIMBS], scene.joints_coco[LIMBS]) * 1000
        mediapipe_2d[i] = float(np.linalg.norm(person.coco17()[LIMBS, :2] - scene.kp2d[LIMBS], axis=-1).mean())
        for name, (model, settings) in models.items():
            metrics = person_metrics(model.reconstruct_detection(detection, settings), scene)
            if metrics is not None:
                rows[name][i] = metrics
    mean = lambda values: float(np.mean(list(values))) if values else float("nan")  # noqa: E731
    summary = {name: {k: mean(r[k] for r in got.values()) for k in ("mpjpe", "pa_mpjpe", "err2d_px")} | {"n": len(got)}
               for name, got in rows.items()}
    summary["(d) MediaPipe"] = {"pa_mpjpe": mean(mediapipe_pa.values()), "err2d_px": mean(mediapipe_2d.values()),
                                "n": len(mediapipe_pa)}
    lines = ["", "## The same test set dressed (patterned, loose clothes and a face; training/appearance.py)", "",
             f"Detection rate: {len(mediapipe_pa)}/{len(scenes)}. The models were trained on flat-coloured renders only.", "",
             "| method | MPJPE | PA-MPJPE | 2D px | n |", "|---|---|---|---|---|"]
    shown = lambda value: f"{value:.1f}" if np.isfinite(value) else "–"  # noqa: E731
    for name, s in summary.items():
        lines.append(f"| {name} | {shown(s.get('mpjpe', np.nan))} | {shown(s['pa_mpjpe'])} | {shown(s['err2d_px'])} | {s['n']} |")
    ours = rows[A]
    checks = [("(a) PA-MPJPE ≤ 0.8x MediaPipe world (d)", {i: r["pa_mpjpe"] for i, r in ours.items()}, mediapipe_pa, 0.8),
              ("(a) final 2D error ≤ MediaPipe's own 2D error (px)", {i: r["err2d_px"] for i, r in ours.items()},
               mediapipe_2d, 1.0)]
    if regress is not None:
        checks.insert(1, ("(a) MPJPE ≤ 0.85x regressor (e)", {i: r["mpjpe"] for i, r in ours.items()},
                          {i: r["mpjpe"] for i, r in rows[REGRESSOR].items()}, 0.85))
    lines += ["", "| target, on the dressed set | margin (95% interval) | met |", "|---|---|---|"]
    summary["margins"] = {}
    for name, xs, ys, factor in checks:
        margin = paired_margin(xs, ys, factor)
        summary["margins"][name] = margin
        interval = f"{margin[0]:+.2f} ({margin[1]:+.2f} to {margin[2]:+.2f})" if margin else "–"
        lines.append(f"| {name} | {interval} | {'yes' if margin and margin[0] <= 0 else 'no'} |")
    return lines, summary
