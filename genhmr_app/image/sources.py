"""Where frames come from: a still image, a folder of images, a video file or a webcam. No Qt.

Video files and cameras are read through `cv2.VideoCapture`. Both sources take a `capture_factory`
so that tests can hand them a stand-in capture object (there is no camera on a CI machine, and
`VideoCapture(0)` simply reports "not opened" there).

Neither source is meant for concurrent use; the app reads them only from its single worker thread.
A lock still guards each read so that a stray call from another thread cannot corrupt the decoder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from genhmr_app.image.loading import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv")
# Decoding forward is cheaper than seeking for short jumps: a seek lands on a keyframe and decodes up
# to the target anyway, and with long GOPs that costs more than grabbing a second of frames.
MAX_GRAB_AHEAD = 48
# A frame that fails to decode is taken for damage, not the end, when one of the next few decodes.
DAMAGED_RUN_MAX = 4
# One failed read can be a hiccup (USB bandwidth, auto-exposure switch); several in a row means gone.
CAMERA_READ_RETRIES = 3


class SourceError(Exception):
    """A frame source that cannot be used; the message is meant for the user."""


class DamagedFrame(SourceError):
    """One frame of a video cannot be decoded, but the video goes on after it."""


class CameraUnavailable(SourceError):
    """No camera at that index (none plugged in, or in use by another program)."""


class CameraDisconnected(SourceError):
    """The camera stopped delivering frames mid-stream."""


class Capture(Protocol):
    """The part of `cv2.VideoCapture` the sources use (so tests can supply a stand-in)."""

    def isOpened(self) -> bool: ...  # noqa: N802, E704
    def read(self) -> tuple[bool, np.ndarray | None]: ...  # noqa: E704
    def grab(self) -> bool: ...  # noqa: E704
    def retrieve(self) -> tuple[bool, np.ndarray | None]: ...  # noqa: E704
    def get(self, prop: int) -> float: ...  # noqa: E704
    def set(self, prop: int, value: float) -> bool: ...  # noqa: E704
    def release(self) -> None: ...  # noqa: E704


CaptureFactory = Callable[[Any], Capture]


@dataclass(frozen=True)
class Frame:
    rgb: np.ndarray  # (H, W, 3) uint8
    index: int  # frame number in its source (0 for a still image)
    timestamp_ms: int  # position in the stream: index / fps for files, time since start for cameras
    captured_s: float = 0.0  # time.perf_counter() when it was read (live latency is counted from here)


def _cv2_capture(target: Any) -> Capture:
    import cv2

    return cv2.VideoCapture(target)


def _bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
    """OpenCV's BGR (or grey, or BGRA) frame as contiguous RGB. cv2.cvtColor, not a reversed numpy
    view copied: on a 1280x720 camera frame that strided copy took the reader thread 8-15 ms at 30 fps,
    a quarter of a core on a 2-core laptop, where cvtColor takes ~1 ms and releases the GIL."""
    import cv2

    if bgr.ndim == 2 or (bgr.ndim == 3 and bgr.shape[2] == 1):
        return cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_GRAY2RGB)
    if bgr.shape[2] == 4:
        return cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(np.ascontiguousarray(bgr[..., :3]), cv2.COLOR_BGR2RGB)


PathKind = Literal["image", "folder", "video"]


def classify_path(path: str | Path) -> PathKind:
    """What the app should do with a path the user opened. Unknown suffixes are treated as images,
    so that the image loader produces its precise error message."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"File not found: {path}")
    if path.is_dir():
        return "folder"
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    return "image"


def is_media_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES


