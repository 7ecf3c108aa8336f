"""Short test clips cut from the shared tai chi video (a real person on every frame)."""

from __future__ import annotations

from pathlib import Path


def taiji_clip(shared_images: Path, path: Path, frames: int, size: tuple[int, int]) -> Path:
    """The first `frames` frames, resized to `size`, as an MJPG .avi (readable everywhere OpenCV is)."""
    import cv2

    cap = cv2.VideoCapture(str(shared_images / "videos" / "hybrik_taiji.mp4"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24, size)
    try:
        for _ in range(frames):
            ok, frame = cap.read()
            assert ok, "the shared video ended early"
            writer.write(cv2.resize(frame, size))
    finally:
        writer.release()
        cap.release()
    return path
