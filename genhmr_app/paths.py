"""Where things live: the repo's shipped weights, the user's folders, and the optional shared data.

Runtime code reads only `weights/` (shipped) and the user's folders; `shared_data_dir()` is for
training, benchmarks and tests, which must skip cleanly when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "GenHMR-Studio"
PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
WEIGHTS_DIR = Path(os.environ.get("GENHMR_WEIGHTS_DIR", REPO_ROOT / "weights"))
RESOURCES_DIR = REPO_ROOT / "resources"


def user_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def user_cache_dir() -> Path:
    return Path(os.environ.get("GENHMR_CACHE_DIR", platformdirs.user_cache_dir(APP_NAME, appauthor=False)))


def user_config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def shared_data_dir() -> Path:
    """Training/test data (motion capture, photos). `GENHMR_SHARED_DIR` overrides `../shared/data`."""
    env = os.environ.get("GENHMR_SHARED_DIR")
    base = Path(env) if env else REPO_ROOT.parent / "shared"
    return base / "data" if (base / "data").is_dir() else base
