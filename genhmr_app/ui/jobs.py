"""Run core work off the UI thread, one job in flight, newest request wins.

Built on superqt's `create_worker` (the napari pattern). A request that arrives while a job runs
replaces any earlier waiting request, so live inputs never queue up stale frames, and the result of
a job that has been superseded is dropped rather than shown.

A job submitted with `with_progress=True` receives a `report(value)` callable; each value arrives on
the UI thread as `progress(serial, value)` (a queued signal), and only while the job is the newest.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal
from superqt.utils import create_worker

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
    _relay = Signal(int, object)  # emitted from the worker thread; Qt queues it to this object's thread

    def __init__(self, parent: QObject | None = None, show_superseded: bool = False) -> None:
        """`show_superseded`: also deliver the results of jobs a newer request has replaced (a drag
        shows every refit that finishes, not only the last one)."""
        super().__init__(parent)
        self.show_superseded = show_superseded
        self._serial = 0
        self._running: _Request | None = None
        self._pending: _Request | None = None
        self._worker = None
        self.dropped = 0  # requests replaced before they ran: a measure of load for live input
        self._relay.connect(self._on_progress)

    @property
    def busy(self) -> bool:
        return self._running is not None

    def submit(self, func: Callable[..., Any], *args: Any, with_progress: bool = False, **kwargs: Any) -> int:
        self._serial += 1
        if with_progress:
            serial = self._serial
            kwargs["report"] = lambda value, s=serial: self._relay.emit(s, value)
        request = _Request(self._serial, func, args, kwargs)
        if self._running is None:
            self._start(request)
        else:
            if self._pending is not None:
                self.dropped += 1
            self._pending = request
        return request.serial

    def latest_serial(self) -> int:
        return self._serial

    def _start(self, request: _Request) -> None:
        self._running = request
        # Errors are handled here (the `failed` signal); superqt would otherwise re-raise them in the
        # event loop.
        worker = create_worker(request.func, *request.args, _start_thread=False, _ignore_errors=True,
                               **request.kwargs)
        worker.returned.connect(lambda value, r=request: self._on_returned(r, value))
        worker.errored.connect(lambda exc, r=request: self._on_errored(r, exc))
        worker.finished.connect(lambda r=request: self._on_finished(r))
        self._worker = worker
        self.busy_changed.emit(True)
        worker.start()

    def _on_returned(self, request: _Request, value: Any) -> None:
        # The waiting request starts before this result is shown: drawing a result takes the UI thread
        # tens of milliseconds, and the next job need not wait for that (the two overlap).
        self._start_next(request)
        if request.serial == self._serial or self.show_superseded:  # else only the newest result is wanted
            self.result.emit(request.serial, value)

    def _on_progress(self, serial: int, value: Any) -> None:
        if serial == self._serial:
            self.progress.emit(serial, value)

    def _on_errored(self, request: _Request, exc: BaseException) -> None:
        log.warning("job failed: %s: %s", type(exc).__name__, exc)
        log.debug("%s", "".join(traceback.format_exception(exc)))
        if request.serial != self._serial:
            return  # superseded: the user has moved on, and the newer job reports for itself
        self.error.emit(request.serial, str(exc) or type(exc).__name__)
        self.failed.emit(request.serial, exc)

    def _on_finished(self, request: _Request) -> None:
        self._start_next(request)

    def _start_next(self, request: _Request) -> None:
        """`request` is done: start the waiting one, if any (once per request, whichever signal of
        its worker comes first)."""
        if self._running is not request:
            return
        self._running = None
        self._worker = None
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._start(pending)
        else:
            self.busy_changed.emit(False)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """For shutdown and tests: process events until no job runs."""
        import time

        from PySide6.QtCore import QCoreApplication

        end = time.monotonic() + timeout_s
        while (self._running is not None or self._pending is not None) and time.monotonic() < end:
            QCoreApplication.processEvents()
            time.sleep(0.005)
        return self._running is None
