"""Preferences: compute device and body model file. Inference defaults live on the sliders."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from genhmr_app.settings import AppSettings

DEVICES = (("Automatic (CUDA when available)", "auto"), ("CPU", "cpu"), ("CUDA (GPU)", "cuda"))


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        form = QFormLayout(self)
        self.device = QComboBox()
        for text, value in DEVICES:
            self.device.addItem(text, value)
        self.device.setCurrentIndex(max(self.device.findData(settings.device), 0))
        form.addRow("Compute device", self.device)
        self.smpl_path = QLineEdit(settings.smpl_model_path)
        self.smpl_path.setPlaceholderText("empty: search the default places, else the built-in model")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QWidget()
        box = QHBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.smpl_path, 1)
        box.addWidget(browse)
        form.addRow("SMPL model file", row)
        note = QLabel("A device change applies to the next result. A new body model applies after a restart.")
        note.setWordWrap(True)
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "SMPL model", "", "SMPL model (*.pkl *.npz);;All files (*)")
        if path:
            self.smpl_path.setText(path)

    def apply_to(self, settings: AppSettings) -> None:
        settings.device = self.device.currentData()
        settings.smpl_model_path = self.smpl_path.text().strip()