class VideoFileSource:
    """Random access to the frames of a video file, cheap when reading forward."""

    def __init__(self, path: str | Path, capture_factory: CaptureFactory = _cv2_capture) -> None:
        import cv2

        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(f"File not found: {self.path}")
        if self.path.stat().st_size == 0:
            raise SourceError(f"{self.path.name} is empty (0 bytes)")
        self._lock = threading.Lock()
        self._cap = capture_factory(str(self.path))
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"{self.path.name} is not a video OpenCV can read")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        # Some containers report 0 or nonsense fps; 25 is a safe guess for timing playback.
        self.fps = fps if 1.0 <= fps <= 240.0 else 25.0
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = max(count, 0)
        self._next = 0  # index of the frame the decoder will return on the next read()
        self._damaged: set[int] = set()  # frames found not to decode (_after_failure)
        first = self._decode_next()
        if first is None:
            self._cap.release()
            raise SourceError(f"{self.path.name} contains no decodable video frames")
        self.height, self.width = first.shape[:2]
        self._cached: tuple[int, np.ndarray] = (0, first)
        if self.frame_count <= 0:
            self.frame_count = 1  # unknown length: grows as frames are discovered

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps

    def index_at(self, seconds: float) -> int:
        return int(np.clip(round(seconds * self.fps), 0, max(self.frame_count - 1, 0)))

    def timestamp_ms(self, index: int) -> int:
        return int(round(index * 1000.0 / self.fps))

    def _decode_next(self) -> np.ndarray | None:
        """The decoder's next frame (RGB), None if it cannot be decoded. A damaged frame fails, but
        the decoder moves past it all the same (the next grab gives the frame after it; OpenCV's own
        frame counter does not move): every attempt counts as one frame."""
        ok = self._cap.grab()
        self._next += 1
        if not ok:
            return None
        ok, bgr = self._cap.retrieve()
        return _bgr_to_rgb(bgr) if ok and bgr is not None and bgr.size else None

    def read(self, index: int) -> Frame:
        import cv2

        index = int(np.clip(index, 0, max(self.frame_count - 1, 0)))
        with self._lock:
            if self._cap is None:
                raise SourceError(f"{self.path.name} is closed")
            if self._cached[0] == index:
                rgb = self._cached[1]
            elif index in self._damaged:
                raise DamagedFrame(self._damage_message(index))
            else:
                if not (self._next <= index <= self._next + MAX_GRAB_AHEAD):
                    self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                    self._next = index
                while self._next < index:
                    self._cap.grab()
                    self._next += 1
                rgb = self._decode_next()
                if rgb is None:
                    self._after_failure(index)
                self._cached = (index, rgb)
        return Frame(rgb, index, self.timestamp_ms(index))

    def _after_failure(self, index: int) -> None:
        """Frame `index` did not decode: damage if one of the next few frames does (the first of them
        is kept for the next read), else the end of the video."""
        self._damaged.add(index)
        for following in range(index + 1, index + 1 + DAMAGED_RUN_MAX):
            rgb = self._decode_next()
            if rgb is not None:
                self._cached = (following, rgb)
                raise DamagedFrame(self._damage_message(index))
            self._damaged.add(following)  # known now: not decoded again (nor sought, which lands off here)
        if index > 0 and index >= self.frame_count - MAX_GRAB_AHEAD:
            # The header over-stated the length (common with variable-frame-rate files): shrink it
            # so the timeline stops at the last real frame.
            self.frame_count = index
            raise SourceError(f"{self.path.name}: frame {index} could not be decoded (the end of the video)")
        # Far from the end the header gives: a longer damaged stretch, the frames after it may still come.
        self._next = -MAX_GRAB_AHEAD - 1  # unknown: the next read seeks
        raise DamagedFrame(self._damage_message(index))

    def _damage_message(self, index: int) -> str:
        return f"{self.path.name}: frame {index + 1} is damaged and was skipped"

    def close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None


class PlaybackClock:
    """Which video frame "now" is, while playing. Plain floats: safe to read from any thread."""

    def __init__(self, fps: float, start_index: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.fps = fps
        self._clock = clock
        self._start_index = start_index
        self._start_time = clock()

    def index_now(self) -> int:
        return self._start_index + int((self._clock() - self._start_time) * self.fps)

    def seconds_until(self, index: int) -> float:
        return (index - self._start_index) / self.fps - (self._clock() - self._start_time)


class _NewestFrameThread:
    """A thread that reads frames and keeps only the newest (`_latest`) or the error that stopped it
    (`_error`), under one condition; `stop()` ends it. Subclasses supply `_run` and `next_after`."""

    def __init__(self, thread_name: str) -> None:
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._error: BaseException | None = None
        self._stopped = False
        self.at_end = False
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=2.0)


