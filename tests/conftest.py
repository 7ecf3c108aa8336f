"""Shared fixtures. Data from ../shared is optional: tests that need it skip with a reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Keep tests from touching the developer's real settings and caches.
os.environ.setdefault("GENHMR_SETTINGS", str(Path(os.environ.get("TMPDIR", "/tmp")) / "genhmr-test-settings.json"))


@pytest.fixture(scope="session")
def shared_images() -> Path:
    from genhmr_app.paths import shared_data_dir

    folder = shared_data_dir() / "images"
    if not folder.is_dir():
        pytest.skip(f"shared image data not found at {folder} (set GENHMR_SHARED_DIR)")
    return folder


@pytest.fixture(scope="session")
def photo_path(shared_images: Path) -> Path:
    path = shared_images / "photos" / "hybrik_000000581328.jpg"
    if not path.exists():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(autouse=True)
def _collect_qt_objects_between_tests():
    """Destroy each test's windows at a quiet moment, after the test, instead of whenever the garbage
    collector runs: PySide6 crashes here when an old window's C++ objects are torn down in the middle
    of building the next one (seen as segfaults inside pyqtgraph/QGraphicsScene constructors)."""
    yield
    import gc
    import sys

    if "PySide6.QtWidgets" not in sys.modules:
        return
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    for widget in app.topLevelWidgets():
        if widget.isVisible():
            widget.close()
    for _ in range(2):
        app.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
    app.processEvents()
