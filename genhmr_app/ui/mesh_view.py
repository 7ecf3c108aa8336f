"""The 3D viewport: shows the pictures of views/scene_render.py and turns the mouse into camera moves
(orbit: left drag; pan: middle, or shift + left; zoom: right drag or the wheel).

The picture is rendered off-screen and painted as an image (why: views/scene_render.py). A render is
scheduled, not done at once, so every change made in one pass of the event loop is drawn together.
Where no OpenGL context can be made (a broken driver), a message takes the viewport's place and the
rest of the app works.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QPointF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QMenu, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from genhmr_app.views.scene_render import INTERACTIVE_REDUCTION, MeshScene, SceneRenderer  # noqa: F401

log = logging.getLogger(__name__)

ZOOM_PER_PX = 1.01  # right-drag: each pixel down zooms out by 1%
ZOOM_PER_WHEEL_STEP = 1.1


class MeshView(QWidget):
    colour_mode_changed = Signal(str)
    # A new picture is in place (painted in this pass of the event loop); it shows the scene of that
    # number (show_scene's) and everything before it.
    picture_ready = Signal(int)

    def __init__(self, parent=None, compact: bool = False) -> None:
        """`compact`: the view presets sit in one "View" menu, so the viewport can be narrow (the
        annotator's image is the work surface; each 3D pixel also costs render time on a software GL)."""
        super().__init__(parent)
        self._compact = compact
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.renderer: SceneRenderer | None = None
        self.unavailable_reason: str | None = None
        self.renders = 0
        self._render_pending = False
        self._image: QImage | None = None
        self._interacting = False
        self._scenes = 0  # scene numbers: how many show_scene calls so far
        try:
            self.renderer = SceneRenderer()
            self.viewport = _Viewport(self)
            layout.addWidget(self.viewport, 1)
        except Exception as exc:  # noqa: BLE001 - any GL/VTK failure must degrade, not crash
            self.unavailable_reason = f"3D view unavailable: {exc}"
            log.warning(self.unavailable_reason)
            label = QLabel(self.unavailable_reason)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(True)
            layout.addWidget(label, 1)
        layout.addLayout(self._build_toolbar())

    def _build_toolbar(self) -> QHBoxLayout:
        # One compact row: the viewport's minimum width is this row's, and the image beside it
        # deserves the space.
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 2)
        bar.setSpacing(3)
        presets = (("front", "Front", "1"), ("side", "Side", "2"), ("top", "Top", "3"),
                   ("reset", "Reset", "0: back to the photo's own viewpoint"))
        if self._compact:
            views = QToolButton()
            views.setText("View")
            views.setObjectName("view_menu")
            views.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
            view_menu = QMenu(views)
            for name, label, tip in presets:
                action = view_menu.addAction(f"{label} ({tip.split(':')[0]})")
                action.setObjectName(f"view_{name}")
                action.triggered.connect(lambda _=False, n=name: self.set_view(n))
            views.setMenu(view_menu)
            bar.addWidget(views)
        for name, label, tip in presets if not self._compact else ():
            button = QToolButton()
            button.setText(label)
            button.setObjectName(f"view_{name}")
            button.setToolTip(f"{label} view ({tip})")
            button.clicked.connect(lambda _=False, n=name: self.set_view(n))
            bar.addWidget(button)
        bar.addStretch(1)
        self.colour_combo = QComboBox()
        self.colour_combo.addItem("Skin", "skin")
        self.colour_combo.addItem("Uncertainty", "uncertainty")
        self.colour_combo.setToolTip("Colour the body by per-joint uncertainty from token confidence (U)")
        self.colour_combo.currentIndexChanged.connect(lambda _i: self.set_colour_mode(self.colour_combo.currentData()))
        bar.addWidget(self.colour_combo)
        self.legend = QLabel("sure ▶ unsure")
        self.legend.setToolTip("Blue: the tokens that move these joints were sampled with high confidence; red: low")
        self.legend.setStyleSheet(
            "QLabel { color: white; padding: 1px 4px; border-radius: 3px;"
            " background: qlineargradient(x1:0, y1:0, x2:1, y2:0, stop:0 #3b4cc0, stop:0.5 #999999, stop:1 #b40426); }")
        self.legend.setVisible(False)
        bar.addWidget(self.legend)
        show = QToolButton()
        show.setText("Show")
        show.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(show)
        self.skeleton_action = menu.addAction("Skeleton (translucent body)")
        self.ground_action = menu.addAction("Ground plane")
        self.frustum_action = menu.addAction("Photo camera")
        for action, on in ((self.skeleton_action, False), (self.ground_action, True), (self.frustum_action, True)):
            action.setCheckable(True)
            action.setChecked(on)
            action.toggled.connect(lambda _on: self._apply_visibility())
        show.setMenu(menu)
        bar.addWidget(show)
        return bar

    @property
    def available(self) -> bool:
        return self.renderer is not None

    @property
    def plotter(self):
        return self.renderer.plotter if self.renderer is not None else None

    @property
    def colour_mode(self) -> str:
        return self.renderer.options.colour_mode if self.renderer is not None else "skin"

    # What tests and the benchmark look at (the renderer's actors and meshes).
    @property
    def _mesh(self):
        return self.renderer._mesh if self.renderer is not None else None

    @property
    def _body_actor(self):
        return self.renderer._body_actor if self.renderer is not None else None

    @property
    def _ghosts(self) -> list:
        return self.renderer._ghosts if self.renderer is not None else []

    @property
    def _others(self) -> list:
        return self.renderer._others if self.renderer is not None else []

    # -- content ------------------------------------------------------------------------------
    def show_mesh(self, vertices: np.ndarray, faces: np.ndarray, reset_camera: bool = False) -> None:
        """A bare mesh (the rest pose before anything is reconstructed)."""
        self.show_scene(MeshScene(np.asarray(vertices, np.float32), faces), reset_camera=reset_camera)

    def show_scene(self, scene: MeshScene, reset_camera: bool = False) -> int:
        """Show a scene (drawn on the next pass of the event loop); its number, for picture_ready."""
        self._scenes += 1
        if self.available:
            self.renderer.show_scene(scene, reset_camera=reset_camera)
            self.render()
        return self._scenes

    def warm_up(self, scene: MeshScene) -> None:
        """Draw `scene` once as live frames are drawn and put back what is shown (SceneRenderer.warm_up):
        for a stream's first frame to draw as fast as the others."""
        if self.available and self.renderer.has_body:
            self.renderer.warm_up(scene, INTERACTIVE_REDUCTION)
            self.render()

    # -- appearance ---------------------------------------------------------------------------
    def set_colour_mode(self, mode: str) -> None:
        if mode not in ("skin", "uncertainty") or mode == self.colour_mode:
            return
        index = self.colour_combo.findData(mode)
        if index != self.colour_combo.currentIndex():
            self.colour_combo.setCurrentIndex(index)
        self.legend.setVisible(mode == "uncertainty")
        if self.available:
            self.renderer.set_options(replace(self.renderer.options, colour_mode=mode))
            self.render()
        self.colour_mode_changed.emit(mode)

    def _apply_visibility(self) -> None:
        if self.available:
            self.renderer.set_options(replace(self.renderer.options, skeleton=self.skeleton_action.isChecked(),
                                              ground=self.ground_action.isChecked(),
                                              frustum=self.frustum_action.isChecked()))
            self.render()

    def set_view(self, name: str) -> None:
        if self.available and self.renderer.has_body:
            self.renderer.set_view(name)
            self.render()

    def set_interacting(self, on: bool) -> None:
        """While the user drags (a keypoint, a slider, the camera) frames must come fast: anti-aliasing
        (FXAA, a pass per frame on a software GL) is off and pictures are rendered at reduced size until
        the drag ends; then one sharp picture."""
        if not self.available or on == self._interacting:
            return
        self._interacting = on
        self.renderer.set_options(replace(self.renderer.options, antialias=not on))
        self.renderer.set_reduction(INTERACTIVE_REDUCTION if on else 1)
        if not on:
            self.render()

    def camera_moved(self, move) -> None:
        """`move(renderer)` turns the camera (the viewport's mouse handling)."""
        if self.available:
            move(self.renderer)
            self.render()

    # -- pictures -------------------------------------------------------------------------------
    def render(self) -> None:
        """Schedule one render: every change made in this pass of the event loop is drawn together."""
        if self.available and not self._render_pending:
            self._render_pending = True
            QTimer.singleShot(0, self._render_now)

    def _render_now(self) -> None:
        self._render_pending = False
        if not self.available:
            return
        self._image = _to_qimage(self.renderer.render())
        self.renders += 1
        self.viewport.update()
        self.picture_ready.emit(self._scenes)

    def grab_screenshot(self) -> np.ndarray | None:
        return self.renderer.render() if self.available else None

    def _resize_render(self, size: QSize) -> None:
        if self.available and size.width() > 0 and size.height() > 0:
            self.renderer.resize(size.width(), size.height())
            self.render()

    def close_view(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None


def _to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], 3 * rgb.shape[1], QImage.Format.Format_RGB888).copy()


