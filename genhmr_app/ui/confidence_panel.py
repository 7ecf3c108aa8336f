"""Token confidence during MaskGIT sampling: a tokens x iterations heatmap of the probability of each
token's chosen code, with re-masked tokens crossed out, and the mean confidence per iteration below.

It fills while sampling runs (one column per reported iteration). Hovering a cell shows the token,
its chosen code and that code's probability.
"""

from __future__ import annotations

import os

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QLabel, QToolTip, QVBoxLayout, QWidget

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
import pyqtgraph as pg  # noqa: E402  (after choosing the binding)

HEAT_CMAP = "viridis"


class ConfidencePanel(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        self.caption = QLabel("Token confidence: no result yet")
        layout.addWidget(self.caption)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("#232327")
        layout.addWidget(self.graphics, 1)

        self.heat_plot = self.graphics.addPlot(row=0, col=0)
        self.heat_plot.setLabel("left", "token")
        self.heat_plot.setLabel("bottom", "iteration")
        self.heat_plot.invertY(True)  # token 0 at the top, like a table
        self.heat_plot.setMouseEnabled(x=False, y=False)
        self.heat_plot.hideButtons()
        self.image = pg.ImageItem()
        self.cmap = cmap = pg.colormap.get(HEAT_CMAP)
        self.heat_plot.addItem(self.image)
        self.remask_marks = pg.ScatterPlotItem(symbol="x", size=9, pen=pg.mkPen("#ff5050", width=2), brush=None)
        self.heat_plot.addItem(self.remask_marks)
        # A legend only: the image is coloured here (RGBA), so not-yet-run cells can be transparent.
        bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=cmap, interactive=False, width=12, label="p(code)")
        self.graphics.addItem(bar, row=0, col=1)

        # Side by side rather than stacked: the heatmap gets the dock's full height for its token rows.
        self.curve_plot = self.graphics.addPlot(row=0, col=2)
        self.curve_plot.setLabel("left", "mean p")
        self.curve_plot.setLabel("bottom", "iteration")
        self.curve_plot.setYRange(0.0, 1.0)
        self.curve_plot.setXLink(self.heat_plot)
        self.curve_plot.setMouseEnabled(x=False, y=False)
        self.curve_plot.hideButtons()
        self.curve_plot.showGrid(y=True, alpha=0.25)
        self.curve = self.curve_plot.plot([], [], pen=pg.mkPen("#ffd24a", width=2), symbol="o", symbolSize=6,
                                          symbolBrush="#ffd24a")
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(2, 1)

        self.codes = np.zeros((0, 0), np.int64)  # (iterations, K) for the shown hypothesis
        self.confidence = np.zeros((0, 0), np.float32)
        self.remasked = np.zeros((0, 0), bool)
        self.filled = 0
        self._grid_shape: tuple[int, int] | None = None  # the (iterations, tokens) the axes are laid out for
        self._last_tokens = 0  # tokens per hypothesis in the last non-empty grid (prepare_live)
        self.last_tooltip = ""
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)

    # -- data -----------------------------------------------------------------------------------
    def start(self, iterations: int, tokens: int, caption: str = "", redraw: bool = True) -> None:
        """Empty grid for a new sampling run; columns arrive through add_record()."""
        self.codes = np.zeros((iterations, tokens), np.int64)
        self._last_tokens = tokens or self._last_tokens
        self.confidence = np.full((iterations, tokens), np.nan, np.float32)
        self.remasked = np.zeros((iterations, tokens), bool)
        self.filled = 0
        if caption:
            self.caption.setText(caption)
        if redraw:
            self._redraw()

    def add_record(self, record, row: int = 0, redraw: bool = True) -> None:
        """One sampling iteration (an IterationRecord, arrays (S, K)); `row` = which hypothesis."""
        it = int(record.iteration)
        k = record.confidence.shape[1]
        if it >= self.confidence.shape[0] or k != self.confidence.shape[1]:
            grow = max(it + 1, self.confidence.shape[0])
            self.start(grow, k) if self.filled == 0 else self._grow(grow, k)
        row = min(row, record.confidence.shape[0] - 1)
        self.codes[it] = record.codes[row]
        self.confidence[it] = record.confidence[row]
        self.remasked[it] = record.remasked[row]
        self.filled = max(self.filled, it + 1)
        if redraw:
            self._redraw()

    def _grow(self, iterations: int, tokens: int) -> None:
        old = self.codes, self.confidence, self.remasked
        self.start(iterations, tokens)
        n = min(len(old[0]), iterations)
        self.codes[:n], self.confidence[:n], self.remasked[:n] = old[0][:n], old[1][:n], old[2][:n]

    def set_records(self, records: list, row: int = 0, caption: str = "") -> None:
        if not records:
            self.clear(caption or "Token confidence: no 3D result")
            return
        self.start(len(records), records[0].confidence.shape[1], caption, redraw=False)
        for record in records:
            self.add_record(record, row, redraw=False)
        self._redraw()

    def clear(self, caption: str = "Token confidence: no result yet") -> None:
        self.start(0, 0, caption)

    def prepare_live(self, tokens: int | None = None, caption: str = "Token confidence: live") -> None:
        """An empty grid of a live frame's shape (one iteration of `tokens`, or of as many as the last
        result had): the axes are laid out now, while a stream starts, instead of with its first frame
        (a relayout is repainted over several passes, ~20 ms in all, when the window is busiest)."""
        tokens = tokens or self.confidence.shape[1] or self._last_tokens
        if tokens:
            self.start(1, tokens, caption)

    # -- drawing ------------------------------------------------------------------------------
    def _redraw(self) -> None:
        n, k = self.confidence.shape
        if n == 0 or k == 0:
            self.image.clear()
            self.remask_marks.setData([], [])
            self.curve.setData([], [])
            return
        # Not-yet-run iterations stay empty rather than pretending to be zero confidence.
        rgba = self.cmap.map(np.nan_to_num(self.confidence, nan=0.0).clip(0, 1), mode="byte")
        rgba[..., 3] = np.where(np.isnan(self.confidence), 0, 255)
        self.image.setImage(rgba, autoLevels=False)
        self.image.setRect(QRectF(0.5, -0.5, n, k))
        its, toks = np.nonzero(self.remasked[: self.filled])
        self.remask_marks.setData(its + 1.0, toks.astype(float))
        means = np.nanmean(self.confidence[: self.filled], axis=1) if self.filled else np.zeros(0)
        self.curve.setData(np.arange(1, self.filled + 1, dtype=float), means)
        if self._grid_shape == (n, k):
            return  # axes and ranges as they are: re-laying them out is most of a redraw's cost
        self._grid_shape = (n, k)
        self.heat_plot.getAxis("bottom").setTickSpacing(1 if n <= 12 else 2, 1)
        self.heat_plot.getAxis("left").setTickSpacing(1 if k <= 8 else 2 if k <= 16 else 4, 1)
        self.curve_plot.getAxis("bottom").setTickSpacing(1 if n <= 12 else 2, 1)
        self.heat_plot.setXRange(0.5, n + 0.5, padding=0)
        self.heat_plot.setYRange(-0.5, k - 0.5, padding=0)

    def mean_confidence(self) -> np.ndarray:
        return np.nanmean(self.confidence[: self.filled], axis=1) if self.filled else np.zeros(0)

    # -- hover ------------------------------------------------------------------------------------
    def tooltip_at(self, iteration: int, token: int) -> str:
        """Text for the cell of `iteration` (0-based) and `token`; empty outside the filled grid."""
        if not (0 <= iteration < self.filled and 0 <= token < self.confidence.shape[1]):
            return ""
        p = float(self.confidence[iteration, token])
        text = f"token {token} · iteration {iteration + 1}\ncode {int(self.codes[iteration, token])} · p = {p:.3f}"
        if self.remasked[iteration, token]:
            text += "\nre-masked (sampled again later)"
        return text

    def _on_mouse_moved(self, scene_pos) -> None:
        if not self.heat_plot.sceneBoundingRect().contains(scene_pos):
            return
        pos = self.heat_plot.vb.mapSceneToView(scene_pos)
        text = self.tooltip_at(int(round(pos.x())) - 1, int(round(pos.y())))
        self.last_tooltip = text
        if text:
            QToolTip.showText(QCursor.pos(), text, self.graphics)
        else:
            QToolTip.hideText()
