"""Approximate joint limits for turning SMPL joints by hand: XYZ Euler angles (degrees) of each joint's
rotation relative to its parent, in SMPL's rest frame (x: the body's left, y: up, z: forward).

They keep a hand edit out of the impossible (a knee bent backwards, a head turned around); they are
generous, not anatomical truth. Joints not listed get ±90° on every axis.
"""

from __future__ import annotations

import numpy as np

SMPL_BODY_JOINTS = ("left hip", "right hip", "spine 1", "left knee", "right knee", "spine 2", "left ankle",
                    "right ankle", "spine 3", "left foot", "right foot", "neck", "left collar", "right collar",
                    "head", "left shoulder", "right shoulder", "left elbow", "right elbow", "left wrist",
                    "right wrist", "left hand", "right hand")  # body_pose order (SMPL joints 1–23)

DEFAULT_LIMIT = ((-90.0, 90.0),) * 3
LIMITS_DEG: dict[str, tuple[tuple[float, float], ...]] = {
    "left hip": ((-130, 45), (-60, 60), (-30, 90)),
    "right hip": ((-130, 45), (-60, 60), (-90, 30)),
    "left knee": ((-5, 160), (-20, 20), (-15, 15)),
    "right knee": ((-5, 160), (-20, 20), (-15, 15)),
    "spine 1": ((-45, 60), (-40, 40), (-35, 35)),
    "spine 2": ((-30, 40), (-30, 30), (-25, 25)),
    "spine 3": ((-30, 40), (-30, 30), (-25, 25)),
    "left ankle": ((-45, 60), (-30, 30), (-30, 30)),
    "right ankle": ((-45, 60), (-30, 30), (-30, 30)),
    "neck": ((-45, 60), (-60, 60), (-40, 40)),
    "head": ((-40, 40), (-60, 60), (-30, 30)),
    "left elbow": ((-30, 30), (-160, 10), (-30, 30)),
    "right elbow": ((-30, 30), (-10, 160), (-30, 30)),
    "left wrist": ((-80, 80), (-40, 40), (-80, 80)),
    "right wrist": ((-80, 80), (-40, 40), (-80, 80)),
}


def limits(joint: int) -> np.ndarray:
    """(3, 2) min/max degrees for body joint `joint` (0-based index into body_pose)."""
    return np.asarray(LIMITS_DEG.get(SMPL_BODY_JOINTS[joint], DEFAULT_LIMIT), np.float64)


def clamp(joint: int, euler_deg: np.ndarray) -> np.ndarray:
    lim = limits(joint)
    return np.clip(np.asarray(euler_deg, np.float64), lim[:, 0], lim[:, 1])
