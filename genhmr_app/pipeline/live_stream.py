"""Live input as stages that run side by side (issue 10): capture → detection → model → display.

Each stage runs in its own thread and takes the *newest* output of the stage before it; whatever a
stage was too slow for is dropped, never queued. The slowest stage therefore sets the frame rate,
instead of the sum of all of them, and a result is never older than one frame of each stage.

- capture: image/sources.PlaybackReader (a file, following the playback clock) or CameraReader;
- detection: MediaPipe in VIDEO mode (it tracks the person between frames; C++, no GIL held);
- model: pipeline/live.LiveTracker through CoreSession.live_result (warm-started sampling and
  refinement, the preview mesh, display data);
- display: whoever `on_result` hands the FrameResult to (the window draws the newest one).

No Qt here: `on_result` and `on_error` are called from the model thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from genhmr_app.detection import DetectionResult
from genhmr_app.image.display_copy import reduced_for_display
from genhmr_app.image.sources import Frame

log = logging.getLogger(__name__)

_STREAM_NUMBERS = itertools.count(1)
FRAME_WAIT_S = 0.25  # how long the detection stage waits for a frame before checking whether to stop
# The live model process runs this much below the window (Unix nice). On two cores the stages want
# more CPU than there is; the window's thread is the one a user feels (a render preempted a dozen times
# took 17 ms for 9 ms of work, and stalls of 100+ ms followed), while the model only drops a frame when
# it falls behind. Detection stays at the window's priority: it is the slowest stage and sets the rate
# (a 60 fps camera, three alternating runs each: 0.63 / 0.63 / 0.64x MediaPipe alone with detection at
# the window's priority, 0.61 / 0.60 / 0.62x with it 5 below; longest stall 39-42 vs 35-39 ms; the
# model process at the window's priority too: 0.60-0.64x and stalls up to 58 ms).
LIVE_MODEL_NICE = 5


@dataclass
class _Detected:
    frame: Frame
    detection: DetectionResult
    detect_ms: float
    at_end: bool
    display_rgb: object = None  # the frame at the size it is shown (None: as it is)


class NewestSlot:
    """Holds one value; putting replaces it (the old one is dropped, counted), taking empties it.
    `skipped`: how many values were dropped between the last two takes (the taker fell behind)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value = None
        self._closed = False
        self.dropped = 0
        self.skipped = 0
        self._dropped_at_take = 0

    def put(self, value) -> None:
        with self._cond:
            if self._value is not None:
                self.dropped += 1
            self._value = value
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self, timeout_s: float | None = None):
        """The newest value, waiting for one; None once closed and empty (or on timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._value is not None or self._closed, timeout_s):
                return None
            value, self._value = self._value, None
            self.skipped, self._dropped_at_take = self.dropped - self._dropped_at_take, self.dropped
            self._cond.notify_all()
            return value


class LiveStream:
    """Runs the detection and model stages for one live source until `stop()` or its end.

    `reader`: has `next_after(index, timeout_s) -> Frame | None`, `at_end` and `stop()`
    (PlaybackReader, CameraReader). `make_ref(frame)` names the frame for the FrameResult;
    `settings()` and `overlays()` are read for every frame, so slider changes apply to the next one.
    """

    def __init__(self, session, open_reader: Callable, make_ref: Callable, settings: Callable, overlays: Callable,
                 on_result: Callable, on_error: Callable, on_finished: Callable | None = None,
                 detector=None, smoothing: Callable[[], float] = lambda: 0.0,
                 shown_scale: Callable[[int, int], float] = lambda w, h: 1.0) -> None:
        """`open_reader()` → (reader, (name, frame count, fps)), called in the detection thread
        (opening a camera can take a second; its failure reaches `on_error`). `on_finished()`: the
        source ended by itself (the video's last frame has been handed to `on_result`).
        `shown_scale(width, height)`: screen pixels per frame pixel in the window for a frame of that
        size; each result carries the frame reduced to that size (made in the model stage's thread
        while the model process works, not in the UI thread)."""
        self.session, self._open_reader = session, open_reader
        self.reader = None
        self.source: tuple[str, int, float | None] = ("", 0, None)
        self._reader_ready = threading.Event()
        self.on_finished = on_finished
        self.smoothing = smoothing  # the live smoothing strength, read for every frame
        self.shown_scale = shown_scale
        self.make_ref, self.settings, self.overlays = make_ref, settings, overlays
        self.on_result, self.on_error = on_result, on_error
        self._detector = detector
        self._stop = threading.Event()
        self._detected = NewestSlot()
        self.number = next(_STREAM_NUMBERS)  # the model keeps one track per stream number
        self._source_error: BaseException | None = None
        self.frames_detected = 0
        self.results = 0
        self._damaged_reported = 0  # the reader's damaged frames already named in a result
        self._threads = [threading.Thread(target=self._guard, args=(self._detect_loop,), name="live-detection",
                                          daemon=True),
                         threading.Thread(target=self._guard, args=(self._model_loop,), name="live-model", daemon=True)]

    @property
    def frames_dropped(self) -> int:
        """Detected frames the model stage never saw (it was busy with an older one)."""
        return self._detected.dropped

    def start(self) -> LiveStream:
        for t in self._threads:
            t.start()
        return self

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def stop(self, wait_s: float = 0.0) -> None:
        """Stops both stages; nothing more reaches `on_result` after this returns. The model stage
        may still finish the frame it has (the window does not wait for it: `wait_s` 0)."""
        self._stop.set()
        self._detected.close()
        for t in self._threads:
            if wait_s > 0 and t is not threading.current_thread():
                t.join(wait_s)

    def _guard(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except Exception as exc:  # noqa: BLE001 - the window shows it and stops the stream
            if not self._stop.is_set():
                log.warning("live stream stopped: %s", exc)
                self._stop.set()
                self._detected.close()
                self.on_error(exc)

    def _detect_loop(self) -> None:
        """A failing source (a camera unplugged, a broken file) is reported by the model stage once
        it has shown the frames detected before the failure."""
        try:
            self.reader, self.source = self._open_reader()
            detector = self._detector or self.session.video_detector(restart=True)
            self._loop_frames(detector)
        except Exception as exc:  # noqa: BLE001
            self._source_error = exc
        finally:
            self._detected.close()
            if self.reader is not None:
                self.reader.stop()

    def _loop_frames(self, detector) -> None:
        last_index, last_ts = -1, None
        while not self._stop.is_set():
            frame = self.reader.next_after(last_index, FRAME_WAIT_S)
            if frame is None or frame.index <= last_index:
                if self.reader.at_end:
                    break
                continue
            last_index = frame.index
            if last_ts is not None and frame.timestamp_ms <= last_ts:
                continue  # MediaPipe's VIDEO mode needs increasing timestamps
            last_ts = frame.timestamp_ms
            t0 = time.perf_counter()
            detection = detector.detect(frame.rgb, timestamp_ms=frame.timestamp_ms)
            self.frames_detected += 1
            # The end: the reader has nothing after this frame (it may have reached the end meanwhile,
            # with a newer frame that the next pass takes).
            newest = self.reader.next_after(frame.index, 0.0) if self.reader.at_end else None
            at_end = self.reader.at_end and (newest is None or newest.index <= frame.index)
            item = _Detected(frame, detection, (time.perf_counter() - t0) * 1000, at_end)
            self._detected.put(item)
            if at_end:
                break
            # No back-pressure: the next detection starts at once. Detection and the model take about
            # as long as each other; waiting for the model to take each detection left both idle for
            # the thread wake-ups in between (a 60 fps camera, measured in one session: 42.9 results/s
            # waiting, 47.2 free-running). A frame the model had no time for is dropped
            # (`frames_dropped`), and a camera's own rate bounds the detections.

    def _display_copy(self, item: _Detected) -> None:
        """The picture at the size the window shows it (~1-2 ms), made while the model process works
        on the frame: this thread only waits then, whereas in the detection thread it delayed the
        next detection."""
        height, width = item.frame.rgb.shape[:2]
        item.display_rgb = reduced_for_display(item.frame.rgb, self.shown_scale(width, height))

    def _report_damage(self, result) -> None:
        """Frames of a playing file that could not be decoded were skipped (image/sources.PlaybackReader):
        the first result after each one says so, in its warnings."""
        damaged = getattr(self.reader, "damaged", None) or []
        new = [index + 1 for index, _message in damaged[self._damaged_reported:]]  # numbered from 1, as shown
        if not new:
            return
        self._damaged_reported = len(damaged)
        text = f"frame {new[0]} is damaged and was skipped" if len(new) == 1 else \
            f"frames {', '.join(map(str, new))} are damaged and were skipped"
        if len(damaged) > len(new):
            text += f" ({len(damaged)} so far)"
        result.warnings = [*result.warnings, text]

    def _model_loop(self) -> None:
        while not self._stop.is_set():
            item: _Detected | None = self._detected.take()
            if item is None:
                if self._stop.is_set():
                    return
                if self._source_error is not None:
                    raise self._source_error  # → _guard → on_error
                if self.reader is not None and self.reader.at_end and self.on_finished:
                    self.on_finished()  # the video ended before another frame reached this stage
                return
            # Detections dropped while the model worked on the last one: it is slower than detection
            # just now, so this frame may skip the generator (LiveTracker.step's `hurry`).
            hurry = self._detected.skipped > 0
            result = self.session.live_result(self.make_ref(item.frame), item.frame, item.detection, self.number,
                                              self.settings(), self.overlays(), self.smoothing(), self.source,
                                              item.detect_ms, item.at_end, meanwhile=lambda: self._display_copy(item),
                                              hurry=hurry)
            result.display_rgb = item.display_rgb
            self._report_damage(result)
            self.results += 1
            if self._stop.is_set():
                return
            self.on_result(result)
            if item.at_end:
                if self.on_finished:
                    self.on_finished()
                return


__all__ = ["LIVE_MODEL_NICE", "LiveStream", "NewestSlot"]
