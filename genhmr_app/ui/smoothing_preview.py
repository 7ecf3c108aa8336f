"""Before/after view of an animation's smoothing, with its strength control.

Shows one joint of one track over the whole video: its speed per frame before smoothing (grey) and
after (orange). Jitter shows as spikes in the grey curve; too strong a smoothing flattens real motion
(the orange curve loses its peaks, and the average joint shift grows). The user picks a strength and
exports again; the frames are already reconstructed, so that takes seconds.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
)

from genhmr_app.motion.animate import SmoothingPreview, Track, preview_smoothing

# SMPL joints an animator looks at first: the extremities jitter most.
PREVIEW_JOINTS = {"Right wrist": 21, "Left wrist": 20, "Right ankle": 8, "Left ankle": 7, "Head": 15, "Pelvis": 0}
SLIDER_STEPS_PER_FRAME = 2  # the slider moves in half frames of sigma
MAX_SIGMA = 10.0


class SmoothingPreviewDialog(QDialog):
    export_requested = Signal(float)  # the chosen strength (Gaussian sigma in frames)

    def __init__(self, tracks: list[Track], body, fps: float, sigma: float, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Animation smoothing: before and after")
        self.tracks, self.body, self.fps = tracks, body, fps
        self.preview: SmoothingPreview | None = None
        self.track_box = QComboBox()
        self.track_box.addItems([f"Person {t.id} (frames {t.frames[0]}–{t.frames[-1]})" for t in tracks])
        self.joint_box = QComboBox()
        self.joint_box.addItems(list(PREVIEW_JOINTS))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, int(MAX_SIGMA * SLIDER_STEPS_PER_FRAME))
        self.slider.setValue(int(round(sigma * SLIDER_STEPS_PER_FRAME)))
        self.summary = QLabel()
        self.summary.setObjectName("smoothing_summary")
        self.plot = pg.PlotWidget()
        self.plot.setLabel("bottom", "frame")
        self.plot.setLabel("left", "joint speed", units="m/s")
        self.plot.addLegend()
        self.raw_curve = self.plot.plot(pen=pg.mkPen((150, 150, 150), width=1), name="before (per frame)")
        self.smooth_curve = self.plot.plot(pen=pg.mkPen((255, 150, 40), width=2.5), name="after smoothing")

        form = QFormLayout()
        form.addRow("Track", self.track_box)
        form.addRow("Joint", self.joint_box)
        strength = QHBoxLayout()
        strength.addWidget(self.slider, 1)
        self.sigma_label = QLabel()
        strength.addWidget(self.sigma_label)
        form.addRow("Strength", strength)
        buttons = QDialogButtonBox()
        self.export_button = buttons.addButton("Export with this strength", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.accepted.connect(self._export)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.summary)
        layout.addWidget(buttons)
        self.resize(760, 460)
        for signal in (self.track_box.currentIndexChanged, self.joint_box.currentIndexChanged, self.slider.valueChanged):
            signal.connect(lambda *_: self.refresh())
        self.refresh()

    @property
    def sigma(self) -> float:
        return self.slider.value() / SLIDER_STEPS_PER_FRAME

    def refresh(self) -> None:
        if not self.tracks:
            self.summary.setText("No track to preview: nobody was followed for long enough.")
            return
        track = self.tracks[max(self.track_box.currentIndex(), 0)]
        self.preview = preview_smoothing(track, self.body, self.fps, self.sigma)
        joint = PREVIEW_JOINTS[self.joint_box.currentText()]
        frames = self.preview.frames[1:]
        for curve, joints in ((self.raw_curve, self.preview.raw), (self.smooth_curve, self.preview.smoothed)):
            speed = np.linalg.norm(np.diff(joints[:, joint], axis=0), axis=-1) * self.fps
            curve.setData(frames, speed)
        reach = int(np.ceil(3 * self.sigma))
        self.sigma_label.setText(f"σ = {self.sigma:.1f} frames" if self.sigma > 0 else "off")
        self.summary.setText(
            f"Jitter (mean joint acceleration) {self.preview.jitter_reduction:.0%} lower · joints moved "
            f"{self.preview.mean_shift_m * 1000:.0f} mm on average · looks {reach} frames "
            f"({reach / self.fps:.2f} s) ahead and back, so it adds no delay to the exported motion")

    def _export(self) -> None:
        self.export_requested.emit(self.sigma)
        self.accept()
