"""Helpers for UI tests and the app benchmark: wait for the event loop, measure its stalls."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QTimer


class StallMeter(QObject):
    """A timer that should fire every `interval_ms`: the longest gap between two ticks is the longest
    time the event loop could not run (a frozen UI), minus one interval at most."""

    def __init__(self, interval_ms: int = 10, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.interval_ms = interval_ms
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last: float | None = None
        self.gaps_ms: list[float] = []

    def start(self) -> None:
        self.gaps_ms.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps_ms.append((now - self._last) * 1000)
        self._last = now

    @property
    def max_gap_ms(self) -> float:
        return max(self.gaps_ms, default=0.0)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.gaps_ms, q)) if self.gaps_ms else 0.0


def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0, step_s: float = 0.005) -> bool:
    """Run the event loop until `predicate()` holds; False on timeout."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        QCoreApplication.processEvents()
        if predicate():
            return True
        time.sleep(step_s)
    QCoreApplication.processEvents()
    return predicate()


def run_until(predicate: Callable[[], bool], timeout_s: float = 30.0, check_ms: int = 5) -> bool:
    """Run the event loop as the app runs it (blocked in `exec` until an event comes) until
    `predicate()` holds; False on timeout. Unlike `wait_until`'s poll of processEvents and sleep, the
    waiting costs nothing: a benchmark measures the window, not its own polling."""
    from PySide6.QtCore import QEventLoop

    if predicate():
        return True
    loop = QEventLoop()
    end = time.monotonic() + timeout_s
    timer = QTimer()
    timer.setInterval(check_ms)
    timer.timeout.connect(lambda: loop.quit() if predicate() or time.monotonic() >= end else None)
    timer.start()
    loop.exec()
    timer.stop()
    return predicate()
