"""What the app draws, computed in the core (numpy/OpenCV, no Qt) so the UI thread only displays it.

Frames. The reconstruction lives in the OpenCV camera frame (x right, y down, z forward). The 3D
viewport uses a y-up, right-handed display frame: (x, y, z)_display = (x, -y, -z)_camera. The photo's
camera then sits at the origin looking down -z, as in OpenGL, and a person facing the camera faces +z
(the glTF convention, so exported meshes open upright in Blender and three.js as well).

Uncertainty. A VQ token is not tied to one joint: the decoder mixes all tokens into all 23 joint
rotations. We measure how much each token moves each joint by swapping it for other codebook entries
and decoding (the mean geodesic angle change, `token_joint_influence`). A joint's uncertainty is then
the mix of (1 - confidence) over tokens, weighted by that influence (`joint_uncertainty`); the pelvis,
whose rotation is regressed rather than tokenised, gets the plain mean. A vertex gets its skinning-
weight-weighted mix of joint uncertainties (`vertex_uncertainty`). All values lie in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from genhmr_app.tokens.influence import joint_uncertainty, token_joint_influence  # noqa: F401 (re-exported)

import numpy as np

CAMERA_TO_DISPLAY = np.array([1.0, -1.0, -1.0], dtype=np.float32)
MAX_OVERLAY_SIDE = 1024  # overlays of bigger pictures are drawn at reduced size, then scaled up for display: a 1280x720
# frame is shown at half that or less, and at full size the drawing (19 ms) and handing it over (3.7 MB) cost 40% more


def to_display(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float32) * CAMERA_TO_DISPLAY


def to_camera(points: np.ndarray) -> np.ndarray:
    """Display coordinates (points or normals) back to the camera's: the same half-turn about x."""
    return to_display(points)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals: the face normals summed per vertex through a sparse
    vertex-by-face incidence matrix, built once per faces array (a drag asks for this a dozen times a
    second; the sparse product is ~3x faster than bincounts)."""
    v = np.asarray(vertices, dtype=np.float32)
    f = np.asarray(faces)
    a = v[f[:, 0]]
    fn = np.cross(v[f[:, 1]] - a, v[f[:, 2]] - a)
    n = np.asarray(_incidence(f, len(v)) @ fn, dtype=np.float32)
    n /= np.linalg.norm(n, axis=1, keepdims=True).clip(1e-12)
    return n


_INCIDENCE: dict[tuple, tuple] = {}


def _incidence(faces: np.ndarray, n_vertices: int):
    """(V, F) sparse matrix with a 1 where a vertex belongs to a face; cached by the faces' identity
    (the faces array is kept with it, so the id cannot be reused)."""
    key = (id(faces), faces.shape, n_vertices)
    hit = _INCIDENCE.get(key)
    if hit is None or hit[0] is not faces:
        import scipy.sparse as sp

        rows = faces.ravel()
        cols = np.repeat(np.arange(len(faces)), 3)
        matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_vertices, len(faces)))
        if len(_INCIDENCE) > 8:
            _INCIDENCE.clear()
        hit = _INCIDENCE[key] = (faces, matrix)
    return hit[1]


def frustum_points(width: int, height: int, focal: float, depth: float) -> np.ndarray:
    """Apex and the four image corners at `depth` metres, display frame: (5, 3)."""
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    xy = (corners - [width / 2, height / 2]) / focal * depth
    cam = np.vstack([[0.0, 0.0, 0.0], np.column_stack([xy, np.full(4, depth)])])
    return to_display(cam)


FRUSTUM_LINES = np.array([[0, 1], [0, 2], [0, 3], [0, 4], [1, 2], [2, 3], [3, 4], [4, 1]])


def project(points: np.ndarray, focal: float, width: int, height: int) -> np.ndarray:
    """Camera-frame points (N, 3) → pixels (N, 2); principal point at the image centre."""
    p = np.asarray(points, dtype=np.float64)
    z = np.maximum(p[:, 2:3], 1e-3)
    return p[:, :2] / z * focal + [width / 2, height / 2]


def skeleton_edges(parents: np.ndarray) -> list[tuple[int, int]]:
    return [(int(p), i) for i, p in enumerate(parents) if p >= 0]


def sample_rows(final_codes: np.ndarray, ranked_tokens: list[np.ndarray]) -> list[int]:
    """The reconstruction ranks hypotheses by 2D error, while the sampling records keep sampling
    order: find each ranked hypothesis's row by its tokens (identical samples share any free row)."""
    free = list(range(len(final_codes)))
    rows = []
    for tokens in ranked_tokens:
        match = next((r for r in free if np.array_equal(final_codes[r], tokens)), free[0] if free else 0)
        if match in free:
            free.remove(match)
        rows.append(int(match))
    return rows


# -- uncertainty -------------------------------------------------------------------------------
def vertex_uncertainty(skin_weights: np.ndarray, joint_values: np.ndarray) -> np.ndarray:
    return (np.asarray(skin_weights, dtype=np.float32) @ np.asarray(joint_values, dtype=np.float32)).clip(0, 1)


