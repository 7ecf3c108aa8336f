"""Small numpy rotation helpers shared by the readers and the retargeter (batched, float64)."""

from __future__ import annotations

import numpy as np


def axis_rotation(axis: str, angles_deg: np.ndarray) -> np.ndarray:
    """Rotation matrices about a principal axis, (...,) degrees → (..., 3, 3)."""
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    c, s = np.cos(a), np.sin(a)
    one, zero = np.ones_like(a), np.zeros_like(a)
    i = "xyz".index(axis.lower())
    if i == 0:
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif i == 1:
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    else:
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def euler_to_matrix(order: str, angles_deg: np.ndarray) -> np.ndarray:
    """Compose R = R_order[0] @ R_order[1] @ ... (the BVH/ASF convention: first-listed axis outermost).

    angles_deg: (..., len(order)) in the same order as `order`.
    """
    angles_deg = np.asarray(angles_deg, dtype=np.float64)
    out = None
    for k, ax in enumerate(order):
        r = axis_rotation(ax, angles_deg[..., k])
        out = r if out is None else out @ r
    if out is None:
        out = np.broadcast_to(np.eye(3), angles_deg.shape[:-1] + (3, 3)).copy()
    return out


def normalize(v: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps)


def swing_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking direction a onto direction b, batched (..., 3) → (..., 3, 3).

    Antiparallel inputs get a half-turn about an axis perpendicular to a (any one is minimal).
    """
    a = normalize(np.asarray(a, dtype=np.float64))
    b = normalize(np.asarray(b, dtype=np.float64))
    a, b = np.broadcast_arrays(a, b)
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    shape = a.shape[:-1]
    vx = np.zeros(shape + (3, 3))
    vx[..., 0, 1], vx[..., 0, 2] = -v[..., 2], v[..., 1]
    vx[..., 1, 0], vx[..., 1, 2] = v[..., 2], -v[..., 0]
    vx[..., 2, 0], vx[..., 2, 1] = -v[..., 1], v[..., 0]
    eye = np.broadcast_to(np.eye(3), shape + (3, 3))
    denom = np.maximum(1.0 + c, 1e-12)[..., None, None]
    r = eye + vx + vx @ vx / denom
    anti = c < -1.0 + 1e-9
    if np.any(anti):
        # Half-turn about any axis perpendicular to a.
        aa = a[anti]
        helper = np.where(np.abs(aa[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
        axis = normalize(np.cross(aa, helper))
        r[anti] = 2.0 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return r


def slerp_matrices(r0: np.ndarray, r1: np.ndarray, t: float) -> np.ndarray:
    """Geodesic interpolation between rotation matrices, batched."""
    rel = np.swapaxes(r0, -1, -2) @ r1
    return r0 @ matrix_power_rotation(rel, t)


def matrix_power_rotation(r: np.ndarray, t: float) -> np.ndarray:
    aa = matrix_to_axis_angle(r)
    return axis_angle_to_matrix(aa * t)


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    aa = np.asarray(aa, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    k = aa / np.maximum(theta, 1e-12)
    kx = np.zeros(aa.shape[:-1] + (3, 3))
    kx[..., 0, 1], kx[..., 0, 2] = -k[..., 2], k[..., 1]
    kx[..., 1, 0], kx[..., 1, 2] = k[..., 2], -k[..., 0]
    kx[..., 2, 0], kx[..., 2, 1] = -k[..., 1], k[..., 0]
    s = np.sin(theta)[..., None]
    c = np.cos(theta)[..., None]
    return np.eye(3) + s * kx + (1.0 - c) * (kx @ kx)


def matrix_to_axis_angle(r: np.ndarray) -> np.ndarray:
    """Log map via quaternions, which stays accurate near 0 and pi."""
    q = matrix_to_quaternion(r)  # (..., 4) w, x, y, z with w >= 0
    w = np.clip(q[..., 0], -1.0, 1.0)
    xyz = q[..., 1:]
    n = np.linalg.norm(xyz, axis=-1)
    angle = 2.0 * np.arctan2(n, w)
    scale = np.where(n > 1e-12, angle / np.maximum(n, 1e-12), 2.0)
    return xyz * scale[..., None]


def matrix_to_quaternion(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r, dtype=np.float64)
    m00, m11, m22 = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    tr = m00 + m11 + m22
    cand = np.stack(
        [
            np.stack([1 + tr, r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1),
            np.stack([r[..., 2, 1] - r[..., 1, 2], 1 + m00 - m11 - m22, r[..., 0, 1] + r[..., 1, 0], r[..., 0, 2] + r[..., 2, 0]], -1),
            np.stack([r[..., 0, 2] - r[..., 2, 0], r[..., 0, 1] + r[..., 1, 0], 1 - m00 + m11 - m22, r[..., 1, 2] + r[..., 2, 1]], -1),
            np.stack([r[..., 1, 0] - r[..., 0, 1], r[..., 0, 2] + r[..., 2, 0], r[..., 1, 2] + r[..., 2, 1], 1 - m00 - m11 + m22], -1),
        ],
        axis=-2,
    )  # (..., 4 candidates, 4); candidate i is 4*q_i*q
    diag = np.stack([1 + tr, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cand, best[..., None, None].repeat(4, -1), axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return q * np.where(q[..., :1] < 0, -1.0, 1.0)


def matrix_to_rot6d(r: np.ndarray) -> np.ndarray:
    """Zhou et al. 6D: the first two columns, flattened column-major as (c0, c1)."""
    return np.concatenate([r[..., :, 0], r[..., :, 1]], axis=-1)


def rot6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = normalize(a1)
    b2 = normalize(a2 - np.sum(b1 * a2, -1, keepdims=True) * b1)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=-1)


def project_to_so3(m: np.ndarray) -> np.ndarray:
    """Nearest rotation (SVD), used after averaging matrices."""
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, -1] *= d[..., None]
    return u @ vt
