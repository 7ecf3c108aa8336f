"""SMPL-24 kinematic tree and a plain numpy forward kinematics.

Kept independent of the body-model code (genhmr_app/body) so the mocap pipeline only needs rest joint
positions, which any SMPL-format model provides as J_regressor @ v_template.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "l_hip", "r_hip", "spine1", "l_knee", "r_knee", "spine2", "l_ankle", "r_ankle", "spine3",
    "l_foot", "r_foot", "neck", "l_collar", "r_collar", "head", "l_shoulder", "r_shoulder", "l_elbow",
    "r_elbow", "l_wrist", "r_wrist", "l_hand", "r_hand",
)  # fmt: skip
SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
NUM_JOINTS = 24

# Bones whose direction we compare between source and retargeted skeletons (parent joint, child joint).
LIMB_BONES: tuple[tuple[str, str], ...] = (
    ("l_hip", "l_knee"), ("r_hip", "r_knee"), ("l_knee", "l_ankle"), ("r_knee", "r_ankle"),
    ("l_ankle", "l_foot"), ("r_ankle", "r_foot"),
    ("l_shoulder", "l_elbow"), ("r_shoulder", "r_elbow"), ("l_elbow", "l_wrist"), ("r_elbow", "r_wrist"),
)  # fmt: skip
TORSO_BONES: tuple[tuple[str, str], ...] = (
    ("pelvis", "neck"), ("neck", "head"), ("l_collar", "l_shoulder"), ("r_collar", "r_shoulder"),
    ("r_hip", "l_hip"),
)  # fmt: skip


def smpl_forward_kinematics(
    global_orient: np.ndarray,
    body_pose: np.ndarray,
    rest_joints: np.ndarray,
    transl: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Joint positions (T, 24, 3) and global rotations (T, 24, 3, 3) of SMPL's LBS skeleton.

    global_orient (T, 3, 3), body_pose (T, 23, 3, 3) local rotations, rest_joints (24, 3). Like SMPL,
    the pelvis stays at rest_joints[0] + transl.
    """
    rest = np.asarray(rest_joints, dtype=np.float64)
    t = global_orient.shape[0]
    local = np.concatenate([global_orient[:, None], body_pose], axis=1)
    g = np.zeros((t, NUM_JOINTS, 3, 3))
    p = np.zeros((t, NUM_JOINTS, 3))
    g[:, 0] = local[:, 0]
    p[:, 0] = rest[0]
    for k in range(1, NUM_JOINTS):
        par = SMPL_PARENTS[k]
        g[:, k] = g[:, par] @ local[:, k]
        p[:, k] = p[:, par] + np.einsum("tij,j->ti", g[:, par], rest[k] - rest[par])
    if transl is not None:
        p = p + np.asarray(transl)[:, None, :]
    return p, g


def rest_joints_from_npz(path: str | Path) -> np.ndarray:
    """Rest joints from a body-model npz (J_regressor @ v_template) or a plain joints npz/npy."""
    path = Path(path)
    if path.suffix == ".npy":
        joints = np.load(path)
    else:
        with np.load(path, allow_pickle=False) as d:
            if "J_regressor" in d and "v_template" in d:
                jr = d["J_regressor"]
                joints = np.asarray(jr @ d["v_template"])
            else:
                key = next((k for k in ("rest_joints", "joints", "J") if k in d), None)
                if key is None:
                    raise KeyError(f"{path}: needs J_regressor+v_template or a 'rest_joints' array")
                joints = d[key]
    joints = np.asarray(joints, dtype=np.float64)
    if joints.shape != (NUM_JOINTS, 3):
        raise ValueError(f"{path}: rest joints have shape {joints.shape}, expected (24, 3)")
    return joints
