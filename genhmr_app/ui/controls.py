"""The inference controls (labelled sliders and a seed box) and the hypotheses list.

Slider moves are debounced while a slider is dragged (or stepped by keys or the wheel): a change is
emitted once the user has paused for DEBOUNCE_MS, so dragging does not flood the worker, and the
current result stays on screen until the new one arrives. Releasing a slider emits at once: the user
has said where it goes, and waiting would only add delay.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider

from genhmr_app.settings import InferenceSettings

DEBOUNCE_MS = 150


class InferenceControls(QGroupBox):
    changed = Signal(object)  # InferenceSettings, after the debounce
    smoothing_changed = Signal(float)  # the live smoothing strength, at once (it re-runs nothing)

    def __init__(self, values: InferenceSettings | None = None, parent=None) -> None:
        super().__init__("Sampling and refinement", parent)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.iterations = self._int_slider(1, 20, "MaskGIT iterations: how many rounds of sampling and re-masking")
        self.temperature = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.05)
        self.temperature.setDecimals(2)
        self.temperature.setToolTip("Sampling temperature; 0 = greedy (always the most probable code)")
        self.refine_steps = self._int_slider(0, 50, "Steps of 2D-keypoint-guided refinement (0 = off; 1 = the joint fit alone; more add latent steps before it)")
        self.hypotheses = self._int_slider(1, 8, "How many poses to sample; they are ranked by 2D agreement")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Random seed: the same seed and settings give the same result")
        self.live_smoothing = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.live_smoothing.setRange(0.0, 1.0)
        self.live_smoothing.setSingleStep(0.05)
        self.live_smoothing.setDecimals(2)
        self.live_smoothing.setToolTip("Live video and camera: how strongly the shown pose is smoothed over time "
                                       "(One-Euro filter on the rotations and position; 0 = off). Stronger "
                                       "smoothing calms jitter and adds delay at rest; the filter opens "
                                       "when the detected keypoints move.")
        self.smoothing_delay = QLabel()
        self.smoothing_delay.setObjectName("smoothing_delay")
        for name, widget in (("Iterations", self.iterations), ("Temperature", self.temperature),
                             ("Refinement steps", self.refine_steps), ("Hypotheses", self.hypotheses),
                             ("Seed", self.seed), ("Live smoothing", self.live_smoothing)):
            widget.setObjectName(name.lower().replace(" ", "_"))
            form.addRow(name, widget)
        form.addRow("", self.smoothing_delay)
        self.defaults_button = QPushButton("Defaults")
        self.defaults_button.clicked.connect(lambda: self.set_values(InferenceSettings(), emit=True))
        form.addRow("", self.defaults_button)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit_now)
        self._last_emitted: InferenceSettings | None = None
        self.set_values(values or InferenceSettings())
        for widget in (self.iterations, self.temperature, self.refine_steps, self.hypotheses, self.seed):
            widget.valueChanged.connect(lambda _v: self._debounce.start())
        for slider in (self.iterations, self.temperature, self.refine_steps, self.hypotheses):
            slider.sliderReleased.connect(self._on_release)
        self.live_smoothing.valueChanged.connect(self._on_smoothing)
        self._show_delay()

    def _emit_now(self) -> None:
        self._debounce.stop()
        self._last_emitted = self.values()
        self.changed.emit(self._last_emitted)

    def _on_release(self) -> None:
        # A press and release without a move changes nothing: nothing to recompute. (The live
        # smoothing never re-runs anything, so it is left out of the comparison.)
        last = self._last_emitted
        if self._debounce.isActive() or last is None or \
                replace(self.values(), live_smoothing=last.live_smoothing) != last:
            self._emit_now()

    def _on_smoothing(self, value: float) -> None:
        self._show_delay()
        self.smoothing_changed.emit(float(value))

    def _show_delay(self) -> None:
        from genhmr_app.motion.live_smoothing import delay_ms

        strength = float(self.live_smoothing.value())
        self.smoothing_delay.setText("smoothing off" if strength <= 0 else
                                     f"smoothing adds about {delay_ms(strength):.0f} ms at rest")

    @staticmethod
    def _int_slider(lo: int, hi: int, tip: str) -> QLabeledSlider:
        slider = QLabeledSlider(Qt.Orientation.Horizontal)
        slider.setRange(lo, hi)
        slider.setToolTip(tip)
        return slider

    def values(self) -> InferenceSettings:
        return InferenceSettings(
            iterations=int(self.iterations.value()),
            temperature=round(float(self.temperature.value()), 3),
            refine_steps=int(self.refine_steps.value()),
            hypotheses=int(self.hypotheses.value()),
            seed=int(self.seed.value()),
            live_smoothing=round(float(self.live_smoothing.value()), 3),
        )

    def set_values(self, values: InferenceSettings, emit: bool = False) -> None:
        widgets = (self.iterations, self.temperature, self.refine_steps, self.hypotheses, self.seed, self.live_smoothing)
        for w in widgets:
            w.blockSignals(True)
        try:
            self.iterations.setValue(values.iterations)
            self.temperature.setValue(values.temperature)
            self.refine_steps.setValue(values.refine_steps)
            self.hypotheses.setValue(values.hypotheses)
            self.seed.setValue(values.seed)
            self.live_smoothing.setValue(values.live_smoothing)
        finally:
            for w in widgets:
                w.blockSignals(False)
        self._show_delay()
        if emit:
            self._debounce.start()
        else:  # the caller already has these values
            self._last_emitted = self.values()

    def pending(self) -> bool:
        return self._debounce.isActive()


class HypothesesPanel(QGroupBox):
    selected = Signal(int)  # rank of the hypothesis to show
    overlay_all_changed = Signal(bool)

    def __init__(self, parent=None) -> None:
        super().__init__("Hypotheses", parent)
        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setObjectName("hypotheses_list")
        self.list.currentRowChanged.connect(self._on_row)
        layout.addWidget(self.list)
        self.overlay_all = QCheckBox("Overlay all in 3D (translucent)")
        self.overlay_all.setToolTip("Show every hypothesis at once to compare them (H)")
        self.overlay_all.toggled.connect(self.overlay_all_changed.emit)
        layout.addWidget(self.overlay_all)

    def set_hypotheses(self, hypotheses: list, keep_row: bool = True) -> None:
        row = self.list.currentRow() if keep_row else 0
        self.list.blockSignals(True)
        if self.list.count() != len(hypotheses):  # same count (every live frame): the items are reused,
            self.list.clear()                     # so the list is not laid out again
            for _ in hypotheses:
                self.list.addItem(QListWidgetItem())
        for rank, h in enumerate(hypotheses):
            item = self.list.item(rank)
            item.setText(f"#{rank + 1}   {h.error_2d_px:.1f} px   log p {h.log_likelihood:.1f}")
            item.setToolTip(f"2D error after refinement {h.error_2d_px:.1f} px (as sampled {h.error_2d_before_px:.1f} px)."
                            "\nRanked by agreement with the detected 2D keypoints; log p is the transformer's"
                            "\nlog-probability of the sampled tokens.")
        self.list.setCurrentRow(min(max(row, 0), len(hypotheses) - 1) if hypotheses else -1)
        self.list.blockSignals(False)

    def current(self) -> int:
        return max(self.list.currentRow(), 0)

    def _on_row(self, row: int) -> None:
        if row >= 0:
            self.selected.emit(row)
