"""The UI's job runner (ui/jobs.py): newest request wins, and the next job starts the moment one ends,
without waiting for the UI thread to handle the previous result."""

from __future__ import annotations

import threading
import time

import pytest

from genhmr_app.ui.app import prepare_qt_environment

prepare_qt_environment()

from genhmr_app.ui.jobs import LatestJobRunner  # noqa: E402


@pytest.fixture
def runner(qtbot):
    from PySide6.QtWidgets import QWidget

    owner = QWidget()
    qtbot.addWidget(owner)
    r = LatestJobRunner(owner)
    yield r
    r.close()


def test_the_waiting_job_starts_while_the_ui_thread_is_busy(runner, qtbot):
    started: dict[str, float] = {}
    release = threading.Event()

    def job(name: str, hold: bool = False) -> str:
        started[name] = time.perf_counter()
        if hold:
            release.wait(5)
        return name

    results = []
    runner.result.connect(lambda _serial, value: results.append(value))
    runner.submit(job, "first", True)
    qtbot.waitUntil(lambda: "first" in started, timeout=5000)
    runner.submit(job, "second")  # replaced before it runs: dropped
    runner.submit(job, "third")
    release.set()
    busy_from = time.perf_counter()
    time.sleep(0.3)  # the UI thread is busy: no events are processed here
    assert "second" not in started and runner.dropped == 1
    assert "third" in started and started["third"] < busy_from + 0.3, "the next job waited for the UI thread"
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert results == ["third"]  # the superseded first result is not shown


def test_errors_reach_the_ui_and_the_runner_goes_on(runner, qtbot):
    errors, results, busy = [], [], []
    runner.error.connect(lambda _serial, message: errors.append(message))
    runner.result.connect(lambda _serial, value: results.append(value))
    runner.busy_changed.connect(busy.append)

    def fails():
        raise ValueError("the file is damaged")

    runner.submit(fails)
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert errors == ["the file is damaged"]
    runner.submit(lambda: 42)
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert results == [42] and busy == [True, False, True, False]


def test_superseded_results_are_shown_when_asked(qtbot):
    from PySide6.QtWidgets import QWidget

    owner = QWidget()
    qtbot.addWidget(owner)
    runner = LatestJobRunner(owner, show_superseded=True)
    gate = threading.Event()
    results = []
    runner.result.connect(lambda _serial, value: results.append(value))
    runner.submit(lambda: gate.wait(5) and "first")
    runner.submit(lambda: "second")
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    runner.close()
    assert results == ["first", "second"]
