"""The window with a still image: mesh, overlays, heatmap, sliders, hypotheses, exports, errors.

Needs a display for the VTK viewport: run under `xvfb-run` (scripts/test.sh does). The networks are
small untrained ones (the trained weights may not exist yet): the poses are meaningless, the plumbing
is real.
"""

from __future__ import annotations

import os
import shutil
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
RESULT_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def session():
    from genhmr_app.pipeline.session import CoreSession, untrained_model_factory

    s = CoreSession.create(model_factory=untrained_model_factory())
    yield s
    s.close()


def make_window(qtbot, tmp_path, monkeypatch, session, **settings_kw):
    monkeypatch.setenv("GENHMR_SETTINGS", str(tmp_path / "settings.json"))
    from genhmr_app.settings import AppSettings
    from genhmr_app.ui.main_window import MainWindow

    win = MainWindow(settings=AppSettings(**settings_kw), session=session)
    qtbot.addWidget(win)
    win.show()
    return win


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch, session):
    win = make_window(qtbot, tmp_path, monkeypatch, session)
    yield win
    win.close()


def wait_idle(qtbot, win) -> None:
    qtbot.waitUntil(lambda: not win.runner.busy and not win.controls.pending(), timeout=RESULT_TIMEOUT_MS)


def open_and_wait(qtbot, win, path) -> None:
    win.open_path(path)
    wait_idle(qtbot, win)


def status_text(win) -> str:
    from PySide6.QtWidgets import QLabel

    return " ".join(w.text() for w in win.statusBar().findChildren(QLabel))


def test_open_photo_shows_mesh_heatmap_and_timings(qtbot, window, photo_path):
    assert window.mesh_view.available, window.mesh_view.unavailable_reason
    open_and_wait(qtbot, window, photo_path)
    result = window.last_analysis
    assert result is not None and window.last_error is None
    assert len(result.detection.people) >= 1 and result.reconstruction is not None
    for name in ("keypoints", "smpl_skeleton", "mesh_fill"):
        assert name in window.image_view.overlay_names()
    # The 3D view shows the refined mesh (display frame), not the rest pose.
    from genhmr_app.pipeline.display import to_display

    shown = np.asarray(window.mesh_view._mesh.points)
    assert np.allclose(shown, to_display(result.views[0].vertices[0]), atol=1e-5)
    # The heatmap is filled: one column per iteration, no empty cell.
    panel = window.confidence_panel
    iterations = result.settings.iterations
    assert panel.filled == iterations and not np.isnan(panel.confidence).any()
    assert panel.confidence.shape == (iterations, 8) and len(panel.mean_confidence()) == iterations
    assert "code" in panel.tooltip_at(0, 0) and "p = " in panel.tooltip_at(iterations - 1, 7)
    text = status_text(window)
    for word in ("detect", "sample", "refine", "total", "Device: CPU", "Body:", "Model: GenHMR"):
        assert word in text, text
    img = window.mesh_view.grab_screenshot()
    assert img is not None and img.std() > 10
    ARTIFACTS.mkdir(exist_ok=True)
    qtbot.wait(100)
    assert window.grab().save(str(ARTIFACTS / "window.png"))


SLIDERS = [("iterations", 7), ("temperature", 0.0), ("refine_steps", 3), ("hypotheses", 3), ("seed", 42)]


def test_each_control_reruns_with_its_setting(qtbot, window, photo_path):
    open_and_wait(qtbot, window, photo_path)
    for name, value in SLIDERS:
        before = window.results_received
        getattr(window.controls, name).setValue(value)
        assert window.last_analysis.settings != window.current_settings(), "old result stays until the new one"
        wait_idle(qtbot, window)
        assert window.results_received == before + 1, f"{name}: one debounced re-run"
        assert getattr(window.last_analysis.settings, name) == pytest.approx(value), name
    assert window.hypotheses_panel.list.count() == 3
    assert window.settings.inference.seed == 42


def test_dragging_a_slider_runs_once(qtbot, window, photo_path):
    open_and_wait(qtbot, window, photo_path)
    before = window.results_received
    for v in range(2, 12):
        window.controls.iterations.setValue(v)
        qtbot.wait(10)
    wait_idle(qtbot, window)
    assert window.results_received == before + 1 and window.last_analysis.settings.iterations == 11


