"""Off-screen picture of a body model (front and side), for docs and quick visual checks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from genhmr_app.body.model import BodyModel


def render_body_png(model: BodyModel, out_path: Path | str, size: tuple[int, int] = (1500, 900), betas=None) -> Path:
    """Render the rest pose (T-pose) to a PNG: front view and the body's left side, smooth shading."""
    import pyvista as pv  # heavy; only needed here

    verts = model.rest_vertices(betas)[0].detach().cpu().numpy()
    faces = np.hstack([np.full((len(model.faces), 1), 3), model.faces]).ravel()
    mesh = pv.PolyData(verts, faces)
    centre = (verts.max(0) + verts.min(0)) / 2
    width, height, _ = np.ptp(verts, axis=0)

    # The T-pose is wider than tall: give the front view the wider panel.
    plotter = pv.Plotter(off_screen=True, shape=(1, 2), col_weights=[1.8, 1.0], window_size=list(size), border=False)
    view_angle = 30.0
    fit = 1.15 / (2 * np.tan(np.radians(view_angle / 2)))  # distance per metre of vertical extent
    # SMPL axes: Y up, facing +Z, the body's left at +X.
    views = (("front", (0.0, 0.0, 1.0)), ("left side", (1.0, 0.0, 0.0)))
    for col, (label, direction) in enumerate(views):
        plotter.subplot(0, col)
        plotter.set_background("white")
        plotter.add_mesh(mesh.copy(), color=(0.86, 0.72, 0.62), smooth_shading=True, specular=0.2)
        plotter.add_text(f"{model.info.name} - {label}", font_size=10, color="black")
        plotter.camera.focal_point = centre
        panel_aspect = (size[0] * (1.8 if col == 0 else 1.0) / 2.8) / size[1]
        extent = max(height, (width if col == 0 else 0.0) / panel_aspect)
        plotter.camera.position = centre + fit * extent * np.asarray(direction)
        plotter.camera.up = (0.0, 1.0, 0.0)
        plotter.camera.view_angle = view_angle
        plotter.reset_camera_clipping_range()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(out))
    plotter.close()
    return out
