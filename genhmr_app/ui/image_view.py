"""The photo with its overlays (detected keypoints, projected skeleton, projected mesh), with wheel
zoom and drag pan. Overlays are named layers that can be toggled; the mesh layers arrive as RGBA
pictures already drawn by the core (drawing 14k triangles as scene items would stall the UI)."""

from __future__ import annotations

import numpy as np
import shiboken6
from pyqtgraph.functions import arrayToQPath
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsItemGroup,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
)

# Left limbs warm, right limbs cool, centre grey: the usual convention in pose tools, so
# a left/right swap is visible at a glance.
LEFT_COLOUR = QColor(255, 140, 0)
RIGHT_COLOUR = QColor(0, 170, 255)
CENTRE_COLOUR = QColor(220, 220, 220)


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    # copy(): QImage does not own the numpy buffer, which may be freed when the worker's result goes away.
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


FAINT_ALPHA = 77  # 0.3 of 255: keypoints (and bones) below the confidence threshold


def _side_rgba(colour: QColor | None, side: str | None) -> int:
    if colour is not None:
        return colour.rgba()
    return {"left": LEFT_COLOUR, "right": RIGHT_COLOUR}.get(side, CENTRE_COLOUR).rgba()


# Stacking order of the layers: the mesh under the skeletons, detected keypoints on top.
LAYER_Z = {"mesh_fill": 1.0, "mesh_wire": 2.0, "smpl_skeleton": 3.0, "keypoints": 4.0}


