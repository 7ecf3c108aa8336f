"""Run core work off the UI thread, one job in flight, newest request wins.

A request that arrives while a job runs replaces any earlier waiting request, so live inputs never
queue up stale frames, and the result of a job that has been superseded is dropped rather than shown.

One long-lived worker thread takes the waiting request itself the moment a job ends. (A worker per
job, as superqt's `create_worker` gives, could only start the next one once the UI thread had handled
the previous job's `returned` signal: while the UI drew a result, the model sat idle, which cost a
keypoint drag 10-20 ms of latency and live video its overlap of model and drawing.) Results, errors
and progress reach the UI thread as queued signals, in the napari worker's manner.

A job submitted with `with_progress=True` receives a `report(value)` callable; each value arrives on
the UI thread as `progress(serial, value)` (a queued signal), and only while the job is the newest.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, Signal

log = logging.getLogger(__name__)


@dataclass
class _Request:
    serial: int
    func: Callable[..., Any]
    args: tuple
    kwargs: dict


class LatestJobRunner(QObject):
    result = Signal(int, object)  # (serial, value)
    error = Signal(int, str)  # (serial, user-facing message)
    failed = Signal(int, object)  # (serial, the exception), for callers that react to its type
    progress = Signal(int, object)  # (serial, value reported by the job)
    busy_changed = Signal(bool)
    # Emitted from the worker thread; Qt queues them to this object's (the UI) thread.
    _relay = Signal(int, object)
    _done = Signal(int, bool, object, bool)  # (serial, ok, value or exception, nothing waits after it)

    def __init__(self, parent: QObject | None = None, show_superseded: bool = False) -> None:
        """`show_superseded`: also deliver the results of jobs a newer request has replaced (a drag
        shows every refit that finishes, not only the last one)."""
        super().__init__(parent)
        self.show_superseded = show_superseded
        self._serial = 0
        self._busy = False
        self._wake = threading.Condition()
        self._pending: _Request | None = None  # guarded by _wake
        self._running: _Request | None = None  # guarded by _wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0  # requests replaced before they ran: a measure of load for live input
        self._relay.connect(self._on_progress)
        self._done.connect(self._on_done)
        # Not a bound method: this object is half gone when `destroyed` fires.
        stop, wake = self._stop, self._wake
        self.destroyed.connect(lambda *_a: _stop_worker(stop, wake))

    @property
    def busy(self) -> bool:
        """A job runs or waits, or its result has not reached the UI thread yet."""
        return self._busy

    def submit(self, func: Callable[..., Any], *args: Any, with_progress: bool = False, **kwargs: Any) -> int:
        self._serial += 1
        if with_progress:
            serial = self._serial
            kwargs["report"] = lambda value, s=serial: self._emit(self._relay, s, value)
        request = _Request(self._serial, func, args, kwargs)
        with self._wake:
            if self._pending is not None:
                self.dropped += 1
            self._pending = request
            self._wake.notify()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="genhmr-jobs", daemon=True)
            self._thread.start()
        if not self._busy:
            self._busy = True
            self.busy_changed.emit(True)
        return request.serial

    def latest_serial(self) -> int:
        return self._serial

    # -- the worker thread -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._stop.is_set():
                    self._wake.wait()
                if self._stop.is_set():
                    return
                request, self._pending = self._pending, None
                self._running = request
            try:
                value, ok = request.func(*request.args, **request.kwargs), True
            except BaseException as exc:  # noqa: BLE001 - reported on the UI thread, never lost
                value, ok = exc, False
            with self._wake:
                self._running = None
                idle = self._pending is None
            if not self._emit(self._done, request.serial, ok, value, idle):
                return

    def _emit(self, signal, *args) -> bool:
        try:
            signal.emit(*args)
            return True
        except RuntimeError:  # the runner's Qt object is gone (its window closed): stop quietly
            return False

    # -- back on the UI thread -------------------------------------------------------------------
    def _on_done(self, serial: int, ok: bool, value: Any, idle: bool) -> None:
        if ok:
            if serial == self._serial or self.show_superseded:  # else only the newest result is wanted
                self.result.emit(serial, value)
        else:
            log.warning("job failed: %s: %s", type(value).__name__, value)
            log.debug("%s", "".join(traceback.format_exception(value)))
            if serial == self._serial:  # else superseded: the newer job reports for itself
                self.error.emit(serial, str(value) or type(value).__name__)
                self.failed.emit(serial, value)
        # Idle only if nothing was submitted after this job (a later submit may be on its way).
        if idle and serial == self._serial and self._busy:
            self._busy = False
            self.busy_changed.emit(False)

    def _on_progress(self, serial: int, value: Any) -> None:
        if serial == self._serial:
            self.progress.emit(serial, value)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """For shutdown and tests: process events until no job runs or waits."""
        end = time.monotonic() + timeout_s
        while self._busy and time.monotonic() < end:
            QCoreApplication.processEvents()
            time.sleep(0.005)
        return not self._busy

    def close(self) -> None:
        """Stop the worker thread once its current job (if any) ends; waiting requests are dropped."""
        with self._wake:
            self._pending = None
        _stop_worker(self._stop, self._wake)


def _stop_worker(stop: threading.Event, wake: threading.Condition) -> None:
    stop.set()
    with wake:
        wake.notify()