class _Viewport(QWidget):
    """Paints MeshView's last off-screen frame; turns the mouse into camera moves."""

    def __init__(self, view: MeshView) -> None:
        super().__init__(view)
        self._owner = view
        self._last: QPointF | None = None
        self._button = Qt.MouseButton.NoButton
        self.setMinimumSize(120, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(400, 600)

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        image = self._owner._image
        if image is None:
            painter.fillRect(self.rect(), QColor("#2b2b30"))
        elif image.width() == self.width() and image.height() == self.height():
            painter.drawImage(0, 0, image)
        else:  # a reduced picture while the user drags, or a resize being rendered: stretch it
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(self.rect(), image)
        painter.end()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._owner._resize_render(event.size())

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self._last = event.position()
        self._button = event.button()
        self._owner.set_interacting(True)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._last is None:
            return
        d = event.position() - self._last
        self._last = event.position()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if self._button == Qt.MouseButton.MiddleButton or (self._button == Qt.MouseButton.LeftButton and shift):
            self._owner.camera_moved(lambda r: r.pan(d.x(), d.y()))
        elif self._button == Qt.MouseButton.LeftButton:
            self._owner.camera_moved(lambda r: r.orbit(d.x(), d.y()))
        elif self._button == Qt.MouseButton.RightButton:
            self._owner.camera_moved(lambda r: r.zoom(ZOOM_PER_PX ** -d.y()))

    def mouseReleaseEvent(self, _event) -> None:  # noqa: N802
        self._last = None
        self._button = Qt.MouseButton.NoButton
        self._owner.set_interacting(False)

    def wheelEvent(self, event) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self._owner.camera_moved(lambda r: r.zoom(ZOOM_PER_WHEEL_STEP ** steps))