def test_a_release_applies_at_once_and_a_click_without_a_move_runs_nothing(qtbot):
    from genhmr_app.ui.controls import InferenceControls

    controls = InferenceControls()
    qtbot.addWidget(controls)
    emitted = []
    controls.changed.connect(emitted.append)
    controls.iterations.setSliderDown(True)
    controls.iterations.setValue(7)
    assert controls.pending() and not emitted, "a drag's moves wait for the debounce"
    controls.iterations.setSliderDown(False)  # the release
    assert not controls.pending() and [e.iterations for e in emitted] == [7], "the release applies at once"
    controls.iterations.setSliderDown(True)
    controls.iterations.setSliderDown(False)
    assert len(emitted) == 1 and not controls.pending(), "nothing moved: nothing re-runs"


def test_hypotheses_select_and_overlay(qtbot, window, photo_path):
    window.controls.hypotheses.setValue(3)
    open_and_wait(qtbot, window, photo_path)
    view = window.last_analysis.views[0]
    assert view.vertices.shape[0] == 3
    window.hypotheses_panel.list.setCurrentRow(2)
    from genhmr_app.pipeline.display import to_display

    assert np.allclose(np.asarray(window.mesh_view._mesh.points), to_display(view.vertices[2]), atol=1e-5)
    assert "hypothesis #3" in window.confidence_panel.caption.text()
    window.hypotheses_panel.overlay_all.setChecked(True)
    assert len(window.mesh_view._ghosts) == 2 and window.overlay_all_action.isChecked()
    window.mesh_view.set_colour_mode("uncertainty")
    assert window.mesh_view._body_actor.mapper.scalar_visibility and window.colour_action.isChecked()
    positions = set()
    for name in ("front", "side", "top", "reset"):
        window.mesh_view.set_view(name)
        positions.add(tuple(np.round(window.mesh_view.plotter.camera.position, 3)))
    assert len(positions) == 4
    window.mesh_wire_action.setChecked(True)
    assert "mesh_wire" in window.image_view.overlay_names()
    window.mesh_fill_action.setChecked(False)
    assert "mesh_fill" not in window.image_view.overlay_names()


def test_exports_keep_backups(qtbot, window, photo_path, tmp_path):
    import json

    import trimesh

    assert window.save_result_json(tmp_path / "r.json") is None and window.last_error, "nothing to save yet"
    open_and_wait(qtbot, window, photo_path)
    out = tmp_path / "out"
    assert window.save_result_json(out / "r.json") == out / "r.json"
    data = json.loads((out / "r.json").read_text())
    assert data["people"] and data["camera"]["axes"].startswith("opencv")
    assert window.export_smpl(out / "r.npz")
    assert set(np.load(out / "r.npz").files) >= {"global_orient", "body_pose", "betas", "transl"}
    for suffix in (".obj", ".ply", ".glb"):
        assert window.export_mesh(out / f"r{suffix}")
        assert len(trimesh.load(out / f"r{suffix}", force="mesh", process=False).vertices) == \
            window.session.body_model.info.num_vertices
    assert window.save_viewport_png(out / "r.png")
    window.save_result_json(out / "r.json")
    assert (out / "r.bak1.json").exists(), "an existing file is kept as a backup"
    assert "kept as r.bak1.json" in window.statusBar().currentMessage()


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "truncated", "video"])
def test_bad_file_keeps_previous_work(qtbot, window, photo_path, tmp_path, kind):
    open_and_wait(qtbot, window, photo_path)
    good = window.last_analysis
    bad = tmp_path / ("bad.mp4" if kind == "video" else "bad.jpg")
    if kind in ("text", "video"):
        bad.write_text("not an image")
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        bad.write_bytes(Path(photo_path).read_bytes()[:2000])
    open_and_wait(qtbot, window, bad)
    assert window.last_error, "the user must be told what went wrong"
    assert window.last_analysis is good, "a bad file must not replace the current result"
    assert window.image_view.has_image()
    assert window.input.path == Path(photo_path), "back to what is on screen"
    # Still usable: a slider re-runs the good image, and the next good file opens.
    window.controls.seed.setValue(5)
    wait_idle(qtbot, window)
    assert window.last_error is None and window.last_analysis.settings.seed == 5
    open_and_wait(qtbot, window, photo_path)
    assert window.last_error is None