class ImageView(QGraphicsView):
    clicked = Signal(float, float)  # a left click, in image pixels
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        scene = QGraphicsScene(self)
        # Live video moves every skeleton item every frame: without a spatial index (built for big,
        # mostly static scenes) each move is cheap, and a hundred items need no index to be found.
        scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.setScene(scene)
        # The picture under everything changes with each frame anyway: repaint the view once rather
        # than work out the region each moved item touched.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QBrush(QColor(40, 40, 44)))
        self._pixmap_item = QGraphicsPixmapItem()
        self.scene().addItem(self._pixmap_item)
        self._overlays: dict[str, QGraphicsItem] = {}
        self._skeletons: dict[str, tuple] = {}  # name → (its make, edge items, point items by colour)
        self._user_zoomed = False
        self._image_size = (0, 0)
        self._shown_scale = 1.0
        self._view_size = (0, 0)  # the viewport's, in screen pixels (for scale_for)

    # -- content ---------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray, keep_view: bool = False, full_size: tuple[int, int] | None = None) -> None:
        """keep_view: the next frame of the same stream; zoom and pan stay where the user put them.
        full_size: (width, height) of the image when `rgb` is a reduced copy of it (live frames come
        reduced to the size they are shown at: converting and scaling a 1280x720 frame on every
        repaint cost the UI thread ~5 ms a frame). Scene coordinates stay the full image's pixels."""
        full = (int(full_size[0]), int(full_size[1])) if full_size else (rgb.shape[1], rgb.shape[0])
        same_size = self.has_image() and self._image_size == full
        self._pixmap_item.setPixmap(QPixmap.fromImage(rgb_to_qimage(rgb)))
        self._pixmap_item.setScale(full[0] / max(rgb.shape[1], 1))
        self._image_size = full
        if keep_view and same_size:
            return
        self.scene().setSceneRect(QRectF(0.0, 0.0, float(full[0]), float(full[1])))
        self.clear_overlays()
        self._user_zoomed = False
        self.fit()

    def has_image(self) -> bool:
        return not self._pixmap_item.pixmap().isNull()

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the shown image in its own pixels (the scene's units)."""
        return self._image_size

    def image_height(self) -> float:
        return float(max(self._image_size[1], 1))

    @property
    def shown_scale(self) -> float:
        """Screen pixels per image pixel at the current zoom; read from other threads (a float)."""
        return self._shown_scale

    def scale_for(self, width: int, height: int) -> float:
        """Screen pixels per image pixel that a (width, height) frame will be shown at: the current
        zoom for the shown image's size, else the fit of a new picture to the view. Read from other
        threads (plain numbers only), so a stream's first frame also arrives reduced."""
        if (int(width), int(height)) == self._image_size:
            return self._shown_scale
        view_w, view_h = self._view_size
        return min(view_w / max(width, 1), view_h / max(height, 1)) if view_w > 0 and view_h > 0 else 1.0

    def _note_scale(self) -> None:
        self._shown_scale = float(abs(self.transform().m11())) or 1.0
        viewport = self.viewport()
        self._view_size = (viewport.width(), viewport.height())

    def clear_overlays(self) -> None:
        for name in list(self._overlays):
            self.remove_overlay(name)

    def remove_overlay(self, name: str) -> None:
        self._skeletons.pop(name, None)
        if name in self._overlays:
            item = self._overlays.pop(name)
            self.scene().removeItem(item)
            # Delete now, children included, instead of whenever the GC collects the wrapper.
            shiboken6.delete(item)

    def set_overlay_visible(self, name: str, visible: bool) -> None:
        if name in self._overlays:
            self._overlays[name].setVisible(visible)

    def overlay_names(self) -> list[str]:
        return list(self._overlays)

    def overlay_visible(self, name: str) -> bool:
        return name in self._overlays and self._overlays[name].isVisible()

    def set_picture_overlay(self, name: str, rgba: np.ndarray, scale: float = 1.0, visible: bool = True) -> None:
        """An RGBA picture drawn `scale` x the image size, stretched over the image."""
        item = self._overlays.get(name)
        pixmap = QPixmap.fromImage(rgba_to_qimage(rgba))
        if not isinstance(item, QGraphicsPixmapItem):
            self.remove_overlay(name)
            item = QGraphicsPixmapItem()
            item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            item.setZValue(LAYER_Z.get(name, 1.0))
            self.scene().addItem(item)
            self._overlays[name] = item
        item.setPixmap(pixmap)
        item.setScale(1.0 / scale if scale > 0 else 1.0)
        item.setVisible(visible)

    def set_skeleton(
        self,
        name: str,
        points: np.ndarray,
        edges: list[tuple[int, int]],
        confidence: np.ndarray | None = None,
        sides: list[str] | None = None,
        min_confidence: float = 0.3,
        visible: bool = True,
        colour: QColor | None = None,
        width: float = 2.0,
    ) -> None:
        """Draw points (N, 2) joined by edges; low-confidence joints are drawn faint, not hidden,
        because annotators need to see where the detector guessed. All edges of one colour (and
        alpha) are one path item, and so are all points of one colour: a live frame or a drag moves
        a handful of items, not one per bone and joint."""
        points = np.asarray(points, dtype=np.float64)
        conf = np.ones(len(points)) if confidence is None else np.asarray(confidence)
        strong = conf >= min_confidence
        scale = self.image_height() / 400.0
        # One colour (ARGB int) per point, and per edge: faint where the detector is unsure. Worked out
        # with numpy, since a live frame draws two skeletons and Python per bone showed in the profile.
        base = np.array([_side_rgba(colour, sides[i] if sides else None) for i in range(len(points))], np.uint32)
        point_keys = np.where(strong, base, (base & 0x00FFFFFF) | (FAINT_ALPHA << 24))
        edges_a = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        edge_strong = strong[edges_a[:, 0]] & strong[edges_a[:, 1]]
        edge_base = base[edges_a[:, 0]]
        edge_keys = np.where(edge_strong, edge_base, (edge_base & 0x00FFFFFF) | (FAINT_ALPHA << 24))

        make = (None if colour is None else colour.rgba(), float(width), scale)
        parts = self._skeletons.get(name)
        if parts is None or parts[0] != make or name not in self._overlays:
            self.remove_overlay(name)
            group = QGraphicsItemGroup()
            group.setZValue(LAYER_Z.get(name, 3.0))
            self.scene().addItem(group)
            self._overlays[name] = group
            parts = self._skeletons[name] = (make, {}, {})
        _make, edge_items, point_items = parts
        edge_paths: dict[int, QPainterPath] = {}
        for key in np.unique(edge_keys):
            ends = points[edges_a[edge_keys == key]].reshape(-1, 2)  # a, b, a, b, ...
            edge_paths[int(key)] = arrayToQPath(ends[:, 0], ends[:, 1], connect="pairs")
        radius = 2.5 * scale
        point_paths: dict[int, QPainterPath] = {}
        for key in np.unique(point_keys):
            path = point_paths[int(key)] = QPainterPath()
            for x, y in points[point_keys == key]:
                path.addEllipse(QPointF(x, y), radius, radius)
        group = self._overlays[name]
        for paths, items, styled in ((edge_paths, edge_items, self._edge_item), (point_paths, point_items, self._point_item)):
            for key, path in paths.items():
                if key not in items:
                    items[key] = styled(group, QColor.fromRgba(key), width * scale)
                items[key].setPath(path)
            for key, item in items.items():
                if key not in paths and not item.path().isEmpty():
                    item.setPath(QPainterPath())  # that colour is not used this time
        group.setVisible(visible)

    @staticmethod
    def _edge_item(group: QGraphicsItemGroup, colour: QColor, width: float) -> QGraphicsPathItem:
        # Created with the group as parent so C++ owns it: a child added with addToGroup() stays
        # owned by its Python wrapper, which the GC may delete while the group still points at it.
        item = QGraphicsPathItem(group)
        pen = QPen(colour, width)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        item.setPen(pen)
        return item

    @staticmethod
    def _point_item(group: QGraphicsItemGroup, colour: QColor, width: float) -> QGraphicsPathItem:
        item = QGraphicsPathItem(group)
        item.setPen(QPen(QColor(20, 20, 20), 0.4 * width))
        item.setBrush(QBrush(colour))
        return item

    # -- navigation ------------------------------------------------------------------------
    def fit(self) -> None:
        if self.has_image():
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._note_scale()

    def zoom(self, factor: float) -> None:
        self._user_zoomed = True
        self.scale(factor, factor)
        self._note_scale()

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.button() == Qt.MouseButton.LeftButton and self.has_image():
            point = self.mapToScene(event.position().toPoint())
            self.clicked.emit(float(point.x()), float(point.y()))
        super().mousePressEvent(event)

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if not self._user_zoomed:
            self.fit()
