"""The main window: the input with its overlays on the left, the 3D body on the right, the sampling
controls and hypotheses in a side dock, the token-confidence plot in a bottom dock.

The UI owns no maths: it submits `CoreSession.process` to `LatestJobRunner` and draws what comes
back. Live input (a playing video, a camera) runs as a `LiveStream` (pipeline/live_stream.py):
capture, detection and the model each in their own thread, each taking the newest output of the
stage before; the window only draws the newest result, and frames that went by are skipped, never
queued.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QImage, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from genhmr_app import heap
from genhmr_app.image.loading import IMAGE_SUFFIXES, list_images
from genhmr_app.image.sources import VIDEO_SUFFIXES, SourceError, classify_path, probe_cameras, thumbnail
from genhmr_app.pipeline import display
from genhmr_app.pipeline.live_stream import LiveStream
from genhmr_app.pipeline.reconstructor import ReconstructionSettings
from genhmr_app.pipeline.session import CameraRef, CoreSession, FrameResult, OverlayRequest, PlaybackClock, VideoRef
from genhmr_app.settings import AppSettings, load_settings, save_settings, settings_path
from genhmr_app.ui import exporting
from genhmr_app.ui.confidence_panel import ConfidencePanel
from genhmr_app.ui.controls import HypothesesPanel, InferenceControls
from genhmr_app.ui.image_view import ImageView
from genhmr_app.ui.inputs import InputState
from genhmr_app.ui.jobs import LatestJobRunner
from genhmr_app.ui.mesh_view import MeshScene, MeshView
from genhmr_app.ui.source_bar import SourceBar

log = logging.getLogger(__name__)

SMPL_SKELETON_COLOUR = QColor(90, 255, 140)
FPS_WINDOW = 12  # results averaged for the live frame rate
LIVE_PLOT_HZ = 4  # token-confidence plot redraws per second while live
LIVE_WARNING_MS = 6000  # how long a live warning stays in the status bar
LIVE_PLOT_DEFER_MS = 1  # a live plot redraw waits for a timer: a pass of its own (_draw_person)
# Status bar text (timings, FPS) updates per second while live: a label changed every frame made the
# status bar relayout and repaint with the window's background beneath it 30+ times a second.
LIVE_STATUS_HZ = 4
# The photo's camera is drawn as a small pyramid: full-length rays to the body would cross every view.
FRUSTUM_DEPTH_M = 0.4


class _LiveBridge(QObject):
    """Carries a live stream's results from its model thread to the UI thread (queued signals). The
    int is the stream's number, so that a stopped stream's last result is ignored."""

    result = Signal(int, object)
    error = Signal(int, object)
    finished = Signal(int)


class MainWindow(QMainWindow):
    result_shown = Signal(object)  # the FrameResult now on screen (for benchmarks and tests)

    def __init__(self, settings: AppSettings | None = None, session: CoreSession | None = None) -> None:
        super().__init__()
        self.setWindowTitle("GenHMR Studio")
        self.resize(1400, 900)
        self.setAcceptDrops(True)
        self.settings = settings or load_settings()
        self._owns_session = session is None
        self.session = session or CoreSession.create(self.settings.smpl_model_path, self.settings.device)
        self.input = InputState()  # what the user asked for
        self._shown_input: InputState | None = None  # what produced the result on screen
        self.shown: FrameResult | None = None
        self.last_error: str | None = None
        self.selected_hypothesis = 0
        self.selected_person = 0  # index into the shown result's people (largest first)
        self._animation_interactive = False
        self.playing = False
        self.camera_live = False
        self._clock: PlaybackClock | None = None
        self._result_times: deque[float] = deque(maxlen=FPS_WINDOW)
        self.results_received = 0
        self.stream: LiveStream | None = None  # the running live stream (a playing video, a camera)
        self._stream_number = 0
        self._plot_shown_at = 0.0
        self._live_plot: tuple | None = None  # the token-confidence plot's next live content, not drawn yet
        self._status_shown_at = 0.0
        self.last_stream_stats: dict[str, int] = {}  # frames through the last stream's stages (benchmarks)
        self._live_pending: FrameResult | None = None  # the newest live result, not drawn yet
        self._live_first = False  # the next live result is a stream's first: frame the body
        self._live_view_warm = False  # the 3D view has drawn a live-like scene once (_warm_live_view)
        self._live_settings = ReconstructionSettings()
        self._live_overlays = OverlayRequest()
        self._bridge = _LiveBridge(self)
        self._bridge.result.connect(self._on_live_result)
        self._bridge.error.connect(self._on_live_error)
        self._bridge.finished.connect(self._on_live_finished)
        self.animation_dialog = None  # File ▸ Export Animation: its progress dialog while it runs
        self.animation_worker = None
        self.animation_summary: dict | None = None
        self._animation_cancel = False
        self._progress_serial = -1
        self._thumb_worker = None
        self._message_box: QMessageBox | None = None
        self._smpl_edges = self.session.smpl_skeleton()

        self._build_views()
        self._build_docks()
        self._build_status_bar()
        self._build_menus()

        self.runner = LatestJobRunner(self)
        self.runner.result.connect(self._on_result)
        self.runner.failed.connect(self._on_failed)
        self.runner.progress.connect(self._on_progress)
        self.runner.busy_changed.connect(self._on_busy)

        self._restore_window_state()
        self._refresh_status()
        if self.session.body_model_warning:
            # A broken user SMPL file is reported once, visibly; the embedded model keeps the app usable.
            QTimer.singleShot(0, lambda: self._warn("Body model", self.session.body_model_warning))
        self._show_rest_body()

    # -- layout -------------------------------------------------------------------------------
    def _build_views(self) -> None:
        self.banner = QLabel()
        self.banner.setObjectName("model_banner")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("QLabel { background: #6b5a1e; color: #fff4c8; padding: 4px 8px; }")
        self.banner.setVisible(False)

        self.image_view = ImageView(self)
        self.overlay_bar = QToolBar("Overlays")
        self.overlay_bar.setObjectName("overlay_toolbar")
        self.source_bar = SourceBar(self)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(0)
        left_layout.addWidget(self.overlay_bar)
        left_layout.addWidget(self.image_view, 1)
        left_layout.addWidget(self.source_bar)

        self.mesh_view = MeshView(self)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("main_splitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.mesh_view)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([560, 560])

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        video, folder, camera = self.source_bar.video, self.source_bar.folder, self.source_bar.camera
        video.play_toggled.connect(self.set_playing)
        video.seek_requested.connect(self.seek)
        video.step_requested.connect(self.step_frame)
        folder.index_requested.connect(self.go_to_image)
        camera.start_requested.connect(self.start_camera)
        camera.stop_requested.connect(self.stop_camera)
        camera.refresh_requested.connect(self.find_cameras)
        self.image_view.clicked.connect(self._on_image_clicked)
        self.mesh_view.colour_mode_changed.connect(lambda mode: self.colour_action.setChecked(mode == "uncertainty"))

    def _build_docks(self) -> None:
        self.controls = InferenceControls(self.settings.inference)
        self.controls.changed.connect(self._on_controls_changed)
        self._live_smoothing = self.settings.inference.live_smoothing  # read by the live model thread
        self.controls.smoothing_changed.connect(self._on_smoothing_changed)
        self.hypotheses_panel = HypothesesPanel()
        self.hypotheses_panel.selected.connect(self.select_hypothesis)
        self.hypotheses_panel.overlay_all_changed.connect(self._on_overlay_all)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.addWidget(self.controls)
        side_layout.addWidget(self.hypotheses_panel, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(side)
        self.controls_dock = QDockWidget("Controls", self)
        self.controls_dock.setObjectName("controls_dock")
        self.controls_dock.setWidget(scroll)
        self.controls_dock.setMinimumWidth(300)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.controls_dock)

        self.confidence_panel = ConfidencePanel()
        self.confidence_dock = QDockWidget("Token confidence", self)
        self.confidence_dock.setObjectName("confidence_dock")
        self.confidence_dock.setWidget(self.confidence_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.confidence_dock)
        self.resizeDocks([self.confidence_dock], [230], Qt.Orientation.Vertical)

    def _build_status_bar(self) -> None:
        self.person_box = QComboBox()
        self.person_box.setObjectName("person_box")
        self.person_box.setToolTip("Which person the panels and the 3D view focus on (Tab: next; or click them)")
        self.person_box.setVisible(False)
        self.person_box.currentIndexChanged.connect(lambda i: self.select_person(i) if i >= 0 else None)
        self.statusBar().addPermanentWidget(self.person_box)
        self._timing_label = QLabel()
        self._timing_label.setObjectName("timing_label")
        self._fps_label = QLabel()
        self._fps_label.setObjectName("fps_label")
        self._model_label = QLabel()
        self._device_label = QLabel()
        self._body_label = QLabel()
        for label in (self._timing_label, self._fps_label, self._model_label, self._device_label, self._body_label):
            self.statusBar().addPermanentWidget(label)
        self._fps_label.setVisible(False)

    # -- menus ----------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self._add_action(file_menu, "&Open Image or Video…", QKeySequence.StandardKey.Open, self.open_dialog)
        self._add_action(file_menu, "Open &Folder…", "Ctrl+Shift+O", self.open_folder_dialog)
        self._add_action(file_menu, "Open &Camera", "Ctrl+Shift+C", self.show_camera_controls)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._rebuild_recent_menu()
        file_menu.addSeparator()
        self._add_action(file_menu, "&Save Result (JSON)…", QKeySequence.StandardKey.Save, lambda: self.save_result_json())
        self._add_action(file_menu, "Export SMPL &Parameters (.npz)…", "Ctrl+Shift+E", lambda: self.export_smpl())
        self._add_action(file_menu, "&Export Mesh (OBJ, PLY, GLB)…", "Ctrl+E", lambda: self.export_mesh())
        self._add_action(file_menu, "Save 3D &Viewport as PNG…", "Ctrl+Shift+S", lambda: self.save_viewport_png())
        self._add_action(file_menu, "Export &Animation (BVH, GLB, SMPL)…", "Ctrl+Alt+E", lambda: self.export_animation())
        self.preview_smoothing_action = self._add_action(file_menu, "Animation S&moothing: Before and After…", None,
                                                         lambda: self.preview_smoothing())
        self.preview_smoothing_action.setEnabled(False)
        file_menu.addSeparator()
        self._add_action(file_menu, "Pre&ferences…", QKeySequence.StandardKey.Preferences, self.show_preferences)
        self._add_action(file_menu, "&Quit", QKeySequence.StandardKey.Quit, self.close)

        view_menu = self.menuBar().addMenu("&View")
        self.keypoints_action = self._toggle("Detected &Keypoints", "K", True, self._apply_overlay_visibility)
        self.smpl_skeleton_action = self._toggle("Body &Skeleton (projected)", "S", True, self._apply_overlay_visibility)
        self.mesh_fill_action = self._toggle("Mesh &Fill (translucent)", "M", True, self._on_mesh_overlay_toggled)
        self.mesh_wire_action = self._toggle("Mesh &Wireframe", "W", False, self._on_mesh_overlay_toggled)
        for action, short in ((self.keypoints_action, "Keypoints"), (self.smpl_skeleton_action, "Skeleton"),
                              (self.mesh_fill_action, "Mesh"), (self.mesh_wire_action, "Wireframe")):
            action.setIconText(short)
            action.setToolTip(f"{action.text().replace('&', '')} ({action.shortcut().toString()})")
            view_menu.addAction(action)
            self.overlay_bar.addAction(action)
        fit = self._add_action(view_menu, "Fit &Image", "F", self.image_view.fit)
        fit.setIconText("Fit")
        self.overlay_bar.addSeparator()
        self.overlay_bar.addAction(fit)
        view_menu.addSeparator()
        for key, name in (("1", "front"), ("2", "side"), ("3", "top"), ("0", "reset")):
            label = "Reset (Photo Camera)" if name == "reset" else name.capitalize()
            self._add_action(view_menu, f"3D {label} View", key, lambda n=name: self.mesh_view.set_view(n))
        self.colour_action = self._toggle("Colour by &Uncertainty", "U", False, lambda on: self.mesh_view.set_colour_mode(
            "uncertainty" if on else "skin"))
        self.overlay_all_action = self._toggle("Overlay All &Hypotheses", "H", False,
                                               lambda on: self.hypotheses_panel.overlay_all.setChecked(on))
        view_menu.addAction(self.colour_action)
        view_menu.addAction(self.overlay_all_action)
        view_menu.addSeparator()
        self.everyone_action = self._toggle("Find &Everyone (thorough search on stills)", "Ctrl+Shift+P", False,
                                            lambda _on: self._on_everyone_toggled())
        self.everyone_action.setToolTip("Search the picture for people MediaPipe's own person detector misses "
                                        "(small or crowded); about a second per picture")
        view_menu.addAction(self.everyone_action)
        self._add_action(view_menu, "Next &Person", "Tab", lambda: self.select_person(self.selected_person + 1))
        view_menu.addSeparator()
        view_menu.addAction(self.controls_dock.toggleViewAction())
        view_menu.addAction(self.confidence_dock.toggleViewAction())

        play_menu = self.menuBar().addMenu("&Playback")
        self._add_action(play_menu, "&Play / Pause", "Space", lambda: self.set_playing(not self.playing))
        self._add_action(play_menu, "&Next Frame", ".", lambda: self.step_frame(1))
        self._add_action(play_menu, "P&revious Frame", ",", lambda: self.step_frame(-1))
        self._add_action(play_menu, "Next &Image", QKeySequence(Qt.Key.Key_PageDown),
                         lambda: self.go_to_image(self.input.folder_index + 1))
        self._add_action(play_menu, "Previous I&mage", QKeySequence(Qt.Key.Key_PageUp),
                         lambda: self.go_to_image(self.input.folder_index - 1))

        help_menu = self.menuBar().addMenu("&Help")
        self._add_action(help_menu, "&Keyboard Shortcuts", QKeySequence.StandardKey.HelpContents, self.show_shortcuts)
        self._add_action(help_menu, "&About GenHMR Studio", None, self.show_about)

    def _add_action(self, menu, text, shortcut, slot) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _=False: slot())
        menu.addAction(action)
        return action

    def _toggle(self, text: str, shortcut: str, checked: bool, slot) -> QAction:
        action = QAction(text, self, checkable=True, checked=checked)
        action.setShortcut(shortcut)
        action.toggled.connect(slot)
        return action

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            self._add_action(self.recent_menu, path, None, lambda p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))

    # -- opening --------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        images = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        videos = " ".join(f"*{s}" for s in VIDEO_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(
            self, "Open image or video", "", f"Images and videos ({images} {videos});;Images ({images});;"
            f"Videos ({videos});;All files (*)")
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open folder of images")
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> int | None:
        """Open an image, a folder or a video. The current result stays on screen until the new one
        is ready, so a bad file never blanks the user's work."""
        path = Path(path)
        try:
            kind = classify_path(path)
        except SourceError as exc:
            self._report_error(str(exc), "Could not open")
            return None
        self._stop_live()
        if kind == "folder":
            images = list_images(path)
            if not images:
                self._report_error(f"{path} contains no images", "Could not open")
                return None
            self.input = InputState(kind="folder", path=path, folder=images)
            self.source_bar.folder.set_paths(images)
            self.source_bar.folder.set_current(0)
            self._load_thumbnails(images)
        else:
            self.input = InputState(kind=kind, path=path)
        # The model process loads while the user looks at the first result: live frames and later still
        # requests (a slider, the next image) run there.
        self.session.prepare_live()
        if kind == "video":
            self.session.prepare_video_detector()
            QTimer.singleShot(0, self._warm_live_view)
        self.source_bar.show_page(kind if kind != "image" else None)
        self.statusBar().showMessage(f"Opening {path.name}…")
        return self.request()

    def go_to_image(self, index: int) -> None:
        if self.input.kind != "folder" or not self.input.folder:
            return
        index = int(np.clip(index, 0, len(self.input.folder) - 1))
        self.input.folder_index = index
        self.source_bar.folder.set_current(index)
        self.request()

    def _load_thumbnails(self, paths: list[Path]) -> None:
        if self._thumb_worker is not None:
            self._thumb_worker.quit()

        def thumbs():
            for i, p in enumerate(paths):
                try:
                    yield i, thumbnail(p)
                except Exception:  # noqa: BLE001 - a bad file just gets no icon
                    continue

        worker = create_worker(thumbs, _start_thread=False)
        worker.yielded.connect(lambda item: self.source_bar.folder.set_thumbnail(item[0], _qimage(item[1])))
        self._thumb_worker = worker
        worker.start()

    # -- video ----------------------------------------------------------------------------------
    def set_playing(self, on: bool) -> None:
        if self.input.kind != "video":
            self.source_bar.video.set_playing(False)
            return
        if on == self.playing:
            self.source_bar.video.set_playing(on)
            return
        self.playing = on
        self.source_bar.video.set_playing(on)
        self._result_times.clear()
        if on:
            if self.input.frame_index >= self.input.frame_count - 1:
                self.input.frame_index = 0
            self._clock = PlaybackClock(self.input.fps, self.input.frame_index)
            self._start_stream()
        else:
            self._stop_stream()
            self._clock = None
            self._fps_label.setVisible(False)
            self.request()  # the paused frame at full quality (IMAGE-mode detection, cached for sliders)

    def seek(self, index: int) -> None:
        if self.input.kind != "video":
            return
        index = int(np.clip(index, 0, max(self.input.frame_count - 1, 0)))
        self.input.frame_index = index
        self.source_bar.video.set_position(index)
        if self.playing:
            self._clock = PlaybackClock(self.input.fps, index)
            self._start_stream()
        else:
            self.request()

    def step_frame(self, delta: int) -> None:
        if self.input.kind != "video":
            return
        if self.playing:
            self.set_playing(False)
        self.seek(self.input.frame_index + delta)

    # -- camera ---------------------------------------------------------------------------------
    def show_camera_controls(self) -> None:
        self.session.prepare_live()
        self.session.prepare_video_detector()
        QTimer.singleShot(0, self._warm_live_view)
        self.source_bar.show_page("camera")
        self.find_cameras()

    def find_cameras(self) -> None:
        self.source_bar.camera.set_message("Looking for cameras…")
        worker = create_worker(probe_cameras, capture_factory=self.session.capture_factory, _start_thread=False,
                               _ignore_errors=True)
        worker.returned.connect(self._on_cameras_found)
        self._probe_worker = worker  # keep a reference until it finishes
        worker.start()

    def _on_cameras_found(self, devices: list[int]) -> None:
        self.source_bar.camera.set_devices(devices)
        if devices:
            self.source_bar.camera.set_message(f"{len(devices)} camera(s) found")
        else:
            self.source_bar.camera.set_message("No camera found. Plug one in and press Find cameras.", error=True)

    def start_camera(self, device: int = 0) -> None:
        self._stop_live()
        self.input = InputState(kind="camera", camera=int(device))
        self.source_bar.show_page("camera")
        self.source_bar.camera.set_live(True)
        self.source_bar.camera.set_message(f"Starting camera {device}…")
        self.camera_live = True
        self._result_times.clear()
        self._start_stream()

    def stop_camera(self, message: str = "Stopped. The last result stays on screen.") -> None:
        was_live = self.camera_live
        self.camera_live = False
        self.source_bar.camera.set_live(False)
        self.source_bar.camera.set_message(message, error="disconnect" in message.lower() or "no camera" in message.lower())
        self._fps_label.setVisible(False)
        self._stop_stream()
        if was_live:
            self.runner.submit(self.session.release_camera)

    def _stop_live(self, wait_s: float = 0.0) -> None:
        self._stop_stream(wait_s)
        if self.playing:
            self.playing = False
            self._clock = None
            self.source_bar.video.set_playing(False)
        if self.camera_live:
            self.stop_camera()
        self._fps_label.setVisible(False)

    # -- live streams ---------------------------------------------------------------------------
    def _start_stream(self) -> None:
        """(Re)starts the live stream for the current input: the playing video from its clock, or
        the camera."""
        self._stop_stream(sharp_view=False)  # about to go live again: no full-size picture in between
        heap.settle(collect=False)  # what was made since the last settle is not walked during the stream
        ref, clock = self.input.ref(live=True), self._clock
        if ref is None:
            return
        self._update_live_request()
        number = self._stream_number
        bridge = self._bridge

        def make_ref(frame):
            return VideoRef(ref.path, frame.index, True) if isinstance(ref, VideoRef) else ref

        self.session.prepare_live()
        self.stream = LiveStream(
            self.session, lambda: self.session.open_live(ref, clock), make_ref,
            settings=lambda: self._live_settings, overlays=lambda: self._live_overlays,
            on_result=lambda result: bridge.result.emit(number, result),
            on_error=lambda exc: bridge.error.emit(number, exc),
            on_finished=lambda: bridge.finished.emit(number),
            smoothing=lambda: self._live_smoothing, shown_scale=self.image_view.scale_for).start()
        self._live_first = True
        self.confidence_panel.prepare_live(self.session.live_token_count())
        self.mesh_view.set_interacting(True)  # half-size 3D pictures while live: a render costs CPU the model needs

    def _stop_stream(self, wait_s: float = 0.0, sharp_view: bool = True) -> None:
        """`wait_s`: wait for its threads (closing the window); otherwise the model stage finishes
        its frame in the background and the result is dropped. `sharp_view`: back to full-size 3D
        pictures (a render at full size costs the event loop ~50 ms)."""
        if self.stream is not None:
            self.stream.stop(wait_s)
            self.last_stream_stats = {"frames_detected": self.stream.frames_detected,
                                      "model_results": self.stream.results,
                                      "detected_not_modelled": self.stream.frames_dropped}
            self.stream = None
        self._stream_number += 1  # whatever the old stream still delivers is ignored
        self._live_pending = None
        if sharp_view:
            self.mesh_view.set_interacting(False)
            self.session.prepare_video_detector()  # for the next stream, while nothing plays

    def _update_live_request(self) -> None:
        # Read by the stream's model thread for every frame: slider changes apply to the next frame.
        self._live_settings = self.current_settings()
        self._live_overlays = OverlayRequest(fill=self.mesh_fill_action.isChecked(),
                                             wire=self.mesh_wire_action.isChecked())

    def _on_live_result(self, number: int, result: FrameResult) -> None:
        if number != self._stream_number:
            return
        if self._live_pending is None:
            QTimer.singleShot(0, self._draw_live)  # results that arrive before it runs replace this one
        elif self._live_pending.warnings:  # ... but what the replaced one had to say is kept
            result.warnings = [*self._live_pending.warnings, *result.warnings]
        self._live_pending = result

    def _draw_live(self) -> None:
        result, self._live_pending = self._live_pending, None
        if result is None or not (self.playing or self.camera_live):
            return
        self.results_received += 1
        if isinstance(result.ref, VideoRef):
            self.input.frame_index = result.frame.index
        has_body = result.reconstruction is not None and bool(result.views)
        self._show(result, live=True, reset_camera=self._live_first and has_body)
        self._live_first = self._live_first and not has_body

    def _on_live_error(self, number: int, exc: BaseException) -> None:
        if number == self._stream_number:
            self._draw_live()  # the frames seen before the failure stay on screen
            self._stop_stream()
            self._on_failed(0, exc)

    def _on_live_finished(self, number: int) -> None:
        if number != self._stream_number:
            return
        self._draw_live()  # the last frame first
        if self.playing:
            self.set_playing(False)

    # -- requests -------------------------------------------------------------------------------
    def current_settings(self) -> ReconstructionSettings:
        v = self.controls.values()
        return ReconstructionSettings(v.iterations, v.temperature, v.refine_steps, v.hypotheses, v.seed)

    def request(self) -> int | None:
        """The shown input at full quality: a still, a folder's image or a paused video frame (live
        input runs as a LiveStream instead)."""
        if self.input.kind == "camera":
            return None  # a stopped camera is not reopened by a slider; the last result stays
        ref = self.input.ref(live=False)
        if ref is None:
            return None
        overlays = OverlayRequest(fill=self.mesh_fill_action.isChecked(), wire=self.mesh_wire_action.isChecked())
        return self.runner.submit(self.session.process, ref, self.current_settings(), overlays, with_progress=True,
                                  find_everyone=self.everyone_action.isChecked())

    def _on_smoothing_changed(self, strength: float) -> None:
        self._live_smoothing = strength  # the stream reads it for its next frame
        self.settings.inference = self.controls.values()

    def _on_controls_changed(self, values) -> None:
        self.settings.inference = values
        self._update_live_request()
        if not (self.playing or self.camera_live):
            self.request()  # live input picks the new settings up with its next frame

    # -- results --------------------------------------------------------------------------------
    def _on_progress(self, serial: int, record) -> None:
        if serial != self._progress_serial:
            self._progress_serial = serial
            k = record.confidence.shape[1]
            self.confidence_panel.start(self.current_settings().iterations, k, "Token confidence: sampling…")
        self.confidence_panel.add_record(record, 0)

    def _on_result(self, _serial: int, result: FrameResult | None) -> None:
        if result is None:
            return  # a housekeeping job (releasing the camera)
        self.results_received += 1  # a still, a paused video frame (live frames come from the stream)
        if isinstance(result.ref, VideoRef):
            self.input.frame_index = result.frame.index
            self.input.frame_count, self.input.fps = result.frame_count, result.source_fps or self.input.fps
        self._show(result, live=False)

    def _show(self, result: FrameResult, live: bool, reset_camera: bool = False) -> None:
        previous = self.shown
        same_source = previous is not None and type(previous.ref) is type(result.ref) and \
            getattr(previous.ref, "path", None) == getattr(result.ref, "path", None)
        if previous is None or result.frame.rgb is not previous.frame.rgb:
            # The next frame of the same stream keeps the user's zoom; a new picture is fitted.
            shown = result.display_rgb if result.display_rgb is not None else result.rgb
            self.image_view.set_image(shown, keep_view=same_source and isinstance(result.ref, (VideoRef, CameraRef)),
                                      full_size=(result.rgb.shape[1], result.rgb.shape[0]))
        self.shown = result
        self._shown_input = self.input.copy()
        self.last_error = None
        people = result.detection.people
        if people:
            # Everyone's keypoints in one overlay (one toggle, one scene item).
            edges, sides = self.session.skeleton_33()
            n = len(people[0].landmarks_px)
            self.image_view.set_skeleton(
                "keypoints", np.concatenate([p.landmarks_px for p in people]),
                [(a + i * n, b + i * n) for i in range(len(people)) for a, b in edges],
                np.concatenate([p.visibility for p in people]), list(sides) * len(people),
                visible=self.keypoints_action.isChecked())
        else:
            self.image_view.remove_overlay("keypoints")
        recon = result.reconstruction
        count = len(recon.people) if recon is not None else 0
        if not same_source or self.selected_person >= count:
            self.selected_person = 0
        self._update_person_box(count)
        if recon is not None and recon.people:
            n = len(recon.people[self.selected_person].hypotheses)
            self.selected_hypothesis = min(self.selected_hypothesis, n - 1)
            self.hypotheses_panel.set_hypotheses(recon.people[self.selected_person].hypotheses)
            self._draw_person(reset_camera=reset_camera or not same_source)
        else:
            for name in ("mesh_fill", "mesh_wire", "smpl_skeleton"):
                self.image_view.remove_overlay(name)
            self.hypotheses_panel.set_hypotheses([])
            caption = "Token confidence: " + ("no 3D model loaded" if result.model_message else "no person found")
            self.confidence_panel.clear(caption)
            if result.model_message and not same_source:
                self._show_rest_body()
        self._update_status(result, live)
        if isinstance(result.ref, VideoRef):
            self.source_bar.video.set_video(result.frame_count, result.source_fps or 25.0)
            self.source_bar.video.set_position(result.frame.index)
        if isinstance(result.ref, CameraRef) and self.camera_live:
            self.source_bar.camera.set_message(f"Live: camera {result.ref.device}")
        if not same_source and self.input.kind in ("image", "folder", "video"):
            self.settings.add_recent(self.input.path)
            self._rebuild_recent_menu()
        self.result_shown.emit(result)

    def _draw_person(self, reset_camera: bool = False) -> None:
        result = self.shown
        if result is None or result.reconstruction is None or not result.views:
            return
        chosen = min(self.selected_person, len(result.views) - 1)
        recon, view, person = result.reconstruction, result.views[chosen], result.reconstruction.people[chosen]
        rank = min(self.selected_hypothesis, len(person.hypotheses) - 1)
        faces = view.faces if view.faces is not None else self.session.body_model.faces  # live: the preview mesh
        # Mesh overlays: hypothesis 0's come drawn from the worker; another one is drawn here (~15 ms).
        overlay = view.overlay if rank == 0 else None
        want_fill, want_wire = self.mesh_fill_action.isChecked(), self.mesh_wire_action.isChecked()
        if view.faces is None and (want_fill or want_wire) and (overlay is None or (want_fill and overlay.fill is None)
                                         or (want_wire and overlay.wire is None)):
            overlay = display.rasterize_mesh(view.vertices[rank], self.session.overlay_faces(), recon.focal_px,
                                             recon.width, recon.height, fill=want_fill, wire=want_wire)
            if rank == 0:
                view.overlay = overlay
        for name, picture in (("mesh_fill", overlay.fill if overlay else None),
                              ("mesh_wire", overlay.wire if overlay else None)):
            if picture is None:
                self.image_view.remove_overlay(name)
            else:
                self.image_view.set_picture_overlay(name, picture, overlay.scale, visible=True)
        # Everyone's projected body skeleton (the shown hypothesis for the chosen person, the best for others).
        shown_joints = [v.joints[rank if i == chosen else 0] for i, v in enumerate(result.views)]
        joints2d = np.concatenate([display.project(j, recon.focal_px, recon.width, recon.height) for j in shown_joints])
        nj = len(shown_joints[0])
        self.image_view.set_skeleton("smpl_skeleton", joints2d,
                                     [(a + i * nj, b + i * nj) for i in range(len(shown_joints)) for a, b in self._smpl_edges],
                                     colour=SMPL_SKELETON_COLOUR, width=1.5, visible=self.smpl_skeleton_action.isChecked())
        # 3D
        vertices = display.to_display(view.vertices[rank])
        depth = min(FRUSTUM_DEPTH_M, 0.5 * float(np.median(view.vertices[rank][:, 2])))
        ghosts = []
        if self.hypotheses_panel.overlay_all.isChecked():
            ghosts = [display.to_display(view.vertices[i]) for i in range(len(view.vertices)) if i != rank]
        scene = MeshScene(
            vertices=vertices, faces=faces, normals=view.normals if rank == 0 else None,
            uncertainty=view.vertex_uncertainty[rank], joints=display.to_display(view.joints[rank]),
            bones=self._smpl_edges, frustum=display.frustum_points(recon.width, recon.height, recon.focal_px, depth),
            ghosts=ghosts, camera_fov_deg=recon.settings.vertical_fov_deg,
            others=[display.to_display(v.vertices[0]) for i, v in enumerate(result.views) if i != chosen])
        self.mesh_view.show_scene(scene, reset_camera=reset_camera)
        # Token confidence of the shown hypothesis (records are in sampling order). While live, the
        # plot (7 ms a redraw) follows at LIVE_PLOT_HZ: faster than that nobody reads it anyway.
        live = self.playing or self.camera_live
        now = time.monotonic()
        if live and now - self._plot_shown_at < 1.0 / LIVE_PLOT_HZ:
            return
        self._plot_shown_at = now
        row = view.sample_rows[rank] if rank < len(view.sample_rows) else 0
        h = person.hypotheses[rank]
        plot = (person.iterations, row,
                f"Token confidence, hypothesis #{rank + 1}: mean {float(np.mean(h.token_confidence)):.2f} · "
                f"{len(person.iterations)} iterations · red × = re-masked")
        if not live:
            self.confidence_panel.set_records(*plot)
            return
        # Live, the plot's redraw and paint (up to ~20 ms when its grid changes) get a pass of the
        # event loop of their own, after the frame's mesh: a timer, so that input and timers due
        # meanwhile run between the two instead of waiting for both.
        if self._live_plot is None:
            QTimer.singleShot(LIVE_PLOT_DEFER_MS, self._draw_live_plot)
        self._live_plot = plot

    def _draw_live_plot(self) -> None:
        plot, self._live_plot = self._live_plot, None
        if plot is not None and (self.playing or self.camera_live):
            self.confidence_panel.set_records(*plot)

    def select_person(self, index: int) -> None:
        """Show person `index` (largest first; wraps around) in full: hypotheses, confidence, 3D focus."""
        result = self.shown
        count = len(result.views) if result is not None and result.reconstruction is not None else 0
        if count == 0:
            return
        self.selected_person = index % count
        self.selected_hypothesis = 0
        self._update_person_box(count)
        self.hypotheses_panel.set_hypotheses(result.reconstruction.people[self.selected_person].hypotheses)
        self._draw_person(reset_camera=True)

    def _update_person_box(self, count: int) -> None:
        self.person_box.blockSignals(True)
        self.person_box.clear()
        self.person_box.addItems([f"Person {i + 1} of {count}" for i in range(count)])
        self.person_box.setCurrentIndex(min(self.selected_person, max(count - 1, 0)))
        self.person_box.blockSignals(False)
        self.person_box.setVisible(count > 1)

    def _on_image_clicked(self, x: float, y: float) -> None:
        """A click inside someone's box shows that person (the smallest box wins where boxes overlap)."""
        result = self.shown
        if result is None or result.reconstruction is None or len(result.reconstruction.people) < 2:
            return
        inside = [(float((b[2] - b[0]) * (b[3] - b[1])), i) for i, p in enumerate(result.reconstruction.people)
                  for b in [p.detection.bbox] if b[0] <= x <= b[2] and b[1] <= y <= b[3]]
        if inside and min(inside)[1] != self.selected_person:
            self.select_person(min(inside)[1])

    def _on_everyone_toggled(self) -> None:
        if self.input.kind in ("image", "folder", "video") and not self.playing:
            self.request()

    def select_hypothesis(self, rank: int) -> None:
        self.selected_hypothesis = max(rank, 0)
        self._draw_person()

    def _on_overlay_all(self, on: bool) -> None:
        self.overlay_all_action.blockSignals(True)
        self.overlay_all_action.setChecked(on)
        self.overlay_all_action.blockSignals(False)
        self._draw_person()

    def _apply_overlay_visibility(self, _on: bool = True) -> None:
        self.image_view.set_overlay_visible("keypoints", self.keypoints_action.isChecked())
        self.image_view.set_overlay_visible("smpl_skeleton", self.smpl_skeleton_action.isChecked())

    def _on_mesh_overlay_toggled(self, _on: bool) -> None:
        if not self.mesh_fill_action.isChecked():
            self.image_view.remove_overlay("mesh_fill")
        if not self.mesh_wire_action.isChecked():
            self.image_view.remove_overlay("mesh_wire")
        self._update_live_request()
        self._draw_person()

    # -- errors ---------------------------------------------------------------------------------
    def _on_failed(self, _serial: int, exc: BaseException) -> None:
        message = str(exc) or type(exc).__name__
        if self.camera_live or self.input.kind == "camera":
            # The camera's last result stays on screen; the user can pick another device and retry.
            self.stop_camera(message)
        if self.playing:
            self.set_playing(False)
        # Back to what is on screen, so that sliders re-run that and not the input that failed. A
        # camera's bar stays up, with its message, to pick another device.
        if self.input.kind == "camera":
            if self._shown_input is not None and self._shown_input.kind != "camera":
                self.input = self._shown_input.copy()
        else:
            self.input = self._shown_input.copy() if self._shown_input is not None else InputState()
            kind = self.input.kind
            self.source_bar.show_page(kind if kind != "image" else None)
        self._report_error(message, "Problem")

    def _report_error(self, message: str, title: str) -> None:
        self.last_error = message
        self.statusBar().showMessage(f"Error: {message}")
        self._warn(title, message)

    def _warn(self, title: str, message: str) -> None:
        # Non-modal and reused, so live errors cannot pile up dialogs and tests are never blocked.
        if self._message_box is None:
            self._message_box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
            self._message_box.setModal(False)
            self._message_box.setObjectName("warning_box")
        self._message_box.setWindowTitle(title)
        self._message_box.setText(message)
        self._message_box.show()

    def _on_busy(self, busy: bool) -> None:
        live = self.playing or self.camera_live
        self.setCursor(Qt.CursorShape.BusyCursor if busy and not live else Qt.CursorShape.ArrowCursor)

    # -- status ---------------------------------------------------------------------------------
    def _update_status(self, result: FrameResult, live: bool) -> None:
        now = time.monotonic()
        if live:
            self._result_times.append(now)
            if now - self._status_shown_at < 1.0 / LIVE_STATUS_HZ and not (result.at_end or result.warnings):
                return
            self._status_shown_at = now
        t = result.timing_ms
        detect = "detect reused" if result.detection_cached else f"detect {t['detect']:.0f}"
        self._timing_label.setText(
            f"{detect} · sample {t['sample']:.0f} · refine {t['refine']:.0f} · total {t['total']:.0f} ms")
        if live:
            if len(self._result_times) >= 2:
                span = self._result_times[-1] - self._result_times[0]
                self._fps_label.setText(f"{(len(self._result_times) - 1) / max(span, 1e-6):.1f} FPS")
                self._fps_label.setVisible(True)
        people = result.detection.people
        if not people:
            message = f"{result.source_name}: no person found"
        elif result.reconstruction is None:
            message = f"{result.source_name}: {len(people)} person(s) detected (2D only)"
        else:
            message = f"{result.source_name}: {len(people)} person(s)"
            if result.warnings:
                message += " — " + "; ".join(result.warnings)
        if not live:
            self.statusBar().showMessage(message)
        elif result.warnings:  # a live frame's news (a damaged frame skipped): shown for a while
            self.statusBar().showMessage(f"{result.source_name}: " + "; ".join(result.warnings), LIVE_WARNING_MS)
        self.banner.setText(result.model_message or "")
        self.banner.setVisible(bool(result.model_message))
        self._refresh_status()

    def _refresh_status(self) -> None:
        self._model_label.setText(f"Model: {self.session.model_name}")
        self._device_label.setText(f"Device: {self.session.device_name}")
        self._body_label.setText(f"Body: {self.session.body_model_name}")

    def _warm_live_view(self) -> None:
        """Before the first stream: the 3D view draws a live-like scene once (shaders, buffers, the
        preview mesh), so the stream's first frame does not freeze the window for ~100 ms."""
        if self.stream is not None:
            return
        # A moment nobody waits on: a full garbage collection now, and what is alive (models,
        # window, caches) exempt from later ones, which would otherwise freeze a stream (genhmr_app/heap.py).
        heap.settle()
        if self._live_view_warm:
            return
        scene = self.session.live_preview_scene()
        if scene is not None:
            self.mesh_view.warm_up(scene)
            self._live_view_warm = True

    def _show_rest_body(self) -> None:
        body = self.session.body_model
        if body is not None:
            self.mesh_view.show_mesh(self.session.rest_vertices(), body.faces, reset_camera=True)

    # -- saving ---------------------------------------------------------------------------------
    def _default_path(self, suffix: str) -> Path:
        folder = self.input.path.parent if self.input.path is not None and self.input.kind != "folder" else (
            self.input.path or Path.home())
        name = exporting.result_name(self.shown) if self.shown is not None else "genhmr"
        return Path(folder) / f"{name}{suffix}"

    def _save(self, what: str, path: Path | str | None, suffix: str, filters: str, action) -> Path | None:
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(self, what, str(self._default_path(suffix)), filters)
            if not chosen:
                return None
            path = chosen
        path = Path(path)
        try:
            backup = action(path)
        except (exporting.NothingToExport, OSError, ValueError) as exc:
            self._report_error(str(exc), what)
            return None
        note = f" (the previous file was kept as {backup.name})" if backup else ""
        self.statusBar().showMessage(f"Saved {path}{note}")
        return path

    def save_result_json(self, path: Path | str | None = None) -> Path | None:
        return self._save("Save result", path, ".json", "GenHMR result (*.json)",
                          lambda p: exporting.save_json(self.shown, p))

    def export_smpl(self, path: Path | str | None = None) -> Path | None:
        return self._save("Export SMPL parameters", path, "_smpl.npz", "SMPL parameters (*.npz)",
                          lambda p: exporting.save_smpl(self.shown, self.selected_hypothesis, p, self.selected_person))

    def export_mesh(self, path: Path | str | None = None) -> Path | None:
        return self._save("Export mesh", path, ".glb", "glTF binary (*.glb);;Wavefront OBJ (*.obj);;PLY (*.ply)",
                          lambda p: exporting.save_mesh(self.shown, self.selected_hypothesis,
                                                        self.session.body_model.faces, p, self.selected_person))

    def save_viewport_png(self, path: Path | str | None = None) -> Path | None:
        return self._save("Save 3D viewport", path, "_3d.png", "PNG image (*.png)",
                          lambda p: exporting.save_png(self.mesh_view.grab_screenshot(), p))

    def export_animation(self, out_dir: Path | str | None = None, smooth: float | None = None, up: str = "y",
                         video: Path | None = None):
        """A video (the open one by default) → tracked, smoothed motion per person (see
        motion/animate.py), in a worker with a cancellable progress dialog. Cancelling keeps the
        finished frames; exporting again resumes. Chosen from the menu, the smoothing preview opens
        when it is done, to compare strengths and export again."""
        from PySide6.QtWidgets import QFileDialog, QProgressDialog

        from genhmr_app.motion.animate import AnimateSettings

        if video is None:
            if self.input.kind != "video" or self.input.path is None:
                self.statusBar().showMessage("Open a video first: an animation is made from a whole video.", 8000)
                return None
            video = self.input.path
        self._animation_interactive = out_dir is None
        if out_dir is None:
            chosen = QFileDialog.getExistingDirectory(self, "Export animation to folder", str(video.parent))
            if not chosen:
                return None
            out_dir = chosen
        # smooth=None: the default strength (animate.SMOOTH_S); the preview afterwards offers others.
        self._animation_cancel = False
        dialog = QProgressDialog(f"Reconstructing {video.name}…", "Cancel", 0, 100, self)
        dialog.setWindowTitle("Export animation")
        dialog.setMinimumDuration(0)
        dialog.canceled.connect(lambda: setattr(self, "_animation_cancel", True))
        self.animation_dialog = dialog
        folder = Path(out_dir)
        settings = AnimateSettings(smooth=None if smooth is None else float(smooth), up=up)
        self._animation_relay = _AnimationRelay()
        self._animation_relay.progress.connect(self._on_animation_progress)
        worker = create_worker(_run_animation, video, folder, settings, lambda: self._animation_cancel,
                               self._animation_relay.progress.emit, _start_thread=False, _ignore_errors=True)
        worker.returned.connect(self._on_animation_done)
        worker.errored.connect(lambda exc: self._on_animation_done({"error": str(exc)}))
        self.animation_worker = worker
        worker.start()
        return worker

    def _on_animation_progress(self, done: int, total: int) -> None:
        if total > 0 and self.animation_dialog is not None:
            self.animation_dialog.setValue(min(99, int(100 * done / total)))

    def _on_animation_done(self, summary: dict) -> None:
        if self.animation_dialog is not None:
            self.animation_dialog.reset()
            self.animation_dialog = None
        self.animation_summary = summary
        self.preview_smoothing_action.setEnabled("error" not in summary and bool(summary.get("tracks")))
        if "error" in summary:
            QMessageBox.warning(self, "Export animation", f"The animation could not be exported:\n{summary['error']}")
            return
        tracks = summary.get("tracks", [])
        stopped = any("stopped at frame" in w for w in summary.get("warnings", []))
        text = (f"{len(tracks)} track(s) exported to {summary.get('out', '')}" +
                (" (cancelled: the finished frames are kept; export again to resume)" if stopped else ""))
        self.statusBar().showMessage(text, 15000)
        if self._animation_interactive and tracks and not stopped:
            self.preview_smoothing()

    def preview_smoothing(self):
        """The last exported animation's smoothing, before and after, with a strength control; the
        chosen strength is exported again from the saved frames."""
        from genhmr_app.motion.animate import AnimateSettings, smoothing_sigma, tracks_from_frames
        from genhmr_app.ui.smoothing_preview import SmoothingPreviewDialog

        summary = self.animation_summary
        if not summary or "error" in summary or not summary.get("tracks"):
            self.statusBar().showMessage("Export an animation first: the preview shows its tracks.", 8000)
            return None
        folder, fps = Path(summary["out"]), float(summary["fps"])
        done = AnimateSettings(**summary["settings"])
        tracks = tracks_from_frames(folder, fps, done)
        dialog = SmoothingPreviewDialog(tracks, self.session.body_model, fps, smoothing_sigma(done, fps), self)
        dialog.export_requested.connect(lambda sigma: self.export_animation(folder, sigma, done.up,
                                                                            video=Path(summary["video"])))
        self.smoothing_dialog = dialog
        dialog.show()
        return dialog

    # -- dialogs ------------------------------------------------------------------------------------
    def show_preferences(self) -> None:
        from genhmr_app.ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            dialog.apply_to(self.settings)
            self.session.set_device(self.settings.device)
            self._save_settings()
            if not (self.playing or self.camera_live):
                self.request()

    def show_shortcuts(self) -> None:
        rows = [(a.text().replace("&", ""), a.shortcut().toString()) for menu in self.menuBar().findChildren(type(
            self.recent_menu)) for a in menu.actions() if not a.shortcut().isEmpty()]
        text = "\n".join(f"{key:>14}   {name}" for name, key in rows)
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", text, QMessageBox.StandardButton.Ok, self)
        box.setModal(False)
        box.show()

    def show_about(self) -> None:
        from genhmr_app import __version__
        from genhmr_app.paths import NOTICE_PATH

        notice = NOTICE_PATH
        text = notice.read_text() if notice.exists() else "NOTICE file not found."
        box = QMessageBox(self)
        box.setWindowTitle("About GenHMR Studio")
        from genhmr_app.ui.app import app_icon

        icon = app_icon()
        if icon is not None:
            box.setIconPixmap(icon.pixmap(64, 64))
        box.setText(f"GenHMR Studio {__version__}\nGenerative human mesh recovery.\n\nLicences: see details.")
        box.setDetailedText(text)
        box.setModal(False)
        box.show()

    # -- drag and drop --------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.open_path(urls[0])

    # -- persistence and lifecycle ----------------------------------------------------------------
    def _qsettings(self) -> QSettings:
        # Next to the JSON settings (not the platform registry), so tests stay isolated by GENHMR_SETTINGS.
        return QSettings(str(settings_path().with_name("window.ini")), QSettings.Format.IniFormat)

    def _restore_window_state(self) -> None:
        qs = self._qsettings()
        for key, restore in (("geometry", self.restoreGeometry), ("state", self.restoreState),
                             ("splitter", self.splitter.restoreState)):
            value = qs.value(key)
            if isinstance(value, QByteArray):
                restore(value)
        if not isinstance(qs.value("splitter"), QByteArray):
            # Sizes only stick once the window has its real width: split the image and 3D views evenly.
            QTimer.singleShot(0, lambda: self.splitter.setSizes([self.splitter.width() // 2] * 2))

    def _save_settings(self) -> None:
        try:
            save_settings(self.settings)
        except OSError as exc:
            log.warning("could not save settings: %s", exc)

    def closeEvent(self, event) -> None:  # noqa: N802
        self._stop_live(wait_s=5.0)
        if self._thumb_worker is not None:
            self._thumb_worker.quit()
        self.runner.wait_idle(10.0)
        self.runner.close()
        self.settings.inference = self.controls.values()
        self._save_settings()
        qs = self._qsettings()
        qs.setValue("geometry", self.saveGeometry())
        qs.setValue("state", self.saveState())
        qs.setValue("splitter", self.splitter.saveState())
        qs.sync()
        if self._owns_session:
            self.session.close()
        else:
            self.session.release_camera()
        self.mesh_view.close_view()
        super().closeEvent(event)

    @property
    def last_analysis(self) -> FrameResult | None:
        """The result on screen (kept under its first-slice name for older callers)."""
        return self.shown


def _qimage(rgb: np.ndarray) -> QImage:
    from genhmr_app.ui.image_view import rgb_to_qimage

    return rgb_to_qimage(rgb)



def _run_animation(video: Path, out_dir: Path, settings, should_stop, on_frame) -> dict:
    """Worker body: the animate command as a function; errors become the summary's "error"."""
    from genhmr_app.motion.animate import animate

    try:
        summary = animate(video, out_dir, settings, progress=False, should_stop=should_stop, on_frame=on_frame)
    except Exception as exc:  # noqa: BLE001 - shown to the user in a message box
        return {"error": f"{type(exc).__name__}: {exc}"}
    summary["out"] = str(out_dir)
    return summary


class _AnimationRelay(QObject):
    """Carries frame progress from the worker thread to the window (a queued signal)."""

    progress = Signal(int, int)
