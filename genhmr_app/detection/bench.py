"""Detector latency on real data (needs the shared data folder): `python -m genhmr_app.detection.bench`."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from genhmr_app.detection.detector import PoseDetector
from genhmr_app.paths import shared_data_dir

BENCH_PHOTO = "photos/hybrik_000000000431.jpg"  # 640x389, one clear person: the plain IMAGE path
BENCH_VIDEO = "videos/hybrik_taiji.mp4"  # 1280x720


def _images_dir() -> Path:
    d = shared_data_dir() / "images"
    if not d.is_dir():
        raise FileNotFoundError(f"shared images not found at {d} (set GENHMR_SHARED_DIR)")
    return d


def _read_frames(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while len(frames) < n:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    if not frames:
        raise RuntimeError(f"could not read frames from {path}")
    return frames


def detection_latency(n: int = 20, task_path: Path | None = None) -> dict:
    """Median wall time (ms) of `detect()` in IMAGE mode on one photo and VIDEO mode on n frames.

    The first call of each detector is a warm-up and not counted (XNNPACK sets up lazily).
    Model creation time is reported separately.
    """
    images = _images_dir()
    bgr = cv2.imread(str(images / BENCH_PHOTO))
    if bgr is None:
        raise FileNotFoundError(images / BENCH_PHOTO)
    photo = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    frames = _read_frames(images / BENCH_VIDEO, n + 1)

    t = time.perf_counter()
    with PoseDetector(task_path=task_path, mode="image") as det:
        create_ms = (time.perf_counter() - t) * 1000.0
        det.detect(photo)
        image_ms = []
        for _ in range(n):
            image_ms.append(det.detect(photo).timing_ms)
        image_frame_ms = []  # IMAGE mode on video frames: the cost without tracking, same pixels
        for f in frames[1:]:
            image_frame_ms.append(det.detect(f).timing_ms)

    with PoseDetector(task_path=task_path, mode="video") as det:
        det.detect(frames[0], timestamp_ms=0)
        video_ms, found = [], 0
        for i, f in enumerate(frames[1:], start=1):
            r = det.detect(f, timestamp_ms=int(i * 1000 / 24))
            video_ms.append(r.timing_ms)
            found += bool(r.people)

    return {
        "n": n,
        "create_ms": round(create_ms, 1),
        "image_photo_ms": round(statistics.median(image_ms), 1),
        "image_photo_size": f"{photo.shape[1]}x{photo.shape[0]}",
        "image_video_frame_ms": round(statistics.median(image_frame_ms), 1),
        "video_ms": round(statistics.median(video_ms), 1),
        "video_frame_size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
        "video_found": f"{found}/{len(video_ms)}",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(detection_latency(), indent=2))