def proxy_faces(rest_vertices: np.ndarray, faces: np.ndarray, skin_weights: np.ndarray,
                cell_m: float = 0.025) -> np.ndarray:
    """A coarser triangulation over a subset of the body's own vertices (vertex clustering on the
    rest pose), for the 2D overlays: it draws several times faster than the full mesh, and its
    wireframe stays readable where the full one is a solid blob of lines. Vertices merge only when
    they share a grid cell *and* their dominant skinning joint, so the fingers or the inner thighs
    never get fused into triangles that would stretch when the body moves."""
    v = np.asarray(rest_vertices, dtype=np.float64)
    dominant = np.asarray(skin_weights).argmax(1)
    key = np.column_stack([np.floor(v / cell_m).astype(np.int64), dominant])
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    rep = first[inverse.ravel()]
    f = rep[np.asarray(faces)]
    f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
    _, unique = np.unique(np.sort(f, axis=1), axis=0, return_index=True)
    return f[np.sort(unique)]


# -- 2D overlays ----------------------------------------------------------------------------------
FILL_COLOUR = (150, 200, 255)
WIRE_COLOUR = (120, 230, 255)


@dataclass
class MeshOverlay:
    """Pictures of the projected mesh, at `scale` x the image size (scale ≤ 1 for huge images).

    Kept as one byte a pixel (a shade level, a line's coverage) and turned into RGBA only where it is
    shown: a live frame's overlay crosses from the model process to the window, and a quarter of the
    bytes is ~1 ms less of pickling on each side."""

    fill_shade: np.ndarray | None  # (h, w) uint8 shade of the surface; 0 where it does not cover
    wire_lines: np.ndarray | None  # (h, w) uint8 coverage of the camera-facing triangles' edges
    scale: float
    colour: tuple[int, int, int] = FILL_COLOUR
    alpha: float = 0.6

    @cached_property
    def fill(self) -> np.ndarray | None:
        """(h, w, 4) uint8: the shaded translucent surface."""
        if self.fill_shade is None:
            return None
        # Shade level → RGBA by one table lookup per pixel (level 0: not covered, transparent).
        lut = np.zeros((256, 4), np.uint8)
        lut[:, :3] = (np.asarray(self.colour, np.float32)[None] * np.arange(256, dtype=np.float32)[:, None] / 255.0
                      ).clip(0, 255).astype(np.uint8)
        lut[1:, 3] = int(self.alpha * 255)
        return lut[self.fill_shade]

    @cached_property
    def wire(self) -> np.ndarray | None:
        """(h, w, 4) uint8: the edges, anti-aliased."""
        if self.wire_lines is None:
            return None
        rgba = np.zeros((*self.wire_lines.shape, 4), np.uint8)
        rgba[..., :3] = WIRE_COLOUR
        rgba[..., 3] = (self.wire_lines.astype(np.float32) * 0.6).astype(np.uint8)
        return rgba

    def prepare(self) -> MeshOverlay:
        """Makes the RGBA pictures now (in a worker), so that the thread that shows them only shows them."""
        _ = self.fill, self.wire
        return self


def _facing(normals: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Cosine between each normal (N, 3) and the ray from its point (N, 3) back to the camera."""
    return -(normals * centres).sum(1) / (np.linalg.norm(normals, axis=1) * np.linalg.norm(centres, axis=1)).clip(1e-12)


def _front_faces(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces that look at the camera, and their shading (cosine to the view ray)."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    facing = _facing(np.cross(b - a, c - a), (a + b + c) / 3)
    return facing > 0, facing


def rasterize_mesh(vertices: np.ndarray, faces: np.ndarray, focal: float, width: int, height: int,
                   fill: bool = True, wire: bool = False, colour: tuple[int, int, int] = FILL_COLOUR,
                   alpha: float = 0.6, max_side: int = MAX_OVERLAY_SIDE,
                   normals: np.ndarray | None = None) -> MeshOverlay:
    """Painter's algorithm over the camera-facing triangles: far ones first, shaded by the angle to
    the view ray (of the triangle, or of its corners' `normals` (V, 3) in camera space when given).
    A single fillPoly call would be faster but fills overlaps even-odd (an arm in front of the torso
    would punch a hole), so triangles are drawn one by one (~30 ms for 14k)."""
    import cv2

    scale = min(1.0, max_side / max(width, height))
    w, h = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    keep, facing = _front_faces(v, f)
    f, facing = f[keep], facing[keep]
    if normals is not None and len(f):
        # Shaded by the mean of the corners' (smooth) normals rather than the triangle's own: a coarse
        # triangulation has slivers seen edge-on, which its own normal shades near black.
        facing = _facing(np.asarray(normals, dtype=np.float64)[f].sum(1), v[f].mean(1)).clip(0, 1)
    shift = 4  # sub-pixel precision: OpenCV takes fixed-point coordinates
    px = (project(v, focal * scale, w, h) * (1 << shift)).round()
    px = np.clip(px, -(1 << 26), 1 << 26).astype(np.int32)
    tris = px[f]  # (F, 3, 2)
    canvas = lines = None
    if fill and len(f):
        order = np.argsort(-v[f].mean(1)[:, 2])  # far to near
        shade = (0.35 + 0.65 * facing[order]).clip(0, 1)
        canvas = np.zeros((h, w), np.uint8)
        levels = (shade * 255).astype(np.uint8).tolist()  # ≥ 89, so 0 still means "not covered"
        for tri, level in zip(list(tris[order]), levels):
            cv2.fillConvexPoly(canvas, tri, level, cv2.LINE_8, shift)
    if wire and len(f):
        lines = np.zeros((h, w), np.uint8)
        cv2.polylines(lines, tris, True, 255, 1, cv2.LINE_AA, shift)
    return MeshOverlay(canvas, lines, scale, colour, alpha)
