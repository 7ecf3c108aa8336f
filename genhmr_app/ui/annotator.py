"""The annotator's window: `python main.py annotate MEDIA [--project FILE]`.

Review a folder of images or a video frame by frame and correct poses by hand:
- drag a keypoint handle on the image: the pose is refit with it pinned while you drag (one fit runs
  through the drag, a step per mouse move, and the newest result is shown on a lighter preview mesh)
  and settles on release; right-click a handle to mark it wrong/hidden;
- lock the tokens that are right and re-sample the rest into hypotheses; start from any of them;
- turn a joint with three sliders within its limits;
- every change is one undo step (Ctrl+Z / Ctrl+Shift+Z, the history is shown) and is saved at once
  (annotation/project.py: atomic, backed up, never over someone else's change);
- N / P next / previous in the review queue, A accept, R reject, C copy the previous corrected pose.
The core does the work (annotation/, editing/); this module only shows it and forwards the user's
actions.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import replace
import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QIcon, QKeySequence, QPen, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFormLayout,
    QGraphicsEllipseItem,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSlider,
    QSplitter,
    QToolBar,
    QUndoView,
    QVBoxLayout,
    QWidget,
)

from genhmr_app.annotation.project import STATES, FrameAnnotation, ProjectError
from genhmr_app.annotation.session import (
    AnnotationSession,
    detected_person,
    frame_from_reconstruction,
    frame_with_pose,
    pose_from_frame,
)
from genhmr_app.body.lod import preview_mesh
from genhmr_app.editing.joint_limits import SMPL_BODY_JOINTS, limits
from genhmr_app.editing.pose_editor import (
    DRAG_STEPS,
    SETTLE_STEPS,
    EditablePose,
    KeypointEdits,
    PoseDisplay,
    PoseEditor,
    drag_refit,
    warm_drag_preview,
)
from genhmr_app.paths import RESOURCES_DIR
from genhmr_app.pipeline import display
from genhmr_app.pipeline.model_process import ModelBackend, ModelContext, ModelProcess
from genhmr_app.pipeline.reconstructor import ReconstructionSettings
from genhmr_app.ui.image_view import ImageView
from genhmr_app.ui.jobs import LatestJobRunner
from genhmr_app.ui.mesh_view import MeshScene, MeshView

log = logging.getLogger(__name__)

STATE_COLOURS = {"unreviewed": QColor(150, 150, 150), "accepted": QColor(40, 170, 70),
                 "corrected": QColor(60, 120, 200), "rejected": QColor(210, 50, 50)}
HANDLE_RADIUS_PX = 5.0
PINNED_COLOUR, HANDLE_COLOUR, IGNORED_COLOUR = QColor(235, 190, 30), QColor(255, 255, 255), QColor(120, 120, 120)
# How the annotator runs the model on a frame: the viewer's defaults, which since the thirty-second session
# take the two MediaPipe tracking passes the annotator took alone before (detection/tracking_looks.py).
ANNOTATOR_SETTINGS = ReconstructionSettings()


def tool_icon(name: str) -> QIcon:
    return QIcon(str(RESOURCES_DIR / "icons" / "tools" / f"{name}.png"))


class FrameEdit(QUndoCommand):
    """One user action on one frame: the frame's record before and after (exact copies)."""

    def __init__(self, window: AnnotatorWindow, index: int, before: FrameAnnotation, after: FrameAnnotation,
                 text: str) -> None:
        super().__init__(text)
        self.window, self.index = window, index
        self.before, self.after = copy.deepcopy(before), copy.deepcopy(after)

    def redo(self) -> None:
        self.window.apply_frame(self.index, self.after)

    def undo(self) -> None:
        self.window.apply_frame(self.index, self.before)


class _Handle(QGraphicsEllipseItem):
    """A draggable keypoint on the image."""

    def __init__(self, index: int, window: AnnotatorWindow, radius: float) -> None:
        super().__init__(-radius, -radius, 2 * radius, 2 * radius)
        self.index, self.window = index, window
        self.setFlag(QGraphicsEllipseItem.GraphicsItemFlag.ItemIsMovable, True)
        self.setZValue(10.0)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        self.setToolTip(f"keypoint {index}: drag to pin it; right-click to mark it wrong or hidden")

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton:
            self.window.toggle_ignored(self.index)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        super().mouseMoveEvent(event)
        self.window.handle_moved(self.index, self.pos().x(), self.pos().y())

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        super().mouseReleaseEvent(event)
        self.window.handle_released(self.index, self.pos().x(), self.pos().y())


