"""Frame sources (no Qt): video files by index, cameras through a stand-in capture, folders."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from genhmr_app.image.loading import ImageLoadError
from genhmr_app.image.sources import (
    CameraDisconnected,
    CameraReader,
    CameraSource,
    CameraUnavailable,
    DamagedFrame,
    PlaybackClock,
    PlaybackReader,
    ScriptedCapture,
    SourceError,
    VideoFileSource,
    classify_path,
    probe_cameras,
    thumbnail,
)


def write_numbered_video(path: Path, frames: int = 40, size: tuple[int, int] = (160, 120), fps: float = 20.0) -> Path:
    """Frame i is a flat grey of level 5 * i, so a decoded frame tells which index it is."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 5 * i, np.uint8))
    writer.release()
    return path


def level_index(frame) -> int:
    return int(round(float(frame.rgb.mean()) / 5))


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory) -> Path:
    return write_numbered_video(tmp_path_factory.mktemp("video") / "numbered.mp4")


@pytest.fixture(scope="module")
def damaged_video(tmp_path_factory) -> Path:
    from clips import damage_mjpg_frames, numbered_mjpg

    return damage_mjpg_frames(numbered_mjpg(tmp_path_factory.mktemp("video") / "damaged.avi"), damaged=(10, 11, 30))


def test_classify_path(tmp_path, numbered_video):
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert classify_path(tmp_path) == "folder"
    assert classify_path(numbered_video) == "video"
    assert classify_path(tmp_path / "a.jpg") == "image"
    with pytest.raises(SourceError, match="not found"):
        classify_path(tmp_path / "missing.mp4")


def test_video_reads_forward_backward_and_clamps(numbered_video):
    video = VideoFileSource(numbered_video)
    try:
        assert video.frame_count == 40 and video.fps == pytest.approx(20.0)
        assert (video.width, video.height) == (160, 120)
        for i in (0, 1, 2, 10, 39, 5, 30, 0):  # sequential, a short skip, the end, backwards
            frame = video.read(i)
            assert frame.index == i and abs(level_index(frame) - i) <= 1, (i, level_index(frame))
            assert frame.timestamp_ms == round(i * 50)
        assert video.read(999).index == 39
        assert video.index_at(1.0) == 20
    finally:
        video.close()
    with pytest.raises(SourceError, match="closed"):
        video.read(0)


