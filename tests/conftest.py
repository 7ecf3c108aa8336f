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
