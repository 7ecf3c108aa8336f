"""Finding mocap frames to drop: marker glitches, and redundant frames when subsampling."""

from __future__ import annotations

import numpy as np

from .rotations import matrix_to_axis_angle

MAX_SPEED_M_S = 8.0


def glitch_frames(
    positions: np.ndarray,
    fps: float,
    max_speed: float = MAX_SPEED_M_S,
    spike_ratio: float = 2.5,
    max_glitch_s: float = 0.5,
) -> np.ndarray:
    """Boolean mask (T,) of frames inside marker glitches.

    A glitch step is a joint moving faster than `max_speed` between two frames *and* several times
    faster than in the steps either side: CMU glitches are one-frame jumps (e.g. 73 m/s between
    frames at ~1 m/s), while a real kick ramps up to 14 m/s at the toes over a dozen frames and must
    be kept. Two glitch steps close together bracket a stretch of bad frames (jump away, jump back),
    which is dropped; a lone step drops the two frames around it.
    """
    t = positions.shape[0]
    bad = np.zeros(t, dtype=bool)
    if t < 3:
        return bad
    v = np.linalg.norm(np.diff(positions, axis=0), axis=-1) * fps  # (T-1, J)
    prev = np.vstack([v[:1], v[:-1]])
    nxt = np.vstack([v[1:], v[-1:]])
    # min, not max: a one-frame outlier makes two consecutive fast steps, each slow on its far side.
    spike = (v > max_speed) & (v > spike_ratio * np.minimum(prev, nxt))
    max_gap = max(1, int(round(max_glitch_s * fps)))
    # Pair steps per joint: a jump away and the jump back happen on the same marker-driven joint.
    for j in np.nonzero(spike.any(axis=0))[0]:
        steps = np.nonzero(spike[:, j])[0]
        i = 0
        while i < len(steps):
            s = steps[i]
            if i + 1 < len(steps) and steps[i + 1] - s <= max_gap:
                bad[s + 1 : steps[i + 1] + 1] = True
                i += 2
            else:
                bad[s : s + 2] = True
                i += 1
    return bad


def subsample_indices(
    body_pose: np.ndarray,
    fps: float,
    target_fps: float = 10.0,
    min_change_deg: float = 2.0,
) -> np.ndarray:
    """Frame indices at about `target_fps`, minus frames that barely differ from the last kept one.

    A fixed stride gives an even ~10 fps; the change test then drops stretches of standing still,
    which would otherwise dominate a per-frame pose prior. body_pose: (T, 23, 3, 3).
    """
    stride = max(1, int(round(fps / target_fps)))
    cand = np.arange(0, body_pose.shape[0], stride)
    if len(cand) == 0:
        return cand
    keep = [cand[0]]
    last = body_pose[cand[0]]
    thresh = np.radians(min_change_deg)
    for i in cand[1:]:
        rel = np.swapaxes(last, -1, -2) @ body_pose[i]
        change = np.linalg.norm(matrix_to_axis_angle(rel), axis=-1).max()
        if change >= thresh:
            keep.append(i)
            last = body_pose[i]
    return np.asarray(keep, dtype=np.int64)
