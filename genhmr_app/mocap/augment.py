"""Widen the pose prior beyond what the motion capture covers.

Three augmentations, each measured on held-out contents by `main.py eval-tokenizer`:
- mirroring: swap left and right (reflect across the body's sagittal plane);
- part-wise mixing: lower body of one frame with upper body of another;
- perturbation inside joint limits learnt from the data (a per-joint box in axis-angle space),
  so noise never produces a knee bending backwards.
"""

from __future__ import annotations

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
