"""The main window: image with detected pose on the left, 3D body on the right.

The UI owns no maths: it submits core calls to `LatestJobRunner` and draws what comes back.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QSplitter

from genhmr_app.image.loading import IMAGE_SUFFIXES
from genhmr_app.pipeline.session import CoreSession, ImageAnalysis
from genhmr_app.settings import AppSettings, load_settings, save_settings
from genhmr_app.ui.image_view import ImageView
from genhmr_app.ui.jobs import LatestJobRunner
from genhmr_app.ui.mesh_view import MeshView

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    def __init__(self, settings: AppSettings | None = None, session: CoreSession | None = None) -> None:
        super().__init__()
        self.setWindowTitle("GenHMR Studio")
        self.resize(1400, 820)
        self.setAcceptDrops(True)
        self.settings = settings or load_settings()
        self.session = session or CoreSession.create(self.settings.smpl_model_path, self.settings.device)
        self.current_path: Path | None = None
        self.last_analysis: ImageAnalysis | None = None
        self.last_error: str | None = None

        self.image_view = ImageView(self)
        self.mesh_view = MeshView(self)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.image_view)
        splitter.addWidget(self.mesh_view)
        splitter.setSizes([800, 600])
        self.setCentralWidget(splitter)

        self.runner = LatestJobRunner(self)
        self.runner.result.connect(self._on_result)
        self.runner.error.connect(self._on_error)
        self.runner.busy_changed.connect(self._on_busy)

        self._model_label = QLabel()
        self._device_label = QLabel()
        self._timing_label = QLabel()
        for label in (self._timing_label, self._model_label, self._device_label):
            self.statusBar().addPermanentWidget(label)
        self._build_menus()
        self._refresh_status()
        if self.session.body_model_warning:
            # A broken user SMPL file is reported once, visibly; the embedded model keeps the app usable.
            QTimer.singleShot(0, lambda: self._warn("Body model", self.session.body_model_warning))
        self._show_rest_body()

    # -- menus -----------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._add_action(file_menu, "&Open Image…", QKeySequence.StandardKey.Open, self.open_dialog)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._rebuild_recent_menu()
        file_menu.addSeparator()
        self._add_action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)

        view_menu = self.menuBar().addMenu("&View")
        self.keypoints_action = QAction("Detected &Keypoints", self, checkable=True, checked=True)
        self.keypoints_action.setShortcut("K")
        self.keypoints_action.toggled.connect(lambda on: self.image_view.set_overlay_visible("keypoints", on))
        view_menu.addAction(self.keypoints_action)
        self._add_action(view_menu, "&Fit Image", "F", self.image_view.fit)
        view_menu.addSeparator()
        for key, name in (("1", "front"), ("2", "side"), ("3", "top")):
            self._add_action(view_menu, f"3D {name.capitalize()} View", key, lambda n=name: self.mesh_view.set_view(n))

        help_menu = self.menuBar().addMenu("&Help")
        self._add_action(help_menu, "&About GenHMR Studio", None, self.show_about)

    def _add_action(self, menu, text, shortcut, slot) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _=False: slot())
        menu.addAction(action)
        return action

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            self._add_action(self.recent_menu, path, None, lambda p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))

    # -- opening ---------------------------------------------------------------------------
    def open_dialog(self) -> None:
        patterns = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", f"Images ({patterns});;All files (*)")
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> int:
        """Analyse a file in the background. The current picture stays until the new one is ready,
        so a bad file never blanks the user's work."""
        path = Path(path)
        self.statusBar().showMessage(f"Opening {path.name}…")
        return self.runner.submit(self.session.analyse_image_file, path)

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(urls[0])

    # -- results ---------------------------------------------------------------------------
    def _on_result(self, _serial: int, analysis: ImageAnalysis) -> None:
        self.last_analysis = analysis
        self.last_error = None
        self.current_path = analysis.image.path
        self.image_view.set_image(analysis.image.rgb)
        people = analysis.detection.people
        if people:
            person = people[0]
            edges, sides = self.session.skeleton_33()
            self.image_view.set_skeleton(
                "keypoints", person.landmarks_px, edges, person.visibility, sides,
                visible=self.keypoints_action.isChecked(),
            )
            message = f"{analysis.image.path.name}: {len(people)} person(s) found"
        else:
            message = f"{analysis.image.path.name}: no person found"
        self.statusBar().showMessage(message)
        self._timing_label.setText(f"load {analysis.load_ms:.0f} ms · detect {analysis.detection.timing_ms:.0f} ms")
        self.settings.add_recent(analysis.image.path)
        self._rebuild_recent_menu()

    def _on_error(self, _serial: int, message: str) -> None:
        self.last_error = message
        self.statusBar().showMessage(f"Error: {message}")
        self._warn("Could not open", message)

    def _on_busy(self, busy: bool) -> None:
        self.setCursor(Qt.CursorShape.BusyCursor if busy else Qt.CursorShape.ArrowCursor)

    def _warn(self, title: str, message: str) -> None:
        # Non-modal, so tests and live demos are not blocked by a dialog waiting for a click.
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setModal(False)
        box.setObjectName("warning_box")
        box.show()

    def _show_rest_body(self) -> None:
        body = self.session.body_model
        if body is not None:
            vertices = self.session.rest_vertices()
            self.mesh_view.show_mesh(vertices, body.faces, reset_camera=True)

    def _refresh_status(self) -> None:
        self._model_label.setText(f"Body model: {self.session.body_model_name}")
        self._device_label.setText(f"Device: {self.session.device_name}")

    # -- about / lifecycle -----------------------------------------------------------------
    def show_about(self) -> None:
        from genhmr_app import __version__
        from genhmr_app.paths import REPO_ROOT

        notice = REPO_ROOT / "NOTICE"
        text = notice.read_text() if notice.exists() else "NOTICE file not found."
        box = QMessageBox(self)
        box.setWindowTitle("About GenHMR Studio")
        box.setText(f"GenHMR Studio {__version__}\nGenerative human mesh recovery.")
        box.setDetailedText(text)
        box.setModal(False)
        box.show()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.runner.wait_idle(10.0)
        try:
            save_settings(self.settings)
        except OSError as exc:
            log.warning("could not save settings: %s", exc)
        self.session.close()
        self.mesh_view.close_view()
        super().closeEvent(event)
