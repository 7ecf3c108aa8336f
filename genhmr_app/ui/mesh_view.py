"""The 3D viewport: a pyvistaqt interactor showing body meshes, with preset camera views.

The VTK widget needs an OpenGL context. Where none can be made (no display, a broken driver),
the window shows a message in its place instead of crashing, and the rest of the app works.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

log = logging.getLogger(__name__)

SKIN = (0.80, 0.72, 0.64)


def faces_to_vtk(faces: np.ndarray) -> np.ndarray:
    faces = np.asarray(faces, dtype=np.int64)
    return np.hstack([np.full((len(faces), 1), 3, dtype=np.int64), faces]).ravel()


class MeshView(QWidget):
    """Body meshes in SMPL axes (Y up, facing +Z); presets look at the body from the front/side/top."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plotter = None
        self._mesh = None
        self.unavailable_reason: str | None = None
        try:
            from pyvistaqt import QtInteractor

            self.plotter = QtInteractor(self)
            self.plotter.set_background("#2b2b30", top="#50505a")
            layout.addWidget(self.plotter.interactor, 1)
        except Exception as exc:  # noqa: BLE001 - any GL/VTK failure must degrade, not crash
            self.unavailable_reason = f"3D view unavailable: {exc}"
            log.warning(self.unavailable_reason)
            label = QLabel(self.unavailable_reason)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(True)
            layout.addWidget(label, 1)
        buttons = QHBoxLayout()
        for name in ("front", "side", "top", "reset"):
            button = QPushButton(name.capitalize())
            button.setObjectName(f"view_{name}")
            button.clicked.connect(lambda _=False, n=name: self.set_view(n))
            buttons.addWidget(button)
        layout.addLayout(buttons)

    @property
    def available(self) -> bool:
        return self.plotter is not None

    def show_mesh(self, vertices: np.ndarray, faces: np.ndarray, reset_camera: bool = False) -> None:
        if not self.available:
            return
        import pyvista as pv

        vertices = np.asarray(vertices, dtype=np.float32)
        if self._mesh is not None and self._mesh.n_points == len(vertices) and not reset_camera:
            # Update in place: re-adding an actor every frame is slow and flickers during live video.
            self._mesh.points = vertices
            self._mesh.compute_normals(inplace=True, cell_normals=False)
            self.plotter.render()
            return
        self.plotter.clear_actors()
        self._mesh = pv.PolyData(vertices, faces_to_vtk(faces))
        self._mesh.compute_normals(inplace=True, cell_normals=False)
        self.plotter.add_mesh(self._mesh, color=SKIN, smooth_shading=True, specular=0.2, name="body")
        self.set_view("front")

    def set_view(self, name: str) -> None:
        if not self.available:
            return
        # SMPL looks along +Z, so the front view camera sits on +Z looking back at the body.
        if name in ("front", "reset"):
            self.plotter.view_vector((0, 0, 1), viewup=(0, 1, 0))
        elif name == "side":
            self.plotter.view_vector((1, 0, 0), viewup=(0, 1, 0))
        elif name == "top":
            self.plotter.view_vector((0, 1, 0), viewup=(0, 0, -1))
        self.plotter.reset_camera()
        self.plotter.render()

    def grab_screenshot(self) -> np.ndarray | None:
        return self.plotter.screenshot(return_img=True) if self.available else None

    def close_view(self) -> None:
        if self.plotter is not None:
            self.plotter.close()
            self.plotter = None