class PlaybackReader(_NewestFrameThread):
    """Decodes a playing video in its own thread, following the playback clock, and keeps only the
    newest frame. The inference worker then never waits for the decoder (skipping frames means
    decoding them: ~60 ms a result for 720p H.264 here), and frames it is too slow for are dropped
    here instead of queueing."""

    def __init__(self, video: VideoFileSource, clock: PlaybackClock) -> None:
        self.video = video
        self.clock = clock
        self.damaged: list[tuple[int, str]] = []  # (index, message) of the frames that could not be decoded
        super().__init__("video-playback-reader")

    def _run(self) -> None:
        last = -1
        try:
            while not self._stopped:
                target = min(self.clock.index_now(), self.video.frame_count - 1)
                if target <= last:
                    with self._cond:
                        self._cond.wait(timeout=min(max(self.clock.seconds_until(last + 1), 0.001), 0.05))
                    continue
                try:
                    frame = replace(self.video.read(target), captured_s=time.perf_counter())
                except DamagedFrame as exc:
                    with self._cond:
                        self.damaged.append((target, str(exc)))
                    last = target  # played on: the clock takes the next frames
                    continue
                except SourceError:
                    frame = None  # past the real end of a file whose header over-counts
                with self._cond:
                    if frame is not None:
                        self._latest, last = frame, target
                    self.at_end = frame is None or target >= self.video.frame_count - 1
                    self._cond.notify_all()
                if self.at_end:
                    return
        except Exception as exc:  # noqa: BLE001 - handed to the reader of the frames
            with self._cond:
                self._error = exc
                self._cond.notify_all()

    def next_after(self, index: int, timeout_s: float) -> Frame | None:
        """The newest decoded frame after `index`, waiting up to `timeout_s` for one; at the end of
        the video, the last frame. None if nothing new came in time."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while (self._latest is None or self._latest.index <= index) and not self.at_end and self._error is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._error is not None:
                raise self._error
            return self._latest


class CameraSource:
    """A live camera. `read()` returns the newest frame or raises `CameraDisconnected`."""

    def __init__(self, device: int = 0, capture_factory: CaptureFactory = _cv2_capture,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import cv2

        self.device = int(device)
        self._lock = threading.RLock()
        self._clock = clock
        self._cap: Capture | None = capture_factory(self.device)
        if not self._cap.isOpened():
            self._cap.release()
            self._cap = None
            raise CameraUnavailable(
                f"No camera found at index {self.device}. Plug one in, or close any other program using it.")
        # A deep driver buffer would hand us frames from a second ago; the newest frame is what matters.
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        self._start = clock()
        self._count = 0
        self._grabbed: tuple[int, int, float] | None = None  # the last grab's number, timestamp_ms, captured_s

    def grab(self) -> int:
        """Takes the camera's next frame without decoding it; its number (`retrieve` decodes it)."""
        with self._lock:
            if self._cap is None:
                raise CameraDisconnected(f"Camera {self.device} is closed")
            for _ in range(CAMERA_READ_RETRIES):
                if self._cap.grab():
                    self._grabbed = (self._count, int((self._clock() - self._start) * 1000), time.perf_counter())
                    self._count += 1
                    return self._grabbed[0]
            raise CameraDisconnected(f"Camera {self.device} stopped sending frames (disconnected?)")

    def retrieve(self) -> Frame:
        """The last grabbed frame, decoded (RGB)."""
        with self._lock:
            if self._cap is None:
                raise CameraDisconnected(f"Camera {self.device} is closed")
            if self._grabbed is None:
                raise CameraDisconnected(f"Camera {self.device} has not sent a frame yet")
            ok, bgr = self._cap.retrieve()
            if not ok or bgr is None or not bgr.size:
                raise CameraDisconnected(f"Camera {self.device} sent a frame that could not be decoded")
            index, timestamp_ms, captured_s = self._grabbed
            return Frame(_bgr_to_rgb(bgr), index, timestamp_ms, captured_s)

    def read(self) -> Frame:
        """The next frame, decoded."""
        with self._lock:  # re-entrant: nothing grabs between this grab and its retrieve
            self.grab()
            return self.retrieve()

    def close(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None


class CameraReader(_NewestFrameThread):
    """Reads a camera in its own thread and keeps only the newest frame, as PlaybackReader does for
    a file: whoever processes frames never waits for the camera, and frames it is too slow for are
    dropped here instead of queueing in the driver. A read error ends the thread and is raised to
    the next `next_after` call.

    Every frame is grabbed (the driver's queue stays empty) but only the ones likely to be taken are
    decoded: a frame is decoded when the consumer is waiting for one, or when the next frame would
    come after the consumer's next request (judged from the intervals between its requests so far).
    With a 60 fps camera and the model at ~30 results a second, half the frames were otherwise decoded
    and converted for nothing. Decoding stays in this thread: a capture's grab waits for the camera
    and must not run beside a retrieve from another thread."""

    def __init__(self, camera: CameraSource) -> None:
        self.camera = camera  # a camera has no end: at_end stays False
        self.decoded = 0  # frames grabbed and decoded
        self.skipped = 0  # frames grabbed and never decoded
        self._waiting = False  # the consumer is blocked in next_after
        self._last_request: float | None = None
        self._request_interval: float | None = None  # the consumer's, smoothed
        self._frame_interval: float | None = None  # the camera's, smoothed
        super().__init__("camera-reader")

    def _decode_next(self, now: float) -> bool:
        """Whether the frame grabbed at `now` should be decoded (called under the condition)."""
        if self._waiting or None in (self._last_request, self._request_interval, self._frame_interval):
            return True
        next_request = self._last_request + self._request_interval
        # Decode when the frame after this one would arrive after the request (a quarter of a frame's
        # margin for jitter): this is then the newest frame the consumer can get.
        return now + 0.75 * self._frame_interval >= next_request

    def _run(self) -> None:
        last_grab = None
        while not self._stopped:
            try:
                self.camera.grab()
                now = time.perf_counter()
                if last_grab is not None:
                    self._frame_interval = _smoothed(self._frame_interval, now - last_grab)
                last_grab = now
                with self._cond:
                    decode = self._decode_next(now)
                if not decode:
                    self.skipped += 1
                    continue
                frame = self.camera.retrieve()
            except Exception as exc:  # noqa: BLE001 - handed to the reader of the frames
                with self._cond:
                    self._error = exc if not self._stopped else None
                    self._cond.notify_all()
                return
            self.decoded += 1
            with self._cond:
                self._latest = frame
                self._cond.notify_all()

    def next_after(self, index: int, timeout_s: float) -> Frame | None:
        """The newest frame after `index`, waiting up to `timeout_s`; None if none came in time."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            now = time.perf_counter()
            if self._last_request is not None:
                self._request_interval = _smoothed(self._request_interval, now - self._last_request)
            self._last_request = now
            self._waiting = True
            try:
                while (self._latest is None or self._latest.index <= index) and self._error is None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._cond.wait(remaining)
            finally:
                self._waiting = False
            if self._error is not None and (self._latest is None or self._latest.index <= index):
                raise self._error
            return self._latest


def _smoothed(previous: float | None, value: float, weight: float = 0.2) -> float:
    """An exponential moving average (the first value as it is)."""
    return value if previous is None else previous + weight * (value - previous)


def probe_cameras(max_devices: int = 4, capture_factory: CaptureFactory = _cv2_capture) -> list[int]:
    """Indices of the cameras that open. Linux numbers V4L2 devices densely, so a few are enough."""
    found = []
    for index in range(max_devices):
        try:
            cap = capture_factory(index)
        except Exception as exc:  # noqa: BLE001 - a broken driver must not stop the probe
            log.debug("camera %d: %s", index, exc)
            continue
        try:
            if cap.isOpened():
                found.append(index)
        finally:
            cap.release()
    return found


def thumbnail(path: str | Path, max_side: int = 96) -> np.ndarray:
    """A small RGB preview for the folder strip; `draft` lets JPEG decode at reduced size, which
    is what keeps a folder of 20-megapixel photos responsive."""
    from PIL import Image, ImageOps

    from genhmr_app.image.loading import ImageLoadError

    try:
        with Image.open(path) as img:
            img.draft("RGB", (max_side * 2, max_side * 2))
            img = ImageOps.exif_transpose(img) or img
            img = img.convert("RGB")
            img.thumbnail((max_side, max_side))
            return np.ascontiguousarray(np.asarray(img))
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for a bad file
        raise ImageLoadError(f"{Path(path).name}: no preview ({exc})") from None


class ScriptedCapture:
    """A stand-in for `cv2.VideoCapture` that plays given frames, for tests and for demos on
    machines without a camera. `fail_after`: reads after that many frames fail, as when a USB
    camera is unplugged mid-stream. `loop`: start again after the last frame. `paced`: `read()`
    waits for the next frame at `fps`, as a real camera does (benchmarks); otherwise it returns at once."""

    def __init__(self, frames_bgr: list[np.ndarray], opened: bool = True, fail_after: int | None = None,
                 loop: bool = True, fps: float = 30.0, paced: bool = False) -> None:
        self.frames = list(frames_bgr)
        self.opened = opened and bool(self.frames)
        self.fail_after = fail_after
        self.loop = loop
        self.fps = fps
        self.reads = 0  # frames grabbed
        self.retrieved = 0  # frames decoded
        self.released = False
        self.paced = paced
        self._next_due: float | None = None

    def isOpened(self) -> bool:  # noqa: N802 (cv2's name)
        return self.opened and not self.released

    def grab(self) -> bool:
        if not self.isOpened() or (self.fail_after is not None and self.reads >= self.fail_after):
            return False
        if not self.loop and self.reads >= len(self.frames):
            return False
        if self.paced:
            now = time.perf_counter()
            due = now if self._next_due is None else self._next_due
            if due > now:
                time.sleep(due - now)
            # A reader that fell behind gets the current frame, not a burst of old ones.
            self._next_due = max(due, now - 1.0 / self.fps) + 1.0 / self.fps
        self.reads += 1
        return True

    def retrieve(self) -> tuple[bool, np.ndarray | None]:
        """The last grabbed frame, copied (a camera's decode makes a new array too)."""
        if self.reads == 0 or not self.isOpened():
            return False, None
        self.retrieved += 1
        return True, self.frames[(self.reads - 1) % len(self.frames)].copy()

    def read(self) -> tuple[bool, np.ndarray | None]:
        return self.retrieve() if self.grab() else (False, None)

    def get(self, prop: int) -> float:
        import cv2

        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_COUNT: float(len(self.frames))}.get(prop, 0.0)

    def set(self, prop: int, value: float) -> bool:
        return True

    def release(self) -> None:
        self.released = True
