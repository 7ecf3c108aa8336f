"""The final 2D keypoints on real photos with annotated keypoints (the COCO and MPII images in
../shared/data/images/kp2d), against MediaPipe's own 2D landmarks on the same people.

The rendered test set measures 2D error with exact truth but on our own renders; these photos are
real, few (4 COCO + 5 MPII images, read by detection/people_count.load_annotated) and annotated by
people, so they are a check, not a benchmark.
As the app does for a photo, one person is reconstructed per image (MediaPipe's single pose); it is
matched to the annotated person whose limb keypoints are nearest its own, and scored on the 12 COCO
limb joints the annotation marks visible. MPII's hips sit higher and further in than COCO's and
MediaPipe's, which costs both sides alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genhmr_app.detection.people_count import load_annotated
from genhmr_app.image.loading import load_image
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor

LIMBS = list(range(5, 17))  # COCO: shoulders, elbows, wrists, hips, knees, ankles (left first)
MIN_VISIBLE = 6  # annotated people with fewer labelled limb joints are not scored
MATCH_SHARE = 0.5  # a match further than this share of the person's height is not the same person


def mean_error(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean px distance of (12, 2) points to the (12, 3) annotation's labelled joints."""
    seen = truth[:, 2] > 0
    return float(np.linalg.norm(points[seen] - truth[seen, :2], axis=-1).mean())


def run_real_2d(recon: Reconstructor, settings: ReconstructionSettings, kp2d_dir: Path) -> dict:
    """Per image: the matched person's mean limb error (px and share of their height) for MediaPipe's
    own landmarks and for the final mesh's projected keypoints; and the means over the matches."""
    rows = []
    for image in load_annotated(kp2d_dir):
        candidates = [p[LIMBS] for p in image.people if (p[LIMBS, 2] > 0).sum() >= MIN_VISIBLE]
        if not candidates:
            continue
        r = recon.run(load_image(image.path).rgb, settings)
        if not r.people:
            rows.append({"image": image.path.name, "found": False})
            continue
        person = r.people[0]
        mp = person.detection.coco17()[LIMBS, :2]
        ours = person.keypoints2d_coco17[LIMBS]
        truth = min(candidates, key=lambda p: mean_error(mp, p))
        h = max(float(np.ptp(truth[truth[:, 2] > 0, 1])), 1.0)  # the labelled limbs' height in px
        if mean_error(mp, truth) > MATCH_SHARE * h:
            rows.append({"image": image.path.name, "found": False})
            continue
        rows.append({"image": image.path.name, "found": True, "joints": int((truth[:, 2] > 0).sum()), "height_px": h,
                     "mediapipe_px": mean_error(mp, truth), "ours_px": mean_error(ours, truth),
                     "mediapipe_share": mean_error(mp, truth) / h, "ours_share": mean_error(ours, truth) / h})
    found = [r for r in rows if r["found"]]
    summary = {k: float(np.mean([r[k] for r in found])) if found else float("nan")
               for k in ("mediapipe_px", "ours_px", "mediapipe_share", "ours_share")}
    return {"rows": rows, "matched": len(found), **summary}


__all__ = ["run_real_2d"]
