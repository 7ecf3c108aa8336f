"""A lighter copy of the body's mesh for previews: a drag in the annotator shows it while the mouse
moves and live frames are drawn on it (a seventh of the vertices to skin, to send between processes
and to draw), and the full mesh once the drag ends, as 3D tools show a coarser level of detail while
the user interacts.

Vertices are removed, never moved (VTK's vtkDecimatePro with topology kept), so each kept vertex is
one of the full mesh's: posing it is indexing the posed full mesh, or skinning only those vertices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The share of triangles to remove, and the feature angle that lets it go that far (at VTK's default
# of 15° the topology limit stopped at a third of the vertices; at 45° two edges joined four triangles,
# a seam across the chest). 13,718 → 2,064 vertices: live frames are drawn at half size, where it
# shows a few more facets on the torso than the 4,705-vertex mesh it replaces (compared side by side)
# and renders in 4.1 ms instead of 4.9 (llvmpipe's triangle setup). With its cheaper skinning and
# normals, the live stream's mesh updates rose from 0.54-0.59x MediaPipe alone's rate to 0.59-0.61x
# (`bench-app`, 60 fps camera, in one session).
PREVIEW_REDUCTION = 0.85
PREVIEW_FEATURE_ANGLE_DEG = 40.0


@dataclass(frozen=True)
class ReducedMesh:
    vertex_ids: np.ndarray  # (V',) indices into the full mesh's vertices
    faces: np.ndarray  # (F', 3) indices into vertex_ids


def reduced_mesh(template: np.ndarray, faces: np.ndarray, reduction: float = PREVIEW_REDUCTION,
                 feature_angle_deg: float = PREVIEW_FEATURE_ANGLE_DEG) -> ReducedMesh:
    """Decimate the rest-pose mesh (template (V, 3), faces (F, 3)). Deterministic: the window and the
    model process compute the same one."""
    from scipy.spatial import cKDTree
    from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
    from vtkmodules.vtkFiltersCore import vtkDecimatePro

    template = np.ascontiguousarray(template, np.float64)
    faces = np.asarray(faces, np.int64)
    points = vtkPoints()
    points.SetData(numpy_to_vtk(template, deep=True))
    cells = vtkCellArray()
    cells.SetData(numpy_to_vtkIdTypeArray(np.arange(0, 3 * len(faces) + 1, 3, dtype=np.int64), deep=True),
                  numpy_to_vtkIdTypeArray(np.ascontiguousarray(faces.ravel()), deep=True))
    mesh = vtkPolyData()
    mesh.SetPoints(points)
    mesh.SetPolys(cells)
    decimate = vtkDecimatePro()
    decimate.SetInputData(mesh)
    decimate.SetTargetReduction(reduction)
    decimate.PreserveTopologyOn()  # no holes, no flipped pieces: the preview stays one body
    decimate.SetFeatureAngle(feature_angle_deg)
    decimate.SetMaximumError(1e9)  # the reduction, not an error bound, decides how far it goes
    decimate.Update()
    out = decimate.GetOutput()
    kept = vtk_to_numpy(out.GetPoints().GetData())
    out_faces = vtk_to_numpy(out.GetPolys().GetConnectivityArray()).reshape(-1, 3)
    distance, ids = cKDTree(template).query(kept)
    if distance.max() > 1e-9 or len(np.unique(ids)) != len(ids):
        raise RuntimeError("the decimated mesh moved or merged vertices")  # vtkDecimatePro does neither
    return ReducedMesh(ids.astype(np.int64), out_faces.astype(np.int64))


def preview_mesh(body) -> ReducedMesh:
    """The body model's preview mesh, computed once per model (about 0.2 s)."""
    cached = getattr(body, "_preview_mesh", None)
    if cached is None:
        template = body.smpl.v_template.detach().float().cpu().numpy()
        cached = reduced_mesh(template, np.asarray(body.faces))
        body._preview_mesh = cached
    return cached
