"""The photo with its overlays (detected keypoints, projected skeleton, projected mesh), with wheel
zoom and drag pan. Overlays are named layers that can be toggled; the mesh layers arrive as RGBA
pictures already drawn by the core (drawing 14k triangles as scene items would stall the UI)."""

from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import QPointF, Qt, Signal
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

    # -- content ---------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray, keep_view: bool = False) -> None:
        """keep_view: the next frame of the same stream; zoom and pan stay where the user put them."""
        same_size = self.has_image() and self._pixmap_item.pixmap().size().toTuple() == (rgb.shape[1], rgb.shape[0])
        self._pixmap_item.setPixmap(QPixmap.fromImage(rgb_to_qimage(rgb)))
        if keep_view and same_size:
            return
        self.scene().setSceneRect(self._pixmap_item.boundingRect())
        self.clear_overlays()
        self._user_zoomed = False
        self.fit()

    def has_image(self) -> bool:
        return not self._pixmap_item.pixmap().isNull()

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
        conf = np.ones(len(points)) if confidence is None else np.asarray(confidence)
        strong = conf >= min_confidence
        scale = max(self._pixmap_item.boundingRect().height(), 1.0) / 400.0
        colours = {"left": LEFT_COLOUR, "right": RIGHT_COLOUR}

        def colour_of(i: int, alpha: float) -> int:
            c = QColor(colour or (colours.get(sides[i], CENTRE_COLOUR) if sides else CENTRE_COLOUR))
            c.setAlphaF(alpha)
            return c.rgba()

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
        for a, b in edges:
            path = edge_paths.setdefault(colour_of(a, 1.0 if strong[a] and strong[b] else 0.3), QPainterPath())
            path.moveTo(QPointF(*points[a]))
            path.lineTo(QPointF(*points[b]))
        radius = 2.5 * scale
        point_paths: dict[int, QPainterPath] = {}
        for i, (x, y) in enumerate(points):
            point_paths.setdefault(colour_of(i, 1.0 if strong[i] else 0.3), QPainterPath()).addEllipse(
                QPointF(x, y), radius, radius)
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
            self.fitInView(self._pixmap_item, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self._user_zoomed = True
        self.scale(factor, factor)

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
