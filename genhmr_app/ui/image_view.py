"""The photo with its overlays (detected keypoints, skeleton), with wheel zoom and drag pan."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsItemGroup, QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

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


class ImageView(QGraphicsView):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QBrush(QColor(40, 40, 44)))
        self._pixmap_item = QGraphicsPixmapItem()
        self.scene().addItem(self._pixmap_item)
        self._overlays: dict[str, QGraphicsItemGroup] = {}
        self._user_zoomed = False

    # -- content ---------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray) -> None:
        self._pixmap_item.setPixmap(QPixmap.fromImage(rgb_to_qimage(rgb)))
        self.scene().setSceneRect(self._pixmap_item.boundingRect())
        self.clear_overlays()
        self._user_zoomed = False
        self.fit()

    def has_image(self) -> bool:
        return not self._pixmap_item.pixmap().isNull()

    def clear_overlays(self) -> None:
        for group in self._overlays.values():
            self.scene().removeItem(group)
        self._overlays.clear()

    def set_overlay_visible(self, name: str, visible: bool) -> None:
        if name in self._overlays:
            self._overlays[name].setVisible(visible)

    def overlay_names(self) -> list[str]:
        return list(self._overlays)

    def set_skeleton(
        self,
        name: str,
        points: np.ndarray,
        edges: list[tuple[int, int]],
        confidence: np.ndarray | None = None,
        sides: list[str] | None = None,
        min_confidence: float = 0.3,
        visible: bool = True,
    ) -> None:
        """Draw points (N, 2) joined by edges; low-confidence joints are drawn faint, not hidden,
        because annotators need to see where the detector guessed."""
        if name in self._overlays:
            self.scene().removeItem(self._overlays.pop(name))
        group = QGraphicsItemGroup()
        conf = np.ones(len(points)) if confidence is None else np.asarray(confidence)
        scale = max(self._pixmap_item.boundingRect().height(), 1.0) / 400.0
        colours = {"left": LEFT_COLOUR, "right": RIGHT_COLOUR}
        for a, b in edges:
            colour = QColor(colours.get(sides[a] if sides else "", CENTRE_COLOUR)) if sides else CENTRE_COLOUR
            colour.setAlphaF(1.0 if min(conf[a], conf[b]) >= min_confidence else 0.3)
            path = QPainterPath(QPointF(*points[a]))
            path.lineTo(QPointF(*points[b]))
            item = QGraphicsPathItem(path)
            pen = QPen(colour, 2.0 * scale)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            item.setPen(pen)
            group.addToGroup(item)
        radius = 2.5 * scale
        for i, (x, y) in enumerate(points):
            colour = QColor(colours.get(sides[i], CENTRE_COLOUR)) if sides else CENTRE_COLOUR
            colour.setAlphaF(1.0 if conf[i] >= min_confidence else 0.3)
            path = QPainterPath()
            path.addEllipse(QPointF(x, y), radius, radius)
            item = QGraphicsPathItem(path)
            item.setPen(QPen(QColor(20, 20, 20), 0.8 * scale))
            item.setBrush(QBrush(colour))
            group.addToGroup(item)
        group.setVisible(visible)
        self.scene().addItem(group)
        self._overlays[name] = group

    # -- navigation ------------------------------------------------------------------------
    def fit(self) -> None:
        if self.has_image():
            self.fitInView(self._pixmap_item, Qt.AspectRatioMode.KeepAspectRatio)

    def zoom(self, factor: float) -> None:
        self._user_zoomed = True
        self.scale(factor, factor)

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if not self._user_zoomed:
            self.fit()