def test_no_person_image_is_not_an_error(qtbot, window, tmp_path):
    from PIL import Image

    path = tmp_path / "sky.png"
    Image.fromarray(np.full((240, 320, 3), (120, 170, 230), dtype=np.uint8)).save(path)
    open_and_wait(qtbot, window, path)
    assert window.last_error is None
    assert window.last_analysis.detection.people == []
    assert "no person" in window.statusBar().currentMessage()


def test_folder_browsing(qtbot, window, shared_images, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    photos = sorted((shared_images / "photos").glob("*.jpg"))[:3]
    for p in photos:
        shutil.copy(p, folder / p.name)
    open_and_wait(qtbot, window, folder)
    assert window.source_bar.page() == "folder" and window.source_bar.folder.strip.count() == 3
    assert window.last_analysis.source_name == photos[0].name
    window.go_to_image(1)
    wait_idle(qtbot, window)
    assert window.last_analysis.source_name == photos[1].name
    qtbot.waitUntil(lambda: not window.source_bar.folder.strip.item(2).icon().isNull(), timeout=10_000)


def test_missing_weights_show_message_and_detection(qtbot, tmp_path, monkeypatch, photo_path):
    from genhmr_app.pipeline.session import CoreSession
    from genhmr_app.tokens.model import TokenizerCheckpointError

    def missing(_body, _device):
        raise TokenizerCheckpointError("Tokenizer weights not found: weights/tokenizer/pose_tokenizer.pt.")

    s = CoreSession.create(model_factory=missing)
    win = make_window(qtbot, tmp_path, monkeypatch, s)
    try:
        open_and_wait(qtbot, win, photo_path)
        assert win.last_error is None and win.last_analysis.detection.people
        assert "keypoints" in win.image_view.overlay_names()
        assert win.banner.isVisible() and "not found" in win.banner.text()
        assert "detection only" in status_text(win)
        assert win.mesh_view._mesh.n_points == s.body_model.info.num_vertices  # the rest body, no crash
    finally:
        win.close()
        s.close()


def test_settings_persist(qtbot, tmp_path, monkeypatch, session):
    from genhmr_app.settings import load_settings

    win = make_window(qtbot, tmp_path, monkeypatch, session)
    win.controls.set_values(type(win.controls.values())(iterations=9, temperature=0.5, refine_steps=4,
                                                         hypotheses=2, seed=3))
    win.close()
    saved = load_settings(tmp_path / "settings.json")
    assert saved.inference.iterations == 9 and saved.inference.temperature == 0.5
    assert (tmp_path / "window.ini").exists()
    win2 = make_window(qtbot, tmp_path, monkeypatch, session, inference=saved.inference)
    assert win2.controls.values().iterations == 9
    win2.show_about()
    win2.close()


@pytest.fixture(scope="module")
def person_clip(tmp_path_factory, shared_images):
    """24 frames of the shared tai chi video, small."""
    from clips import taiji_clip

    return taiji_clip(shared_images, tmp_path_factory.mktemp("clip") / "taiji24.avi", 24, (320, 180))


def test_export_animation_from_the_window_cancels_and_resumes(qtbot, window, person_clip, tmp_path):
    """File ▸ Export Animation: runs off the UI thread with progress; Cancel keeps the finished frames;
    exporting again resumes and writes the per-person files."""
    open_and_wait(qtbot, window, person_clip)
    out = tmp_path / "motion"
    progress = []
    worker = window.export_animation(out_dir=out, smooth=2.0)
    assert worker is not None and window.animation_dialog is not None
    window._animation_relay.progress.connect(lambda d, t: progress.append(d))
    qtbot.waitUntil(lambda: len(progress) >= 1, timeout=120_000)
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton

    cancel = window.animation_dialog.findChild(QPushButton)
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)  # the user presses Cancel
    qtbot.waitUntil(lambda: window.animation_summary is not None, timeout=120_000)
    first = window.animation_summary
    assert any("stopped at frame" in w for w in first["warnings"]), first
    kept = len(list((out / "frames").glob("frame_*.json")))
    assert 1 <= kept < 24
    window.animation_summary = None
    window.export_animation(out_dir=out, smooth=2.0)
    qtbot.waitUntil(lambda: window.animation_summary is not None, timeout=180_000)
    done = window.animation_summary
    assert "error" not in done and done["frames"] == 24 and len(done["tracks"]) == 1, done
    assert sorted(p.name for p in out.glob("person_0*")) == ["person_0.bvh", "person_0.glb", "person_0_smpl.npz"]
    assert "exported" in window.statusBar().currentMessage()

    # Before/after: the preview recomputes from the saved frames as the strength changes, and exports again.
    dialog = window.preview_smoothing()
    assert dialog is not None and dialog.tracks and dialog.sigma == 2.0
    at_two = dialog.preview.jitter_reduction
    dialog.slider.setValue(0)
    assert dialog.preview.jitter_reduction == pytest.approx(0.0, abs=1e-9)
    assert np.allclose(dialog.preview.smoothed, dialog.preview.raw)
    dialog.slider.setValue(8)  # sigma 4 frames
    assert dialog.preview.jitter_reduction > at_two > 0.3
    assert "lower" in dialog.summary.text()
    bvh = out / "person_0.bvh"
    before = bvh.read_bytes()
    window.animation_summary = None
    dialog.export_button.click()
    qtbot.waitUntil(lambda: window.animation_summary is not None, timeout=120_000)
    assert window.animation_summary["settings"]["smooth"] == 4.0
    assert bvh.read_bytes() != before
    dialog.close()


