"""Offline smoothing of a whole sequence: rotations on the rotation manifold, positions in space.

Rotations become unit quaternions made continuous in time (q and -q are the same rotation; without
this, averaging neighbours across a sign flip cancels them out). Each frame is then the normalised
Gaussian-weighted sum of its neighbours' quaternions: the chordal L2 mean of the rotations in the
window, which stays on the manifold, unlike filtering axis-angle components (which jump at ±pi and
blur unevenly). The whole sequence is known, so the window looks ahead as well as back: no lag.
Frames the user edited (`fixed`) keep their values exactly.
"""

from __future__ import annotations

import numpy as np
import roma
import torch


def gaussian_weights(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _convolve_time(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian over axis 0 with the ends reflected (an edge frame is not pulled towards zero)."""
    w = gaussian_weights(sigma)
    r = len(w) // 2
    t = len(values)
    idx = np.arange(-r, t + r)
    idx = np.abs(idx)
    idx = np.where(idx >= t, 2 * (t - 1) - idx, idx).clip(0, t - 1)
    padded = values[idx]
    out = np.zeros_like(values, dtype=np.float64)
    for k, wk in enumerate(w):
        out += wk * padded[k:k + t]
    return out


def continuous_quaternions(rotations: np.ndarray) -> np.ndarray:
    """(T, ..., 3, 3) → (T, ..., 4) unit quaternions with q_t · q_{t-1} ≥ 0 along time."""
    q = roma.rotmat_to_unitquat(torch.as_tensor(rotations, dtype=torch.float64)).numpy()
    for t in range(1, len(q)):
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t][flip] *= -1
    return q


def smooth_rotations(rotations: np.ndarray, sigma: float, fixed: np.ndarray | None = None) -> np.ndarray:
    """(T, ..., 3, 3) rotation matrices smoothed over time with a Gaussian of `sigma` frames."""
    if sigma <= 0 or len(rotations) < 3:
        return np.array(rotations, dtype=np.float64, copy=True)
    q = continuous_quaternions(rotations)
    s = _convolve_time(q, sigma)
    s /= np.linalg.norm(s, axis=-1, keepdims=True).clip(1e-12)
    out = roma.unitquat_to_rotmat(torch.as_tensor(s)).numpy()
    if fixed is not None:
        out[fixed] = rotations[fixed]
    return out


def smooth_positions(positions: np.ndarray, sigma: float, fixed: np.ndarray | None = None) -> np.ndarray:
    if sigma <= 0 or len(positions) < 3:
        return np.array(positions, dtype=np.float64, copy=True)
    out = _convolve_time(np.asarray(positions, dtype=np.float64), sigma)
    if fixed is not None:
        out[fixed] = positions[fixed]
    return out


def acceleration_error(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean |second difference of pred − that of true| over frames and joints (units per frame²),
    the usual temporal-jitter measure (VIBE); (T, J, 3) each."""
    acc_p = pred[2:] - 2 * pred[1:-1] + pred[:-2]
    acc_t = true[2:] - 2 * true[1:-1] + true[:-2]
    return float(np.linalg.norm(acc_p - acc_t, axis=-1).mean())
