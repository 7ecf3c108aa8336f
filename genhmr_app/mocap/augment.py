"""Widen the pose prior beyond what the motion capture covers.

Five augmentations, each measured on held-out contents by `main.py eval-tokenizer`:
- mirroring: swap left and right (reflect across the body's sagittal plane);
- part-wise mixing: lower body of one frame with upper body of another;
- perturbation inside joint limits learnt from the data (a per-joint box in axis-angle space),
  so noise never produces a knee bending backwards;
- folded legs: sitting, squatting, kneeling and sitting on the floor, which the clips (mostly standing
  motion) nearly lack, as lower bodies drawn around a few postures inside the hand-editing joint limits
  (editing/joint_limits.py), each leg on its own, under an upper body from the data;
- wide limbs: an arm or a leg drawn anywhere inside those joint limits, for poses no clip has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import roma
import torch

# SMPL body joints are numbered 1..23; body_pose index = joint - 1.
_LR_PAIRS = [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23)]
MIRROR_PERMUTATION = list(range(23))
for _l, _r in _LR_PAIRS:
    MIRROR_PERMUTATION[_l - 1], MIRROR_PERMUTATION[_r - 1] = _r - 1, _l - 1
LOWER_BODY = [j - 1 for j in (1, 2, 4, 5, 7, 8, 10, 11)]  # hips, knees, ankles, feet
_REFLECT = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))


def mirror(body_pose: torch.Tensor, global_orient: torch.Tensor | None = None):
    """Reflect x → -x: each rotation R becomes M R M, and left/right joints swap places."""
    m = _REFLECT.to(body_pose)
    mirrored = (m @ body_pose @ m)[:, MIRROR_PERMUTATION]
    if global_orient is None:
        return mirrored
    return mirrored, m @ global_orient @ m


def mix_parts(body_pose: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Give each pose the lower body of another random pose in the batch."""
    donor = torch.randperm(body_pose.shape[0], generator=generator).to(body_pose.device)
    out = body_pose.clone()
    out[:, LOWER_BODY] = body_pose[donor][:, LOWER_BODY]
    return out


@dataclass
class JointLimits:
    """Per-joint, per-component bounds of the axis-angle vectors seen in the data (with a margin)."""

    low: torch.Tensor  # (23, 3)
    high: torch.Tensor  # (23, 3)

    @classmethod
    def from_data(cls, body_pose: torch.Tensor, quantile: float = 0.001, margin: float = 0.1) -> JointLimits:
        aa = roma.rotmat_to_rotvec(body_pose).reshape(-1, 23, 3)
        sample = aa[torch.randperm(len(aa), generator=torch.Generator().manual_seed(0))[:50_000]]
        low = torch.quantile(sample, quantile, dim=0) - margin
        high = torch.quantile(sample, 1 - quantile, dim=0) + margin
        return cls(low, high)

    def perturb(self, body_pose: torch.Tensor, sigma: float = 0.08, generator: torch.Generator | None = None) -> torch.Tensor:
        aa = roma.rotmat_to_rotvec(body_pose)
        noise = torch.randn(aa.shape, generator=generator).to(aa) * sigma
        aa = torch.maximum(torch.minimum(aa + noise, self.high.to(aa)), self.low.to(aa))
        return roma.rotvec_to_rotmat(aa)


