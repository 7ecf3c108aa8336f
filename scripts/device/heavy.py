"""The packages the GPU machine lacks, and a guard that refuses them here so a device script is tested
as it will run there (`--block-heavy` of cuda_check.py and train_on_device.py)."""

from __future__ import annotations

import importlib.abc

# Packages the GPU machine lacks and the device scripts must not need.
HEAVY = ("mediapipe", "vtk", "vtkmodules", "pyvista", "pyvistaqt", "PySide6", "shiboken6", "pyqtgraph", "superqt",
         "trimesh", "bvhio", "pygltflib", "ray")


class HeavyBlocker(importlib.abc.MetaPathFinder):
    """Installed first on sys.meta_path: any HEAVY package fails to import, and is remembered."""

    def __init__(self) -> None:
        self.refused: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            self.refused.add(name.split(".")[0])
            raise ImportError(f"{name} is blocked by --block-heavy (absent on the GPU machine)")
        return None
