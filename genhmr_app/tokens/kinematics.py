"""Joint and vertex positions from rotations, through the body model, for losses and metrics.

Uses smplx's own `batch_rigid_transform` and the model's skinning weights (the maths of
`smplx.lbs.lbs`) at a fixed mean shape, precomputing what does not depend on the pose. Optionally
skins only a fixed subset of vertices: the vertex loss needs coverage of the surface, not all
13,718 points, and training on two CPU cores cannot afford full meshes every step.
"""

from __future__ import annotations

import torch
from smplx.lbs import batch_rigid_transform
from torch import nn


class RestKinematics(nn.Module):
    def __init__(self, smpl: nn.Module, vertex_subset: int | None = None, seed: int = 0) -> None:
        super().__init__()
        with torch.no_grad():
            v_template = smpl.v_template.detach().float()
            joints = smpl.J_regressor.detach().float() @ v_template
            weights = smpl.lbs_weights.detach().float()
        if vertex_subset is not None and vertex_subset < len(v_template):
            pick = torch.randperm(len(v_template), generator=torch.Generator().manual_seed(seed))[:vertex_subset]
            v_template, weights = v_template[pick], weights[pick]
        self.register_buffer("rest_joints", joints)  # (24, 3)
        self.register_buffer("rest_vertices", v_template)  # (V', 3)
        self.register_buffer("weights", weights)  # (V', 24)
        self.register_buffer("parents", smpl.parents.detach().long().clone())

    def forward(self, body_pose: torch.Tensor, global_orient: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 23, 3, 3) [+ (B, 3, 3)] → joints (B, 24, 3), vertices (B, V', 3), pelvis at the origin."""
        b = body_pose.shape[0]
        root = global_orient if global_orient is not None else torch.eye(3, device=body_pose.device).expand(b, 3, 3)
        rot = torch.cat([root[:, None], body_pose], dim=1)
        joints, transforms = batch_rigid_transform(rot, self.rest_joints.expand(b, -1, -1), self.parents)
        t = torch.einsum("vj,bjkl->bvkl", self.weights, transforms)
        homo = torch.cat([self.rest_vertices, torch.ones_like(self.rest_vertices[:, :1])], dim=1)
        vertices = torch.einsum("bvkl,vl->bvk", t, homo)[..., :3]
        offset = joints[:, :1]
        return joints - offset, vertices - offset