class AnnotatorWindow(QMainWindow):
    frame_shown = Signal(int)
    pose_shown = Signal()  # the mesh and the handles show a new pose
    _pre_progress = Signal(int, int)  # from the pre-annotation thread

    def __init__(self, session: AnnotationSession, reconstructor, preannotate: bool = True,
                 model_process: bool = True, settings: ReconstructionSettings | None = None) -> None:
        """`model_process`: run the drag refits in a child process with its own copy of the models
        (pipeline/model_process.py), once it has loaded; until then, and without it, in a thread.
        `settings`: how the model runs on a frame (default: ANNOTATOR_SETTINGS)."""
        super().__init__()
        self.settings = settings or ANNOTATOR_SETTINGS
        weights = getattr(reconstructor, "weight_paths", None)
        self.model_process = (ModelProcess.start(**weights, warm_up=warm_drag_preview)
                              if model_process and weights else None)
        self.session, self.recon = session, reconstructor
        self.setWindowTitle(f"GenHMR Studio — annotate {session.project_file.name}")
        from genhmr_app.ui.app import app_icon

        self.setWindowIcon(app_icon())
        self.undo_stack = QUndoStack(self)
        self.runner = LatestJobRunner(self, show_superseded=True)
        self.runner.result.connect(self._on_job_result)
        self.runner.error.connect(lambda _s, msg: self.show_message(f"That did not work: {msg}", error=True))
        self.index = -1
        self.editor: PoseEditor | None = None
        self.pose: EditablePose | None = None  # what is shown (during a drag: not yet saved)
        self.edits = KeypointEdits()
        self.locks: set[int] = set()
        self.proposals: list[EditablePose] = []
        self._handles: list[_Handle] = []
        self._dragging: int | None = None
        self._drag_started: FrameAnnotation | None = None
        self._move_times: dict[int, float] = {}  # job serial → when the move that asked for it happened
        self._replay_step: int | None = None  # the replayed action being performed (see replay)
        self._drag_number = 0  # counts drags: each one's moves and release continue one fit
        self._local_model = ModelContext(reconstructor)  # refits in this process (no model process yet)
        self._newest_drag: tuple | None = None  # (serial, result) of a drag refit not drawn yet
        # (scene number, when the move happened) for drag moves drawn but not yet in a 3D picture
        self._awaiting_picture: list[tuple[int, float]] = []
        self._scene_number = -1  # the 3D view's number for the newest scene shown
        self._scene_shown = False  # the first scene frames the camera on the body
        self.drag_latencies_ms: list[float] = []  # move → its refit's mesh painted (the benchmark reads it)
        self._smpl_edges = display.skeleton_edges(reconstructor.body.parents)
        preview_mesh(reconstructor.body)  # now, not on the first drag (the window's copy of the drag preview)
        self._build()
        self._pause = threading.Event()
        self._stop = threading.Event()
        self._pre_worker = None
        self._pre_progress.connect(self._on_pre_progress)
        for notice in session.notices:
            self.show_message(notice)
        self.refresh_list()
        queue = self.visible_indices()
        if queue:
            self.go_to(queue[0])
        if preannotate:
            self.start_preannotation()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.image_view = ImageView(self)
        self.mesh_view = MeshView(self, compact=True)
        self.mesh_view.picture_ready.connect(self._picture_ready)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.image_view)
        splitter.addWidget(self.mesh_view)
        # The image is where an annotator works; the 3D view checks the result (and its every pixel
        # costs render time during a drag on a software GL).
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([640, 320])
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.banner)
        lay.addWidget(splitter, 1)
        self.setCentralWidget(central)

        # Frames: filter, order, states, progress.
        frames = QWidget()
        fl = QVBoxLayout(frames)
        self.filter_box = QComboBox()
        self.filter_box.addItems(["all", *STATES])
        self.sort_box = QCheckBox("Least confident first")
        self.frame_list = QListWidget()
        self.progress_label = QLabel()
        fl.addWidget(self.filter_box)
        fl.addWidget(self.sort_box)
        fl.addWidget(self.frame_list, 1)
        fl.addWidget(self.progress_label)
        self.filter_box.currentIndexChanged.connect(lambda _i: self.refresh_list())
        self.sort_box.toggled.connect(lambda _on: self.refresh_list())
        self.frame_list.currentRowChanged.connect(self._on_row)
        dock = QDockWidget("Frames", self)
        dock.setObjectName("frames_dock")
        dock.setWidget(frames)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)

        # Editing: tokens and re-sampling, hypotheses, joint rotation, history.
        edit = QWidget()
        form = QFormLayout(edit)
        self.token_list = QListWidget()
        self.token_list.setToolTip("Checked tokens are locked: re-sampling keeps them")
        self.token_list.itemChanged.connect(self._on_token_item)
        self.temperature = QSlider(Qt.Orientation.Horizontal)
        self.temperature.setRange(0, 200)
        self.temperature.setValue(100)
        self.resample_button = QPushButton(tool_icon("resample"), "Re-sample unlocked")
        self.resample_button.clicked.connect(self.resample)
        self.hypothesis_list = QListWidget()
        self.hypothesis_list.itemActivated.connect(lambda item: self.start_from(self.hypothesis_list.row(item)))
        self.joint_box = QComboBox()
        self.joint_box.addItems(list(SMPL_BODY_JOINTS))
        self.joint_box.currentIndexChanged.connect(lambda _i: self._sync_joint_sliders())
        self.joint_sliders = []
        for axis in "XYZ":
            s = QSlider(Qt.Orientation.Horizontal)
            s.setToolTip(f"rotation about the joint's {axis} axis, degrees (within its limits)")
            s.valueChanged.connect(self._on_joint_slider)
            s.sliderReleased.connect(self._on_joint_released)
            self.joint_sliders.append(s)
        form.addRow("Tokens (✓ = locked)", self.token_list)
        form.addRow("Temperature", self.temperature)
        form.addRow(self.resample_button)
        form.addRow("Hypotheses (double-click)", self.hypothesis_list)
        form.addRow("Joint", self.joint_box)
        for axis, s in zip("XYZ", self.joint_sliders):
            form.addRow(f"  {axis}", s)
        form.addRow("History", QUndoView(self.undo_stack))
        dock = QDockWidget("Edit", self)
        dock.setObjectName("edit_dock")
        dock.setWidget(edit)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

        file_menu = self.menuBar().addMenu("&File")
        export = file_menu.addAction("&Export Dataset (npz + JSON)…")
        export.triggered.connect(lambda _=False: self.export_dataset())
        restore = file_menu.addAction("&Restore a Backup…")
        restore.triggered.connect(lambda _=False: self.restore_backup())
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Close")
        quit_action.setShortcut(QKeySequence.StandardKey.Close)
        quit_action.triggered.connect(self.close)

        bar = QToolBar("Annotate")
        bar.setObjectName("annotate_toolbar")
        self.addToolBar(bar)
        undo = self.undo_stack.createUndoAction(self, "Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        undo.setIcon(tool_icon("undo"))
        redo = self.undo_stack.createRedoAction(self, "Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        redo.setIcon(tool_icon("redo"))
        self.actions_by_name = {}
        for name, text, key, slot in (
                ("previous", "Previous", "P", lambda: self.step(-1)), ("next", "Next", "N", lambda: self.step(1)),
                ("accept", "Accept", "A", lambda: self.set_state("accepted")),
                ("reject", "Reject", "R", lambda: self.set_state("rejected")),
                ("copy_previous", "Copy previous pose", "C", self.copy_previous),
                ("resample", "Re-sample unlocked", "S", self.resample),
                ("reset", "Reset to the model's output", "Ctrl+R", self.reset_to_model)):
            action = QAction(tool_icon(name), text, self)
            action.setShortcut(key)
            action.triggered.connect(lambda _=False, f=slot: f())
            bar.addAction(action)
            self.addAction(action)
            self.actions_by_name[name] = action
        bar.addSeparator()
        for action in (undo, redo):
            bar.addAction(action)
            self.addAction(action)
        self.status = QLabel()
        self.statusBar().addPermanentWidget(self.status)

    # -- messages ----------------------------------------------------------------------------
    def show_message(self, text: str, error: bool = False) -> None:
        colour = "#7a2020" if error else "#6b5a1e"
        self.banner.setStyleSheet(f"QLabel {{ background: {colour}; color: #fff4c8; padding: 4px 8px; }}")
        self.banner.setText(text)
        self.banner.setVisible(True)
        self.statusBar().showMessage(text, 15000)

    # -- the frame list ----------------------------------------------------------------------
    def visible_indices(self) -> list[int]:
        chosen = self.filter_box.currentText()
        states = STATES if chosen == "all" else (chosen,)
        return self.session.queue(states, by_uncertainty=self.sort_box.isChecked())

    def refresh_list(self) -> None:
        self.frame_list.blockSignals(True)
        self.frame_list.clear()
        self._rows = self.visible_indices()
        for i in self._rows:
            f = self.session.frame(i)
            conf = "" if f.smpl is None else f" · confidence {1 - f.uncertainty:.2f}"
            item = QListWidgetItem(f"{f.key} · {f.state}{conf}")
            item.setForeground(QBrush(STATE_COLOURS[f.state]))
            self.frame_list.addItem(item)
        if self.index in self._rows:
            self.frame_list.setCurrentRow(self._rows.index(self.index))
        self.frame_list.blockSignals(False)
        counts = self.session.project.counts()
        total = len(self.session.project.frames)
        reviewed = total - counts["unreviewed"]
        self.progress_label.setText(f"{reviewed}/{total} reviewed · " + " · ".join(f"{s} {counts[s]}" for s in STATES[1:]))

    def _on_row(self, row: int) -> None:
        if 0 <= row < len(self._rows) and self._rows[row] != self.index:
            self.go_to(self._rows[row])

    def step(self, delta: int) -> None:
        rows = self.visible_indices()
        if not rows:
            return
        pos = rows.index(self.index) + delta if self.index in rows else 0
        self.go_to(rows[max(0, min(len(rows) - 1, pos))])

    # -- showing a frame ---------------------------------------------------------------------
    def go_to(self, index: int) -> None:
        self.index = index
        self.undo_stack.setClean()
        frame = self.session.frame(index)
        try:
            rgb = self.session.frame_rgb(index)
            self.image_view.set_image(rgb)
        except ProjectError as exc:
            self.show_message(str(exc), error=True)
            rgb = None
        self._load_pose(frame)
        if frame.smpl is None and not frame.provenance and rgb is not None:
            self._pause.set()  # this frame first; pre-annotation waits
            self.runner.submit(self._run_model, index, rgb)
        self.refresh_list()
        self.frame_shown.emit(index)

    def _load_pose(self, frame: FrameAnnotation) -> None:
        self.proposals = []
        self.hypothesis_list.clear()
        person = detected_person(frame)
        if person is None or frame.smpl is None:
            self.editor = self.pose = None
            self._clear_pose_views("nobody found in this frame" if frame.provenance.get("people") == 0
                                   else "not annotated yet")
            return
        d = frame.detection
        self.editor = PoseEditor(self.recon, person, d["width"], d["height"], d["focal_px"])
        self.pose = pose_from_frame(self.editor, frame)
        self.edits = KeypointEdits({int(k): tuple(v) for k, v in frame.pins.items()}, frozenset(frame.ignored))
        self.locks = set(frame.locks)
        self._fill_tokens()
        self._sync_joint_sliders()
        edges, sides = _mp33_skeleton()
        self.image_view.set_skeleton("keypoints", person.landmarks_px, edges, person.visibility, sides)
        self.image_view.set_overlay_visible("keypoints", True)
        self.show_pose(self.pose)

    def _clear_pose_views(self, why: str) -> None:
        for h in self._handles:
            self.image_view.scene().removeItem(h)
        self._handles = []
        for name in ("keypoints", "smpl_skeleton"):
            self.image_view.remove_overlay(name)
        self.token_list.clear()
        self.status.setText(why)

    def show_pose(self, pose: EditablePose, shown: PoseDisplay | None = None) -> None:
        """Mesh in 3D, projected skeleton and keypoint handles in 2D. `shown`: what to draw, already
        computed off the UI thread (a drag's refit job computes it)."""
        if self.editor is None:
            return
        shown = shown or self.editor.display(pose)
        joints, keypoints = shown.joints, shown.keypoints_px
        faces = preview_mesh(self.recon.body).faces if shown.preview else self.recon.body.faces
        scene = MeshScene(vertices=shown.vertices, faces=faces, normals=shown.normals,
                          joints=display.to_display(joints), bones=self._smpl_edges)
        self._scene_number = self.mesh_view.show_scene(scene, reset_camera=not self._scene_shown)
        self._scene_shown = True
        ed = self.editor
        self.image_view.set_skeleton("smpl_skeleton", display.project(joints, ed.focal, ed.width, ed.height),
                                     self._smpl_edges, colour=QColor(90, 255, 140), width=1.5)
        self._place_handles(keypoints)
        self.status.setText(f"{self.session.frame(self.index).key} · {self.session.frame(self.index).state}"
                            + (f" · {len(self.edits.pins)} pinned" if self.edits.pins else ""))
        self.pose_shown.emit()

    def _draw_newest_drag(self) -> None:
        if self._newest_drag is None:
            return
        (serial, (_, index, pose, shown)), self._newest_drag = self._newest_drag, None
        if index == self.index and self._dragging is not None:
            self.pose = pose
            self.show_pose(pose, shown)
            # Every move up to this one is answered, including the moves whose own refits were
            # skipped because a newer one replaced them; they are on screen with the 3D picture.
            answered = [self._move_times.pop(s) for s in sorted(self._move_times) if s <= serial]
            self._awaiting_picture.extend((self._scene_number, t) for t in answered)
            if not self.mesh_view.available:
                self._picture_ready(self._scene_number)

    def _picture_ready(self, scene_number: int) -> None:
        """The 3D view has a new picture, of scene `scene_number` (and those before): the drag moves
        it answers are on screen (latency as the user sees it, from the hand's move to the mesh that
        follows it)."""
        now = time.perf_counter()
        self.drag_latencies_ms.extend((now - t) * 1000 for n, t in self._awaiting_picture if n <= scene_number)
        self._awaiting_picture = [(n, t) for n, t in self._awaiting_picture if n > scene_number]

    def _place_handles(self, keypoints: np.ndarray) -> None:
        scene = self.image_view.scene()
        if not self._handles:
            scale = self.image_view.image_height() / 400.0
            self._handles = [_Handle(i, self, HANDLE_RADIUS_PX * scale) for i in range(len(keypoints))]
            for h in self._handles:
                scene.addItem(h)
        for i, h in enumerate(self._handles):
            if i == self._dragging:
                continue
            x, y = self.edits.pins.get(i, keypoints[i])
            h.setPos(QPointF(float(x), float(y)))
            colour = PINNED_COLOUR if i in self.edits.pins else IGNORED_COLOUR if i in self.edits.ignored else HANDLE_COLOUR
            h.setBrush(QBrush(colour))
            h.setPen(QPen(QColor(20, 20, 20), 1.0))

    # -- jobs --------------------------------------------------------------------------------
    def _run_model(self, index: int, rgb: np.ndarray):
        return ("model", index, self.recon.run(rgb, self.settings))

    def _on_job_result(self, serial: int, value) -> None:
        kind = value[0]
        if kind == "model":
            _, index, recon = value
            self._pause.clear()
            frame = self.session.frame(index)
            if frame.smpl is None and not frame.provenance:
                self.apply_frame(index, frame_from_reconstruction(frame, recon, self.recon), edited=False)
        elif kind == "drag":
            # Drawn on the next pass of the event loop, and only the newest: when results arrive
            # faster than the UI draws them, the older ones are skipped instead of queueing up.
            if self._newest_drag is None:
                QTimer.singleShot(0, self._draw_newest_drag)
            self._newest_drag = (serial, value)
        elif kind == "settle":
            _, index, pose, before, edits = value
            self.push(index, before, frame_with_pose(before, pose, edits, sorted(self.locks)), "Drag keypoint")
        elif kind == "proposals":
            _, index, proposals = value
            if index == self.index:
                self.proposals = proposals
                self.hypothesis_list.clear()
                for k, p in enumerate(proposals):
                    self.hypothesis_list.addItem(f"#{k + 1}: {self.editor.error_px(p, self.edits):.1f} px from the "
                                                 f"{'pins' if self.edits.pins else 'detector'}")

    # -- edits -------------------------------------------------------------------------------
    def push(self, index: int, before: FrameAnnotation, after: FrameAnnotation, text: str) -> None:
        self.undo_stack.push(FrameEdit(self, index, before, after, text))

    def apply_frame(self, index: int, frame: FrameAnnotation, edited: bool = True) -> None:
        """Store a frame (an edit, its undo or redo, or the model's result) and show it."""
        error = self.session.change_frame(index, frame, edited=edited)
        if error is None and self._replay_step is not None:
            print(f"saved {self._replay_step}", flush=True)  # the replay's caller learns what is on disk
        if error:
            self.show_message(error, error=True)
        elif self.banner.isVisible() and "could not save" in self.banner.text():
            self.banner.setVisible(False)
        if index == self.index:
            self._load_pose(self.session.frame(index))
        self.refresh_list()

    def handle_moved(self, index: int, x: float, y: float, at: float | None = None) -> None:
        """A keypoint handle moved under the mouse: refit with it pinned (newest move wins). `at`: when
        the move happened (perf_counter), if earlier than now: a move that waited in the event queue
        while the UI was busy counts its latency from then (the benchmark gives it)."""
        if self.editor is None or self.pose is None:
            return
        if self._dragging is None:
            self._dragging = index
            self._drag_number += 1
            self._drag_started = copy.deepcopy(self.session.frame(self.index))
            self._pause.set()
            self.mesh_view.set_interacting(True)
        self.edits = self.edits.pin(index, (x, y))
        editor, pose, edits, frame_index = self.editor, self.pose, self.edits, self.index
        serial = self.runner.submit(_drag_job, editor, pose, edits, frame_index, self._backend(), self._drag_number)
        self._move_times[serial] = time.perf_counter() if at is None else at

    def _backend(self) -> ModelBackend:
        """Where refits run: the model process once it has loaded, else this process."""
        return ModelBackend(self.model_process, self._local_model)

    def handle_released(self, index: int, x: float, y: float) -> None:
        if self._dragging is None or self.editor is None:
            return
        self.edits = self.edits.pin(index, (x, y))
        before = self._drag_started
        editor, pose, edits, frame_index = self.editor, self.pose, self.edits, self.index
        self._dragging = None
        self._move_times.clear()
        self._pause.clear()
        self.mesh_view.set_interacting(False)
        backend, drag = self._backend(), self._drag_number
        # The settle continues the drag's fit (from the newest pose computed, not the last one drawn).
        self.runner.submit(lambda: ("settle", frame_index,
                                    _refit(editor, pose, edits, SETTLE_STEPS, True, backend, drag)[0], before, edits))

    def toggle_ignored(self, index: int) -> None:
        """Mark a keypoint wrong/hidden (or trust it again): refit without it."""
        if self.editor is None:
            return
        before = copy.deepcopy(self.session.frame(self.index))
        edits = (KeypointEdits(self.edits.pins, self.edits.ignored - {index}) if index in self.edits.ignored
                 else self.edits.ignore(index))
        pose = self.editor.refit(self.pose, edits, SETTLE_STEPS)
        self.push(self.index, before, frame_with_pose(before, pose, edits, sorted(self.locks)),
                  f"Keypoint {index} {'trusted' if index not in edits.ignored else 'marked wrong'}")

    def _fill_tokens(self) -> None:
        self.token_list.blockSignals(True)
        self.token_list.clear()
        for k, (code, conf) in enumerate(zip(self.pose.tokens, self.pose.token_confidence)):
            item = QListWidgetItem(f"token {k}: code {int(code)} · p {float(conf):.2f}")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if k in self.locks else Qt.CheckState.Unchecked)
            self.token_list.addItem(item)
        self.token_list.blockSignals(False)

    def _on_token_item(self, item: QListWidgetItem) -> None:
        k = self.token_list.row(item)
        before = copy.deepcopy(self.session.frame(self.index))
        after = copy.deepcopy(before)
        locks = set(before.locks) ^ {k}
        after.locks = sorted(locks)
        self.push(self.index, before, after, f"{'Lock' if k in locks else 'Unlock'} token {k}")

    def set_locks(self, locks: set[int]) -> None:
        before = copy.deepcopy(self.session.frame(self.index))
        after = copy.deepcopy(before)
        after.locks = sorted(locks)
        self.push(self.index, before, after, f"Lock {len(locks)} token(s)")

    def resample(self) -> int | None:
        if self.editor is None or self.pose is None:
            return None
        editor, pose, locks, edits, index = self.editor, self.pose, set(self.locks), self.edits, self.index
        temperature = self.temperature.value() / 100.0
        return self.runner.submit(lambda: ("proposals", index, editor.resample(pose, locks, edits, temperature)))

    def start_from(self, k: int) -> None:
        """Make hypothesis k the current pose (one undo step)."""
        if not (0 <= k < len(self.proposals)):
            return
        before = copy.deepcopy(self.session.frame(self.index))
        self.push(self.index, before, frame_with_pose(before, self.proposals[k], self.edits, sorted(self.locks)),
                  f"Start from hypothesis {k + 1}")

    def reset_to_model(self) -> None:
        frame = self.session.frame(self.index)
        if not frame.model_result:
            return
        after = copy.deepcopy(frame)
        after.smpl = copy.deepcopy(frame.model_result["smpl"])
        after.tokens = list(frame.model_result["tokens"])
        after.token_confidence = list(frame.model_result["token_confidence"])
        after.pins, after.ignored, after.locks = {}, [], []
        self.push(self.index, frame, after, "Reset to the model's output")

    def set_state(self, state: str) -> None:
        before = copy.deepcopy(self.session.frame(self.index))
        after = copy.deepcopy(before)
        after.set_state(state)
        self.push(self.index, before, after, state.capitalize())
        if state in ("accepted", "rejected"):
            QTimer.singleShot(0, lambda: self.step(1))

    def copy_previous(self) -> None:
        copied = self.session.copy_previous_pose(self.index)
        if copied is None:
            self.show_message("No earlier accepted or corrected frame to copy from.")
            return
        if copied.detection is None:
            copied.detection = copy.deepcopy(self.session.frame(self.index).detection)
        self.push(self.index, self.session.frame(self.index), copied, "Copy the previous pose")

    # -- files -------------------------------------------------------------------------------
    def export_dataset(self, out: Path | str | None = None) -> Path | None:
        """File ▸ Export Dataset: the whole project as a dataset npz with its JSON description."""
        from PySide6.QtWidgets import QFileDialog

        from genhmr_app.annotation.dataset import export_dataset

        if out is None:
            chosen, _ = QFileDialog.getSaveFileName(self, "Export dataset", str(self.session.project_file.with_suffix(
                "").with_suffix(".npz")), "Dataset (*.npz)")
            if not chosen:
                return None
            out = chosen
        try:
            desc = export_dataset(self.session.project_file, Path(out))
        except (ProjectError, OSError) as exc:
            self.show_message(f"The dataset could not be exported: {exc}", error=True)
            return None
        self.statusBar().showMessage(f"Exported {desc['frames']} frame(s) to {desc['dataset']}", 15000)
        return Path(out).with_suffix(".npz")

    def restore_backup(self, backup: Path | str | None = None) -> bool:
        """Replace the project with one of its rolling backups (the current state becomes a backup
        too, and the step can be undone by restoring again)."""
        from PySide6.QtWidgets import QFileDialog

        from genhmr_app.annotation.project import Project, backup_paths

        if backup is None:
            existing = [str(p) for p in backup_paths(self.session.project_file) if p.exists()]
            if not existing:
                self.show_message("This project has no backups yet.")
                return False
            chosen, _ = QFileDialog.getOpenFileName(self, "Restore a backup", existing[0], "Backups (*.bak*)")
            if not chosen:
                return False
            backup = chosen
        try:
            restored = Project.from_json(Path(backup).read_text())
        except (OSError, ValueError, TypeError, KeyError) as exc:
            self.show_message(f"{Path(backup).name} cannot be read: {exc}", error=True)
            return False
        self.session.project.frames = restored.frames
        error = self.session._save()
        self.undo_stack.clear()
        if error:
            self.show_message(error, error=True)
        self.show_message(f"Restored {Path(backup).name} (saved {restored.modified}).")
        self.go_to(max(self.index, 0))
        return True

    # -- joint rotation ----------------------------------------------------------------------
    def _sync_joint_sliders(self) -> None:
        if self.editor is None or self.pose is None:
            return
        joint = self.joint_box.currentIndex()
        euler = self.editor.joint_euler_deg(self.pose, joint)
        for s, (lo, hi), value in zip(self.joint_sliders, limits(joint), euler):
            s.blockSignals(True)
            s.setRange(int(lo), int(hi))
            s.setValue(int(round(value)))
            s.blockSignals(False)

    def _on_joint_slider(self, _value: int) -> None:
        if self.editor is None or self.pose is None:
            return
        if self._drag_started is None or self._dragging != -1:
            self._drag_started, self._dragging = copy.deepcopy(self.session.frame(self.index)), -1
        euler = [s.value() for s in self.joint_sliders]
        self.pose = self.editor.rotate_joint(self.pose, self.joint_box.currentIndex(), euler)
        self.show_pose(self.pose)

    def _on_joint_released(self) -> None:
        if self._dragging != -1 or self.pose is None:
            return
        before = self._drag_started
        self._dragging = None
        self.push(self.index, before, frame_with_pose(before, self.pose, self.edits, sorted(self.locks)),
                  f"Turn {self.joint_box.currentText()}")

    # -- automation --------------------------------------------------------------------------
    def replay(self, actions: list[dict], pace_ms: int = 20) -> None:
        """Perform `actions` through the window's own controls, one every `pace_ms`, once the first
        pose is on screen. Prints `ready` when it starts, `saving N` in the middle of action N's
        autosave (its temporary file written, not yet renamed) and `saved N` once it is on disk (the crash test kills the app at random moments, some inside a
        save, and checks that every confirmed action survives).
        An action: {"turn": SMPL joint name, "degrees": [x, y, z]}: the joint list and its three
        sliders, moved and released as a hand would."""
        self._replay_actions = list(actions)
        self.session.on_saving = lambda: print(f"saving {self._replay_step}", flush=True)
        self._replay_timer = QTimer(self)
        self._replay_timer.setInterval(pace_ms)
        self._replay_timer.timeout.connect(self._replay_next)
        if self.pose is not None:
            self._start_replay()
        else:
            self.pose_shown.connect(self._start_replay, Qt.ConnectionType.SingleShotConnection)

    def _start_replay(self) -> None:
        print("ready", flush=True)
        self._replay_timer.start()

    def _replay_next(self) -> None:
        if not self._replay_actions:
            self._replay_timer.stop()
            self._replay_step = None
            print("done", flush=True)
            return
        action = self._replay_actions.pop(0)
        self._replay_step = 0 if self._replay_step is None else self._replay_step + 1
        if "turn" not in action:
            raise ValueError(f"unknown replay action: {action}")
        self.joint_box.setCurrentIndex(list(SMPL_BODY_JOINTS).index(action["turn"]))
        for slider, value in zip(self.joint_sliders, action["degrees"]):
            slider.setValue(int(round(value)))
        self.joint_sliders[0].sliderReleased.emit()

    # -- pre-annotation ----------------------------------------------------------------------
    def start_preannotation(self) -> None:
        from superqt.utils import create_worker

        def should_stop() -> bool:
            while self._pause.is_set() and not self._stop.is_set():
                time.sleep(0.05)  # the user's edit first
            return self._stop.is_set()

        worker = create_worker(self.session.preannotate, self.recon, settings=self.settings, should_stop=should_stop,
                               on_frame=lambda d, t: self._pre_progress.emit(d, t), _start_thread=False,
                               _ignore_errors=True)
        worker.returned.connect(lambda n: self.statusBar().showMessage(f"Pre-annotation done: {n} frame(s)", 10000))
        worker.finished.connect(self.refresh_list)
        self._pre_worker = worker
        worker.start()

    def _on_pre_progress(self, done: int, total: int) -> None:
        self.statusBar().showMessage(f"Pre-annotating: {done}/{total}")
        if done % 5 == 0 or done == total:
            self.refresh_list()

    def closeEvent(self, event) -> None:  # noqa: N802
        self._stop.set()
        self._pause.clear()
        self.runner.wait_idle(30)
        self.runner.close()
        if self._pre_worker is not None:
            self._pre_worker.quit()
            deadline = time.monotonic() + 60
            while self._pre_worker is not None and self._pre_worker.is_running and time.monotonic() < deadline:
                from PySide6.QtCore import QCoreApplication

                QCoreApplication.processEvents()
                time.sleep(0.02)
        if self.model_process is not None:
            self.model_process.close()
        self.session.close()
        self.mesh_view.close_view()
        super().closeEvent(event)


def _drag_job(editor: PoseEditor, pose: EditablePose, edits: KeypointEdits, frame_index: int,
              backend: ModelBackend, drag: int):
    """Worker side of one drag move: a few warm-started refit steps, and what the views will draw.
    In the model process when it is running (this thread then only waits, without the GIL)."""
    return ("drag", frame_index, *_refit(editor, pose, edits, DRAG_STEPS, False, backend, drag, preview=True))


def _refit(editor: PoseEditor, pose: EditablePose, edits: KeypointEdits, steps: int, encode: bool,
           backend: ModelBackend, drag: int, preview: bool = False) -> tuple[EditablePose, PoseDisplay]:
    """`drag`: the drag's number (its moves and its release continue one fit); `preview`: the
    reduced mesh for the views (while the mouse moves)."""
    camera = (editor.width, editor.height, editor.focal)
    return backend.call(drag_refit, editor.person, camera, pose, edits, steps, encode, drag, preview)


def _mp33_skeleton():
    from genhmr_app.detection.landmarks import MP33_EDGES, MP33_LEFT, MP33_RIGHT

    sides = ["left" if i in MP33_LEFT else "right" if i in MP33_RIGHT else "centre" for i in range(33)]
    return list(MP33_EDGES), sides


def main(argv: list[str] | None = None) -> int:
    """`python main.py annotate MEDIA [--project FILE]`"""
    import argparse
    import sys

    from genhmr_app.annotation.session import default_project_file

    ap = argparse.ArgumentParser(prog="main.py annotate", description="Review and correct poses: a folder of images or a "
                                 "video becomes an annotation project (autosaved after every edit).")
    ap.add_argument("media", type=Path, nargs="?", help="folder of images or video (omit to reopen --project)")
    ap.add_argument("--project", type=Path, help="project file (default: MEDIA.genhmr.json beside the media)")
    ap.add_argument("--no-preannotate", action="store_true", help="do not run the model on every frame in the background")
    ap.add_argument("--single-process", action="store_true",
                    help="run keypoint-drag refits in the window's process (less memory, slower drags)")
    ap.add_argument("--replay", type=Path, help="automation: perform the edits in this JSON file through the window "
                    "(a list of {\"turn\": joint, \"degrees\": [x, y, z]}), printing `saved N` as each is autosaved")
    ap.add_argument("--replay-pace-ms", type=int, default=20, help="time between replayed edits")
    ap.add_argument("--tracking-passes", type=int, default=ANNOTATOR_SETTINGS.tracking_passes,
                    help="MediaPipe tracking passes on each frame with one person (0: one look)")
    args = ap.parse_args(argv)
    if args.media is None and args.project is None:
        ap.error("give the media to annotate, or --project to reopen one")
    project_file = args.project or default_project_file(args.media)
    from genhmr_app.ui.app import one_torch_thread, prepare_qt_environment

    prepare_qt_environment()
    one_torch_thread()
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    try:
        session = AnnotationSession(project_file, args.media)
    except ProjectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.media is not None and session.opened.media_missing and Path(args.media).exists():
        session.relocate_media(args.media)  # the project's media moved here
    from genhmr_app.pipeline.reconstructor import Reconstructor

    try:
        recon = Reconstructor()
    except Exception as exc:  # noqa: BLE001 - shown to the user
        print(f"error: the model could not be loaded: {exc}", file=sys.stderr)
        session.close()
        return 2
    window = AnnotatorWindow(session, recon, preannotate=not args.no_preannotate, model_process=not args.single_process,
                             settings=replace(ANNOTATOR_SETTINGS, tracking_passes=args.tracking_passes))
    window.resize(1400, 900)
    window.show()
    if args.replay is not None:
        import json

        window.replay(json.loads(args.replay.read_text()), args.replay_pace_ms)
    code = app.exec()
    recon.close()
    return code
