"""A lighter copy of the body's mesh for previews: a drag in the annotator shows it while the mouse
moves (a third of the vertices to skin, to send between processes and to draw), and the full mesh
once the drag ends, as 3D tools show a coarser level of detail while the user interacts.

Vertices are removed, never moved (VTK's vtkDecimatePro with topology kept), so each kept vertex is
one of the full mesh's: posing it is indexing the posed full mesh, or skinning only those vertices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PREVIEW_REDUCTION = 0.75  # the share of triangles to remove (the topology limit keeps about a third)


@dataclass(frozen=True)
class ReducedMesh:
    vertex_ids: np.ndarray  # (V',) indices into the full mesh's vertices
    faces: np.ndarray  # (F', 3) indices into vertex_ids


def reduced_mesh(template: np.ndarray, faces: np.ndarray, reduction: float = PREVIEW_REDUCTION) -> ReducedMesh:
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
    decimate.PreserveTopologyOn()  # no holes, no flipped pieces: the preview stays one closed body
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