@pytest.mark.parametrize("content", [b"", b"this is not a video at all" * 20])
def test_bad_video_files_raise_source_error(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(SourceError):
        VideoFileSource(path)


def test_camera_stand_in_delivers_then_reports_disconnect():
    frames = [np.full((48, 64, 3), (10, 20, 30), np.uint8)]
    t = iter(np.arange(0, 10, 0.04))
    camera = CameraSource(0, capture_factory=lambda _i: ScriptedCapture(frames, fail_after=3), clock=lambda: next(t))
    got = [camera.read() for _ in range(3)]
    assert [f.index for f in got] == [0, 1, 2]
    assert got[0].rgb[0, 0].tolist() == [30, 20, 10]  # BGR from the capture → RGB
    assert got[2].timestamp_ms > got[0].timestamp_ms
    with pytest.raises(CameraDisconnected):
        camera.read()
    camera.close()


def test_no_camera_is_a_clear_error():
    with pytest.raises(CameraUnavailable, match="No camera"):
        CameraSource(0, capture_factory=lambda _i: ScriptedCapture([], opened=False))
    assert probe_cameras(3, capture_factory=lambda i: ScriptedCapture([np.zeros((4, 4, 3), np.uint8)], opened=i == 1)) == [1]


def test_real_capture_without_a_camera_here():
    import glob

    if glob.glob("/dev/video*"):
        pytest.skip("this machine has a camera")
    with pytest.raises(CameraUnavailable):
        CameraSource(0)


def test_thumbnail(photo_path, tmp_path):
    thumb = thumbnail(photo_path, 64)
    assert thumb.ndim == 3 and max(thumb.shape[:2]) == 64
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    with pytest.raises(ImageLoadError):
        thumbnail(bad)


def test_playback_clock():
    now = [100.0]
    clock = PlaybackClock(25.0, start_index=10, clock=lambda: now[0])
    assert clock.index_now() == 10
    now[0] += 1.0
    assert clock.index_now() == 35
    assert clock.seconds_until(36) == pytest.approx(0.04)


def test_playback_reader_follows_the_clock_and_keeps_only_the_newest(numbered_video):
    now = [0.0]
    video = VideoFileSource(numbered_video)
    reader = PlaybackReader(video, PlaybackClock(20.0, start_index=0, clock=lambda: now[0]))
    try:
        first = reader.next_after(-1, 5.0)
        assert first is not None and first.index == 0
        assert reader.next_after(0, 0.1) is None or reader.next_after(0, 0.1).index == 0, "nothing new yet"
        now[0] = 1.0  # 20 frames later: the frames in between are skipped, not queued
        later = reader.next_after(0, 5.0)
        assert later.index == 20 and abs(level_index(later) - 20) <= 1
        now[0] = 10.0  # past the end
        last = reader.next_after(20, 5.0)
        assert last.index == 39 and reader.at_end
        assert reader.next_after(39, 0.1).index == 39, "at the end the last frame is returned at once"
    finally:
        reader.stop()
        video.close()


def test_camera_reader_decodes_only_about_the_frames_it_hands_out():
    """A 60 fps camera read by a consumer at ~20 fps: every frame is grabbed (the driver's queue stays
    empty), far fewer are decoded, and what is handed out is the frame grabbed for it, newer each time."""
    frames = [np.full((8, 8, 3), i, np.uint8) for i in range(10)]
    capture = ScriptedCapture(frames, loop=True, fps=60.0, paced=True)
    reader = CameraReader(CameraSource(0, capture_factory=lambda _i: capture))
    try:
        last = -1
        for _ in range(25):
            frame = reader.next_after(last, 2.0)
            assert frame is not None and frame.index > last
            assert frame.rgb[0, 0, 0] == frame.index % len(frames)  # the grabbed frame's own picture
            last = frame.index
            time.sleep(0.05)
    finally:
        reader.stop()
    assert capture.retrieved == reader.decoded
    assert reader.skipped > 0.3 * capture.reads, (reader.decoded, reader.skipped, capture.reads)


def test_damaged_frames_are_skipped_and_the_frames_after_them_are_the_right_ones(damaged_video):
    """OpenCV's frame counter stops at a frame that fails to decode while the decoder moves on: counted
    by it, every later frame would be off (or the video would seem to end there)."""
    video = VideoFileSource(damaged_video)
    try:
        for i in range(40):
            if i in (10, 11, 30):
                with pytest.raises(DamagedFrame, match=f"frame {i + 1} is damaged"):
                    video.read(i)
            else:
                assert level_index(video.read(i)) == i, i
        assert video.frame_count == 40
        assert level_index(video.read(5)) == 5 and level_index(video.read(8)) == 8  # seeking back, and on
    finally:
        video.close()


def test_playback_reader_plays_past_damaged_frames_and_lists_them(damaged_video):
    now = [0.0]
    video = VideoFileSource(damaged_video)
    reader = PlaybackReader(video, PlaybackClock(20.0, start_index=0, clock=lambda: now[0]))
    try:
        seen, index = [], -1
        for step in range(40):
            now[0] = step / 20.0
            frame = reader.next_after(index, 2.0)
            if frame is not None and frame.index > index:
                seen.append(frame.index)
                index = frame.index
            if reader.at_end:
                break
        assert reader.at_end and seen[-1] == 39
        assert not {10, 11, 30} & set(seen) and {9, 12, 29, 31} <= set(seen)
        assert [i for i, _ in reader.damaged] == [10, 11, 30]
        assert "frame 31 is damaged" in reader.damaged[-1][1]
    finally:
        reader.stop()
        video.close()
