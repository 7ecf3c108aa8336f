"""Short test clips: cut from the shared tai chi video (a real person on every frame), numbered
grey frames, and damage done to an MJPG clip's frames."""

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


def numbered_mjpg(path: Path, frames: int = 40, size: tuple[int, int] = (160, 120), fps: float = 20.0) -> Path:
    """An MJPG .avi whose frame i is a flat grey of level 5 * i (a decoded frame tells its index)."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 5 * i, np.uint8))
    writer.release()
    return path


def damage_mjpg_frames(path: Path, damaged: tuple[int, ...]) -> Path:
    """Zeroes the JPEG data of frames `damaged` of an MJPG .avi (one "00dc" chunk per frame, after the
    header's; its 4-byte size follows the tag): those frames no longer decode, the others do."""
    data = bytearray(path.read_bytes())
    chunks = [i for i in range(len(data) - 4) if data[i:i + 4] == b"00dc"]
    for index in damaged:
        at = chunks[index + 1]
        size = int.from_bytes(data[at + 4:at + 8], "little")
        data[at + 8:at + 8 + size] = bytes(size)
    path.write_bytes(bytes(data))
    return path
