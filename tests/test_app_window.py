"""The first window: open a photo, see the detected skeleton and the body mesh; bad files don't hurt.

Needs a display for the VTK viewport: run under `xvfb-run` (scripts/test.sh does).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from genhmr_app.paths import REPO_ROOT

pytestmark = pytest.mark.gui

if not os.environ.get("DISPLAY"):
    pytest.skip("the VTK viewport needs a display; run under xvfb-run (scripts/test.sh)", allow_module_level=True)

from genhmr_app.ui.app import prepare_qt_environment  # noqa: E402

prepare_qt_environment()

ARTIFACTS = REPO_ROOT / "artifacts"


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("GENHMR_SETTINGS", str(tmp_path / "settings.json"))
    from genhmr_app.settings import AppSettings
    from genhmr_app.ui.main_window import MainWindow

    win = MainWindow(settings=AppSettings())
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def _open_and_wait(qtbot, win, path) -> None:
    with qtbot.waitSignal(win.runner.busy_changed, timeout=60_000, check_params_cb=lambda busy: not busy):
        win.open_path(path)


def test_open_photo_shows_pose_and_mesh(qtbot, window, photo_path):
    assert window.mesh_view.available, window.mesh_view.unavailable_reason
    _open_and_wait(qtbot, window, photo_path)
    analysis = window.last_analysis
    assert analysis is not None and window.last_error is None
    assert len(analysis.detection.people) >= 1
    assert "keypoints" in window.image_view.overlay_names()
    assert window.mesh_view._mesh is not None and window.mesh_view._mesh.n_points == window.session.body_model.info.num_vertices
    status = " ".join(w.text() for w in window.statusBar().findChildren(type(window._model_label)))
    assert "Body model:" in status and window.session.body_model_name in status
    assert "Device: CPU" in status or "Device: CUDA" in status
    ARTIFACTS.mkdir(exist_ok=True)
    shot = window.grab()
    assert shot.save(str(ARTIFACTS / "window_first_slice.png"))
    # A real render, not a blank widget: the viewport has both skin and background pixels.
    img = window.mesh_view.grab_screenshot()
    assert img is not None and img.std() > 10


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "truncated"])
def test_bad_file_keeps_previous_work(qtbot, window, photo_path, tmp_path, kind):
    _open_and_wait(qtbot, window, photo_path)
    good = window.last_analysis
    bad = tmp_path / "bad.jpg"
    if kind == "text":
        bad.write_text("not an image")
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        bad.write_bytes(Path(photo_path).read_bytes()[:2000])
    _open_and_wait(qtbot, window, bad)
    assert window.last_error, "the user must be told what went wrong"
    assert window.last_analysis is good, "a bad file must not replace the current result"
    assert window.image_view.has_image()
    # Still usable: the next good file opens.
    _open_and_wait(qtbot, window, photo_path)
    assert window.last_error is None


def test_no_person_image_is_not_an_error(qtbot, window, tmp_path):
    from PIL import Image

    path = tmp_path / "sky.png"
    Image.fromarray(np.full((240, 320, 3), (120, 170, 230), dtype=np.uint8)).save(path)
    _open_and_wait(qtbot, window, path)
    assert window.last_error is None
    assert window.last_analysis.detection.people == []
    assert "no person" in window.statusBar().currentMessage()
