"""Start the Qt application."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def prepare_qt_environment() -> None:
    # Importing cv2 points Qt at OpenCV's bundled Qt5 plugins and fonts; PySide6 must use its own.
    import cv2  # noqa: F401  (import first so its side effects happen before we undo them)

    for var in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        os.environ.pop(var, None)


def one_torch_thread() -> None:
    """A window's process runs torch on one intra-op thread. Its model work is many small tensor
    operations next to the UI thread, the renderer and MediaPipe on a laptop's few cores; a second
    torch thread spinning against them made things slower, not faster (bench-app on 2 cores: sampling
    113 → 52 ms a frame, 2.0 → 2.6 fps; an annotator joint turn 87 → 8 ms for one mesh pass)."""
    import torch

    torch.set_num_threads(1)


def app_icon():
    """The application icon from the shipped resources, or None when the file is missing (the app
    still runs; Qt shows its default icon)."""
    from PySide6.QtGui import QIcon

    from genhmr_app.paths import RESOURCES_DIR

    path = RESOURCES_DIR / "icons" / "genhmr-studio.png"
    return QIcon(str(path)) if path.is_file() else None


def run_app(inputs: list[str] | None = None) -> int:
    prepare_qt_environment()
    one_torch_thread()
    from PySide6.QtWidgets import QApplication

    from genhmr_app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("GenHMR Studio")
    app.setDesktopFileName("genhmr-studio")
    icon = app_icon()
    if icon is not None:
        app.setWindowIcon(icon)
    window = MainWindow()
    window.show()
    if inputs:
        window.open_path(Path(inputs[0]))
    return app.exec()