def test_export_animation_needs_a_video(qtbot, window, photo_path, tmp_path):
    open_and_wait(qtbot, window, photo_path)
    assert window.export_animation(out_dir=tmp_path, smooth=1.0) is None
    assert "Open a video first" in window.statusBar().currentMessage()


def test_everyone_in_a_photo_is_shown_and_can_be_chosen(qtbot, window, photo_path, tmp_path):
    """Two people side by side: both get a mesh (one in focus, the other beside it in 3D), both
    skeletons are drawn, and the person box, Tab or a click moves the focus; exports follow it."""
    from PIL import Image

    from genhmr_app.pipeline.display import to_display

    photo = np.asarray(Image.open(photo_path).convert("RGB"))
    pair = tmp_path / "pair.png"
    Image.fromarray(np.concatenate([photo, photo[:, ::-1]], axis=1)).save(pair)
    open_and_wait(qtbot, window, pair)
    result = window.last_analysis
    assert result.reconstruction is not None and len(result.reconstruction.people) == 2
    assert window.person_box.isVisibleTo(window) and window.person_box.count() == 2
    mesh = window.mesh_view
    assert len(mesh._others) == 1
    assert np.allclose(np.asarray(mesh._mesh.points), to_display(result.views[0].vertices[0]), atol=1e-5)
    assert np.allclose(np.asarray(mesh._others[0][1].points), to_display(result.views[1].vertices[0]), atol=1e-5)
    boxes = [p.detection.bbox for p in result.reconstruction.people]
    assert (boxes[0][0] + boxes[0][2]) / 2 != pytest.approx((boxes[1][0] + boxes[1][2]) / 2, abs=50)
    # Click the other person: the focus moves to them.
    b = boxes[1]
    window._on_image_clicked((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    assert window.selected_person == 1 and window.person_box.currentIndex() == 1
    assert np.allclose(np.asarray(mesh._mesh.points), to_display(result.views[1].vertices[0]), atol=1e-5)
    window.select_person(window.selected_person + 1)  # Tab wraps around
    assert window.selected_person == 0
    window.person_box.setCurrentIndex(1)
    assert window.selected_person == 1
    saved = window.export_smpl(tmp_path / "second_smpl.npz")
    data = np.load(saved)
    assert np.allclose(data["transl"].ravel(), result.reconstruction.people[1].best.transl, atol=1e-5)
    ARTIFACTS.mkdir(exist_ok=True)
    qtbot.wait(100)
    assert window.grab().save(str(ARTIFACTS / "window_two_people.png"))
