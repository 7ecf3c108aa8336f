"""How many of the annotated people in the shared COCO and MPII images a detector finds.

An annotated person counts as found when one detection (each used once, best first) puts the median
of its COCO-17 keypoints within 20% of that person's annotated box size of the labelled keypoints.
Used by `main.py bench` to compare MediaPipe with several poses allowed against `detect_everyone`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# MPII joint order → COCO-17 index (the 12 limb joints both define).
MPII_TO_COCO = {0: 16, 1: 14, 2: 12, 3: 11, 4: 13, 5: 15, 10: 10, 11: 8, 12: 6, 13: 5, 14: 7, 15: 9}
MATCH_FRACTION = 0.2
MIN_LABELLED = 5


@dataclass
class AnnotatedImage:
    path: Path
    people: list[np.ndarray]  # each (17, 3): x, y, labelled (0/1)


def load_annotated(kp2d_root: Path) -> list[AnnotatedImage]:
    images: list[AnnotatedImage] = []
    coco = kp2d_root / "coco" / "test_coco.json"
    if coco.exists():
        d = json.loads(coco.read_text())
        by_id = {im["id"]: AnnotatedImage(kp2d_root / "coco" / im["file_name"], []) for im in d["images"]}
        for a in d["annotations"]:
            k = np.asarray(a["keypoints"], np.float64).reshape(17, 3)
            person = np.c_[k[:, :2], (k[:, 2] > 0).astype(np.float64)]
            if person[:, 2].sum() >= MIN_LABELLED:
                by_id[a["image_id"]].people.append(person)
        images += list(by_id.values())
    mpii = kp2d_root / "mpii" / "test_mpii.json"
    if mpii.exists():
        for entry in json.loads(mpii.read_text()):
            person = np.zeros((17, 3))
            joints, vis = np.asarray(entry["joints"], np.float64), np.asarray(entry["joints_vis"], np.float64)
            for m, c in MPII_TO_COCO.items():
                person[c] = [joints[m, 0] - 1, joints[m, 1] - 1, float(vis[m] > 0)]  # 1-based → 0-based px
            images.append(AnnotatedImage(kp2d_root / "mpii" / entry["image"], [person]))
    return [im for im in images if im.people]


def count_found(detections: list[np.ndarray], people: list[np.ndarray]) -> int:
    """detections: (17, 2) COCO keypoints each. Greedy one-to-one matching, best pairs first."""
    pairs = []
    for i, person in enumerate(people):
        lab = person[:, 2] > 0
        pts = person[lab, :2]
        size = max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 1.0)
        for j, det in enumerate(detections):
            err = float(np.median(np.linalg.norm(det[lab] - pts, axis=-1))) / size
            if err < MATCH_FRACTION:
                pairs.append((err, i, j))
    used_p, used_d = set(), set()
    for _, i, j in sorted(pairs):
        if i not in used_p and j not in used_d:
            used_p.add(i)
            used_d.add(j)
    return len(used_p)


def people_found(kp2d_root: Path, max_people: int = 10) -> dict:
    """Annotated people found by MediaPipe (several poses allowed) and by detect_everyone."""
    from genhmr_app.detection.detector import PoseDetector
    from genhmr_app.image.loading import load_image

    images = load_annotated(kp2d_root)
    total = sum(len(im.people) for im in images)
    rows = []
    with PoseDetector(num_poses=max_people, retry=False) as plain, PoseDetector(num_poses=max_people) as ours:
        for im in images:
            rgb = load_image(im.path).rgb
            a = plain.detect(rgb)
            b = ours.detect_everyone(rgb, max_people=max_people)
            rows.append({"image": im.path.name, "annotated": len(im.people),
                         "mediapipe": count_found([p.coco17()[:, :2] for p in a.people], im.people),
                         "ours": count_found([p.coco17()[:, :2] for p in b.people], im.people),
                         "ours_ms": round(b.timing_ms, 1)})
    return {"annotated": total, "mediapipe": sum(r["mediapipe"] for r in rows), "ours": sum(r["ours"] for r in rows),
            "images": rows}
