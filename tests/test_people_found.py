"""Every person (issue 12): detect_everyone finds more of the annotated people in the shared COCO and
MPII images than MediaPipe with several poses allowed, and `infer --max-people` reports them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from genhmr_app.detection.people_count import count_found, load_annotated, people_found

REPO = Path(__file__).resolve().parents[1]


def test_matching_is_one_to_one():
    person = np.zeros((17, 3))
    person[:, 0], person[:, 1], person[:, 2] = np.arange(17) * 10.0, np.arange(17) * 5.0, 1.0
    near = person[:, :2] + 3.0
    far = person[:, :2] + 500.0
    assert count_found([near], [person]) == 1
    assert count_found([far], [person]) == 0
    assert count_found([near, near + 1], [person]) == 1  # two detections cannot both claim one person
    assert count_found([near], [person, person]) == 1


def test_more_people_than_mediapipe_with_several_poses(shared_images):
    root = shared_images / "kp2d"
    images = load_annotated(root)
    assert sum(len(im.people) for im in images) >= 10
    r = people_found(root)
    print(f"\nannotated {r['annotated']}: MediaPipe (10 poses) found {r['mediapipe']}, detect_everyone {r['ours']}")
    assert r["ours"] > r["mediapipe"]


def test_infer_reports_several_people(shared_images, tmp_path):
    crowd = shared_images / "kp2d" / "coco" / "000000196141.jpg"
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "infer", str(crowd), "--out", str(tmp_path),
                           "--max-people", "6", "--iterations", "2", "--refine-steps", "2"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((tmp_path / "000000196141.json").read_text())
    assert len(data["people"]) >= 3
    boxes = [p["bbox"] for p in data["people"]]
    assert len({tuple(round(v) for v in b) for b in boxes}) == len(boxes)  # distinct people
