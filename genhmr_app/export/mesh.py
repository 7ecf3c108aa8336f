"""Mesh export (OBJ, PLY, GLB) through trimesh, always via safe_write (an existing file is kept as a
numbered backup).

Frames: `frame="display"` (default) writes the y-up frame of the 3D viewport, (x, -y, -z) of the
OpenCV camera frame: a person facing the camera faces +z, which is glTF's convention and opens
upright in Blender and three.js. `frame="camera"` writes the raw OpenCV camera frame of the JSON
contract (x right, y down, z forward), for aligning with the photo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from genhmr_app.export.safe_write import safe_write

MESH_SUFFIXES = (".obj", ".ply", ".glb")


class MeshExportError(Exception):
    """The mesh could not be written; the message is meant for the user."""


def write_mesh(vertices: np.ndarray, faces: np.ndarray, path: str | Path,
               frame: Literal["display", "camera"] = "display",
               vertex_colors: np.ndarray | None = None) -> Path | None:
    """Write camera-frame `vertices` (V, 3) with `faces` (F, 3); returns the backup path, if any.
    `vertex_colors`: optional (V, 3|4) uint8 (e.g. the uncertainty colouring)."""
    import trimesh

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise MeshExportError(f"Unsupported mesh format {suffix or '(none)'}; use one of {', '.join(MESH_SUFFIXES)}")
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise MeshExportError("The mesh has no valid vertices to export")
    if frame == "display":
        v = v * np.array([1.0, -1.0, -1.0])
    # process=False keeps the vertex order (and count) identical to the body model's, which
    # downstream tools rely on to map vertices back to SMPL.
    mesh = trimesh.Trimesh(v, np.asarray(faces, dtype=np.int64), vertex_colors=vertex_colors, process=False)
    data = mesh.export(file_type=suffix[1:])
    payload = data if isinstance(data, bytes) else data.encode()
    return safe_write(path, lambda tmp: tmp.write_bytes(payload))
