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
    usable: np.ndarray | None = None,
) -> np.ndarray:
    """Frame indices at about `target_fps`, minus frames that barely differ from the last kept one.

    A fixed stride gives an even ~10 fps; the change test then drops stretches of standing still,
    which would otherwise dominate a per-frame pose prior. body_pose: (T, 23, 3, 3); usable: optional
    (T,) mask of frames that may be kept at all.
    """
    stride = max(1, int(round(fps / target_fps)))
    cand = np.arange(0, body_pose.shape[0], stride)
    if usable is not None:
        cand = cand[usable[cand]]
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


# Largest plausible local rotation (degrees) per SMPL joint; unlisted joints are unlimited. Generous on
# purpose: this catches data errors (a CMU foot turned 180 degrees for 2,400 frames of 01_12, wrists
# at 140-150 degrees in 01_03), not unusual but real poses (Bandai's dance points a foot to 108).
MAX_LOCAL_DEG = {
    "spine1": 100, "spine2": 100, "spine3": 100, "neck": 100, "head": 100, "l_collar": 90, "r_collar": 90,
    "l_knee": 170, "r_knee": 170, "l_ankle": 130, "r_ankle": 130, "l_foot": 90, "r_foot": 90,
    "l_elbow": 170, "r_elbow": 170, "l_wrist": 130, "r_wrist": 130,
}  # fmt: skip
# A hinge bent this far the wrong way (knee forwards, elbow backwards) is an error too.
MAX_HYPEREXTENSION_DEG = 30.0
_HINGE_NORMALS = {"l_knee": (1.0, 0.0, 0.0), "r_knee": (1.0, 0.0, 0.0), "l_elbow": (0.0, -1.0, 0.0),
                  "r_elbow": (0.0, 1.0, 0.0)}  # fmt: skip


def implausible_frames(body_pose: np.ndarray, rest_joints: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """Mask (T,) of frames with an anatomically impossible joint, and counts per joint for the log.

    body_pose: (T, 23, 3, 3) local rotations of SMPL joints 1..23.
    """
    from .smpl_skeleton import J, SMPL_PARENTS

    bad = np.zeros(body_pose.shape[0], dtype=bool)
    counts: dict[str, int] = {}
    angle = np.degrees(np.linalg.norm(matrix_to_axis_angle(body_pose), axis=-1))
    for name, lim in MAX_LOCAL_DEG.items():
        m = angle[:, J[name] - 1] > lim
        if m.any():
            counts[name] = int(m.sum())
            bad |= m
    child_of = {p: k for k, p in enumerate(SMPL_PARENTS) if p > 0}
    for name, normal in _HINGE_NORMALS.items():
        k = J[name]
        upper = rest_joints[k] - rest_joints[SMPL_PARENTS[k]]
        lower = rest_joints[child_of[k]] - rest_joints[k]
        lower = lower / np.linalg.norm(lower)
        bent = body_pose[:, k - 1] @ lower
        side = np.cross(upper / np.linalg.norm(upper), bent) @ np.asarray(normal)
        # side = sin(bend) signed by direction; negative means bent the wrong way.
        m = side < -np.sin(np.radians(MAX_HYPEREXTENSION_DEG))
        if m.any():
            counts[f"{name} (backwards)"] = int(m.sum())
            bad |= m
    return bad, counts
