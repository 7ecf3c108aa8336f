"""Packaging hook: the wheel carries the models and UI resources.

The repository keeps `weights/`, `resources/` and `NOTICE` at its root (the layout the product's owner
named); building copies them into the package as `genhmr_app/data/...`, where the installed app finds
them with importlib.resources (see genhmr_app/paths.py). Training runs and caches are never copied.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PACKAGE_DATA = ("weights", "resources", "NOTICE")


class BuildPyWithModels(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's own folders
        target = Path(self.build_lib) / "genhmr_app" / "data"
        for name in PACKAGE_DATA:
            src, dst = ROOT / name, target / name
            if src.is_dir():
                # weights/candidates holds models under evaluation that the app does not load yet.
                shutil.copytree(src, dst, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("*.tmp", "*.tmp*", "__pycache__", "candidates"))
            elif src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildPyWithModels})
