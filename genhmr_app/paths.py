"""Where things live: the shipped weights and resources, the user's folders, the optional shared data.

The models and UI resources ship inside the installed package (`genhmr_app/data/weights`,
`genhmr_app/data/resources`, copied there from the repository's `weights/` and `resources/` when the
wheel is built, see setup.py) and are found through the package with importlib.resources. Only a
development checkout, where the package has no such copy, reads the repository's own folders.
`shared_data_dir()` is for training, benchmarks and tests, which must skip cleanly when it is absent.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

import platformdirs

APP_NAME = "GenHMR-Studio"
DIST_NAME = "genhmr-studio"
PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # meaningful in a checkout only (tools that write docs/ and runs/)


def _package_data(name: str) -> Path | None:
    """The copy of `name` (weights, resources, NOTICE) that an installed package carries, if any."""
    entry = importlib.resources.files("genhmr_app") / "data" / name
    return Path(str(entry)) if entry.is_dir() or entry.is_file() else None


def running_from_checkout() -> bool:
    """True for a development checkout (models read from the repository), False for an installed package."""
    return _package_data("weights") is None


def _data_path(name: str, env: str | None = None) -> Path:
    if env and os.environ.get(env):
        return Path(os.environ[env])
    return _package_data(name) or REPO_ROOT / name


WEIGHTS_DIR = _data_path("weights", "GENHMR_WEIGHTS_DIR")
RESOURCES_DIR = _data_path("resources", "GENHMR_RESOURCES_DIR")
NOTICE_PATH = _data_path("NOTICE")


def repair_hint(file: Path | str) -> str:
    """How to get a shipped model file back, for messages about a missing or damaged one."""
    if running_from_checkout():
        return (f"It is part of the repository: restore it with `git checkout -- {Path(file).name}` in its folder "
                "or rebuild it with the tool named in the README.")
    return (f"The installed package is damaged ({file}). Repair it with `pip install --force-reinstall --no-deps "
            f"{DIST_NAME}` (or `pipx reinstall {DIST_NAME}`).")


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