# Folded-leg postures: (hip, knee, ankle) XYZ Euler angles in degrees for the left leg as (mean, spread)
# per axis; the right leg takes them mirrored (Y and Z negated). SMPL's rest frame: x the body's left,
# so a thigh raised forward is a negative X rotation at the hip and a bent knee a positive one.
FOLDED_POSTURES: dict[str, tuple[tuple[tuple[float, float], ...], ...]] = {
    "chair": (((-90, 12), (0, 10), (6, 8)), ((90, 15), (0, 5), (0, 5)), ((0, 12), (0, 8), (0, 8))),
    "squat": (((-115, 10), (0, 12), (14, 8)), ((135, 12), (0, 5), (0, 5)), ((-20, 10), (0, 8), (0, 8))),
    "kneel": (((-10, 12), (0, 8), (4, 6)), ((125, 20), (0, 5), (0, 5)), ((40, 12), (0, 8), (0, 8))),
    "floor": (((-80, 12), (0, 20), (35, 12)), ((130, 12), (0, 8), (0, 8)), ((0, 15), (0, 10), (0, 10))),
}
_LEG_JOINTS = {"left": (0, 3, 6), "right": (1, 4, 7)}  # body_pose indices: hip, knee, ankle
_FOOT_JOINTS = (9, 10)
# FOLDED_POSTURES as (posture, hip/knee/ankle, axis) tensors of means and of spreads.
_FOLD_MEAN, _FOLD_SPREAD = torch.tensor(list(FOLDED_POSTURES.values()), dtype=torch.float32).unbind(-1)


def _limits_deg(joint: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The hand-editing joint limits (editing/joint_limits.py) of body joint `joint`: XYZ Euler low, high (3,)."""
    from genhmr_app.editing.joint_limits import limits

    low, high = torch.as_tensor(limits(joint), dtype=torch.float32).T
    return low, high


def _euler_rotmat(euler_deg: torch.Tensor) -> torch.Tensor:
    """XYZ Euler angles in degrees (..., 3) → rotation matrices (..., 3, 3)."""
    return roma.euler_to_rotmat("XYZ", euler_deg * (math.pi / 180))


def fold_legs(body_pose: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each pose's legs replaced by a folded posture (one of FOLDED_POSTURES for the pose, and for a
    third of them another for the right leg: kneeling on one knee, sitting with a leg out), drawn
    around its mean, clamped to the hand-editing joint limits. The upper body is kept."""
    b = body_pose.shape[0]
    left = torch.randint(0, len(FOLDED_POSTURES), (b,), generator=generator)
    right = torch.where(torch.rand(b, generator=generator) < 1 / 3,
                        torch.randint(0, len(FOLDED_POSTURES), (b,), generator=generator), left)
    out = body_pose.clone()
    for side, choice, sign in (("left", left, 1.0), ("right", right, -1.0)):
        for part, joint in enumerate(_LEG_JOINTS[side]):
            euler = _FOLD_MEAN[choice, part] + _FOLD_SPREAD[choice, part] * torch.randn(b, 3, generator=generator)
            euler[:, 1:] *= sign  # mirrored about the sagittal plane for the right leg
            low, high = _limits_deg(joint)
            out[:, joint] = _euler_rotmat(torch.maximum(torch.minimum(euler, high), low)).to(body_pose)
    for joint in _FOOT_JOINTS:  # the toes: near rest
        small = roma.rotvec_to_rotmat(0.1 * torch.randn(b, 3, generator=generator))
        out[:, joint] = small.to(body_pose)
    return out


# Arms and legs as body_pose indices (SMPL joint - 1), as the tokenizer's body parts (tokens/model.py).
LIMBS = {"left_leg": (0, 3, 6, 9), "right_leg": (1, 4, 7, 10), "left_arm": (12, 15, 17, 19, 21),
         "right_arm": (13, 16, 18, 20, 22)}


def wide_limbs(body_pose: torch.Tensor, generator: torch.Generator | None = None, share: float = 0.5) -> torch.Tensor:
    """Each limb of each pose, with probability `share`, redrawn uniformly inside the hand-editing joint
    limits (XYZ Euler boxes; ±90° where none is listed), every joint of it at once."""
    b = body_pose.shape[0]
    out = body_pose.clone()
    for joints in LIMBS.values():
        take = torch.rand(b, generator=generator) < share
        for joint in joints:
            low, high = _limits_deg(joint)
            drawn = _euler_rotmat(low + (high - low) * torch.rand(b, 3, generator=generator)).to(body_pose)
            out[:, joint] = torch.where(take[:, None, None].to(body_pose.device), drawn, body_pose[:, joint])
    return out
