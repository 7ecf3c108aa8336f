"""Pose only the joints, keypoints and (optionally) a few vertices of a body model.

Training losses and the refinement loop need joints and keypoints many times per second; skinning
all 13,718 vertices for that wastes most of the time. This module uses the same maths as
`smplx.lbs.lbs` (blend shapes, joint regression, `batch_rigid_transform`, linear blend skinning) but
precomputes the regressed joints' shape dependence (J_regressor @ shapedirs), so a forward pass
costs O(joints + picked vertices). Pose correctives (posedirs) are ignored; they are zero for the
embedded model and only move SMPL's surface by millimetres.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from smplx.lbs import batch_rigid_transform
from torch import nn

from genhmr_app.body.model import BodyModel
from genhmr_app.frozen_graphs import FrozenGraphs


@dataclass
class SparseBodyOutput:
    joints: torch.Tensor  # (B, 24, 3)
    coco17: torch.Tensor  # (B, 17, 3)
    mediapipe33: torch.Tensor  # (B, 33, 3)
    vertices: torch.Tensor  # (B, V', 3) the chosen vertex subset (may be empty)


def directions_to_camera(g_rot: torch.Tensor, joints_camera: torch.Tensor) -> torch.Tensor:
    """(B, J, 3): the unit direction from each joint to the camera, in that joint's own frame, from the
    joints' world rotations g_rot (B, J, 3, 3) and camera-frame positions (B, J, 3)."""
    ray = joints_camera / joints_camera.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    return -(g_rot.transpose(-1, -2) @ ray[..., None])[..., 0]


class SparseBody(nn.Module):
    def __init__(self, body: BodyModel, extra_vertices: int = 0, seed: int = 0, all_vertices: bool = False,
                 vertex_ids=None, landmark_offsets: torch.Tensor | None = None,
                 landmark_view_offsets: torch.Tensor | None = None) -> None:
        """`extra_vertices`: that many random vertices besides the keypoints' (training losses);
        `all_vertices`: every vertex, in mesh order (a cheap full mesh for a body without pose
        correctives, whose result is then exact); `vertex_ids`: these vertices, in this order (a
        reduced mesh, body/lod.py); `landmark_offsets` (33, 24, 3): each MediaPipe keypoint moved by
        these rest-frame vectors of the joints (detection/placement.py: where the detector puts it);
        `landmark_view_offsets` (33, 24, 3, 3): and by these matrices times the direction from joint j
        to the camera in j's frame (the detector's habit depends on which side of the limb it sees).
        The view term needs camera-frame bodies (a translation given); the keypoints' Jacobian treats
        the view direction as fixed (up to ~10% off for the joint above a wrist; the joint fit accepts a
        step only when the true cost falls, so it slows convergence at most)."""
        super().__init__()
        smpl = body.smpl
        with torch.no_grad():
            v_template = smpl.v_template.detach().float().cpu()
            shapedirs = smpl.shapedirs.detach().float().cpu()  # (V, 3, B)
            jreg = smpl.J_regressor.detach().float().cpu()
            weights = smpl.lbs_weights.detach().float().cpu()
        coco, mp = body.coco17_map.to("cpu"), body.mediapipe33_map.to("cpu")
        extra = torch.empty(0, dtype=torch.long)
        if all_vertices:
            extra = torch.arange(len(v_template))
        elif vertex_ids is not None:
            extra = torch.as_tensor(vertex_ids, dtype=torch.long)
        elif extra_vertices:
            g = torch.Generator().manual_seed(seed)
            extra = torch.randperm(len(v_template), generator=g)[:extra_vertices]

        self.register_buffer("j_template", jreg @ v_template)  # (24, 3)
        self.register_buffer("j_dirs", torch.einsum("jv,vcb->jcb", jreg, shapedirs))  # (24, 3, B)
        self.register_buffer("parents", smpl.parents.detach().long().cpu().clone())
        # subtree[i, j] = 1 when joint i hangs below joint j or is j: what a rotation at j moves.
        subtree = torch.eye(len(self.parents))
        for i in range(1, len(self.parents)):
            j = int(self.parents[i])
            while j >= 0:
                subtree[i, j] = 1.0
                j = int(self.parents[j]) if j > 0 else -1
        self.register_buffer("subtree", subtree)
        for name, kmap in (("coco", coco), ("mp", mp)):
            # A keypoint is a fixed mix of joints and of skinned vertices, and skinning is linear in each
            # joint's transform, so the vertices' part folds into per-(keypoint, joint) weights and rest
            # offsets: kp = sum_j R_j @ rest_kj + skin_kj * t_j. The keypoints then cost O(K x joints),
            # not O(vertices x joints), which matters for the batched probes of refinement's Jacobian.
            vid, vw = kmap.vertex_ids.long().clamp(min=0), kmap.vertex_weights.float()  # (K, S); padding has weight 0
            mix = torch.einsum("ks,ksj->kj", vw, weights[vid])  # (K, 24)
            self.register_buffer(f"{name}_jw", kmap.joint_weights.float())
            self.register_buffer(f"{name}_skin", mix)
            self.register_buffer(f"{name}_rest", torch.einsum("ks,ksj,ksc->kjc", vw, weights[vid], v_template[vid]))
            self.register_buffer(f"{name}_rest_dirs", torch.einsum("ks,ksj,kscb->kjcb", vw, weights[vid], shapedirs[vid]))
        if landmark_offsets is not None:
            self.mp_rest += landmark_offsets.to(self.mp_rest)  # turns with joint j: G_j @ offset
        self.register_buffer("mp_view", None if landmark_view_offsets is None else landmark_view_offsets.float().clone())
        self.register_buffer("v_template", v_template[extra])
        self.register_buffer("v_dirs", shapedirs[extra])
        self.register_buffer("weights", weights[extra])
        self._jacobian_graphs = FrozenGraphs(_KeypointJacobian(self))
        self.to(body.device)

    def forward(self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor | None = None,
                transl: torch.Tensor | None = None) -> SparseBodyOutput:
        """Rotation matrices: global_orient (B, 3, 3), body_pose (B, 23, 3, 3); betas (B, <=10)."""
        b = body_pose.shape[0]
        joints_rest = self.j_template.expand(b, -1, -1)
        nb = 0 if betas is None else betas.shape[-1]
        if nb:
            joints_rest = joints_rest + torch.einsum("jcb,nb->njc", self.j_dirs[..., :nb], betas)
        rot = torch.cat([global_orient.reshape(b, 1, 3, 3), body_pose], dim=1)
        joints, transforms = batch_rigid_transform(rot, joints_rest, self.parents)
        if transl is not None:
            joints = joints + transl[:, None]
            transforms = torch.cat([transforms[..., :3, :3], (transforms[..., :3, 3] + transl[:, None])[..., None]], -1)
        verts = joints.new_zeros(b, 0, 3)
        if len(self.v_template):
            verts_rest = self.v_template.expand(b, -1, -1)
            if nb:
                verts_rest = verts_rest + torch.einsum("vcb,nb->nvc", self.v_dirs[..., :nb], betas)
            t = torch.einsum("vj,bjkl->bvkl", self.weights, transforms[..., :3, :])
            verts = torch.einsum("bvkl,bvl->bvk", t[..., :3], verts_rest) + t[..., 3]
        return SparseBodyOutput(
            joints=joints,
            coco17=self._keypoints(joints, transforms, betas, "coco"),
            mediapipe33=self._keypoints(joints, transforms, betas, "mp", joints if transl is not None else None),
            vertices=verts,
        )

    def mediapipe33(self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor,
                    transl: torch.Tensor) -> torch.Tensor:
        """The 33 keypoints alone (B, 33, 3): what mediapipe33_jacobian gives without the derivatives."""
        b = body_pose.shape[0]
        joints_rest = self.j_template + torch.einsum("jcb,nb->njc", self.j_dirs[..., : betas.shape[-1]], betas)
        rot = torch.cat([global_orient.reshape(b, 1, 3, 3), body_pose], dim=1)
        joints, transforms = batch_rigid_transform(rot, joints_rest, self.parents)
        return self._keypoints(joints, transforms, betas, "mp", joints + transl[:, None]) + transl[:, None]

    def mediapipe33_jacobian(self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor,
                             transl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The 33 keypoints (B, 33, 3) and their derivatives (B, 33, 3, 24, 3) with respect to a rotation
        vector d_j applied on the right of each joint's rotation (R_j exp(d_j); joint 0 = the global
        orientation). See `_mediapipe33_jacobian` for the maths.

        Outside autograd this runs a frozen TorchScript trace of it, made once per batch size, dtype and
        device: the joint fit calls it every iteration, and the trace (the kinematic chain unrolled, the
        constants folded) takes ~0.75 instead of ~1.2 ms for one body here, with identical results."""
        return self._jacobian_graphs(global_orient, body_pose, betas, transl)

    @property
    def _traces(self) -> dict:
        """The frozen graphs made so far, by input signature."""
        return self._jacobian_graphs.graphs

    def _mediapipe33_jacobian(self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor,
                              transl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Analytic: a rotation d_j at joint j turns everything below it about the joint's position c_j
        by w = G_j d_j (G_j its world rotation), so dp = w x (p - c_j) for each share of a keypoint that
        hangs below j. (The derivative by the translation is the identity.)"""
        b = body_pose.shape[0]
        joints_rest = self.j_template + torch.einsum("jcb,nb->njc", self.j_dirs[..., : betas.shape[-1]], betas)
        rot = torch.cat([global_orient.reshape(b, 1, 3, 3), body_pose], dim=1)
        joints, transforms = batch_rigid_transform(rot, joints_rest, self.parents)
        joints = joints + transl[:, None]
        g_rot, g_t = transforms[..., :3, :3], transforms[..., :3, 3] + transl[:, None]
        rest = self.mp_rest + torch.einsum("kjcd,bd->bkjc", self.mp_rest_dirs[..., : betas.shape[-1]], betas)
        if self.mp_view is not None:
            rest = rest + self._view_rest(g_rot, joints)
        # Each keypoint's share per joint (B, K, 24, 3) and its weight (K, 24).
        share = self.mp_jw[None, :, :, None] * joints[:, None] + torch.einsum("bjcd,bkjd->bkjc", g_rot, rest) \
            + self.mp_skin[None, :, :, None] * g_t[:, None]
        weight = self.mp_jw + self.mp_skin
        keypoints = share.sum(2)
        # Lever arms: what hangs below j, taken about c_j.
        arm = torch.einsum("bkic,ij->bkjc", share, self.subtree) \
            - torch.einsum("ki,ij->kj", weight, self.subtree)[None, :, :, None] * joints[:, None]
        # d/dd_j of (G_j d_j) x arm = -[arm]x G_j
        ax, ay, az = arm.unbind(-1)
        zero = torch.zeros_like(ax)
        skew = torch.stack([zero, -az, ay, az, zero, -ax, -ay, ax, zero], -1).reshape(*arm.shape, 3)
        jac = -(skew @ g_rot[:, None])  # (B, K, 24, 3, 3)
        return keypoints, jac.permute(0, 1, 3, 2, 4)

    def _view_rest(self, g_rot: torch.Tensor, joints_camera: torch.Tensor) -> torch.Tensor:
        """(B, 33, 24, 3): the view-dependent part of the MediaPipe keypoints' rest vectors, from the
        joints' world rotations g_rot (B, 24, 3, 3) and camera-frame positions (B, 24, 3)."""
        return torch.einsum("kjcd,bjd->bkjc", self.mp_view, directions_to_camera(g_rot, joints_camera))

    def _keypoints(self, joints: torch.Tensor, transforms: torch.Tensor, betas: torch.Tensor | None,
                   name: str, joints_camera: torch.Tensor | None = None) -> torch.Tensor:
        """(B, K, 3): the joints' share plus the skinned vertices' share, folded per joint (see __init__).
        `joints_camera`: the joints in the camera frame, for the MediaPipe keypoints' view term."""
        rest = getattr(self, f"{name}_rest")  # (K, 24, 3)
        out = torch.einsum("kj,bjc->bkc", getattr(self, f"{name}_jw"), joints)
        out = out + torch.einsum("kj,bjc->bkc", getattr(self, f"{name}_skin"), transforms[..., :3, 3])
        if betas is not None and betas.shape[-1]:
            dirs = getattr(self, f"{name}_rest_dirs")[..., : betas.shape[-1]]
            rest = rest + torch.einsum("kjcd,bd->bkjc", dirs, betas)
        if name == "mp" and self.mp_view is not None and joints_camera is not None:
            rest = rest + self._view_rest(transforms[..., :3, :3], joints_camera)
        if rest.dim() == 4:
            return out + torch.einsum("bjcd,bkjd->bkc", transforms[..., :3, :3], rest)
        return out + torch.einsum("bjcd,kjd->bkc", transforms[..., :3, :3], rest)


class _KeypointJacobian(nn.Module):
    """SparseBody._mediapipe33_jacobian as a module's forward, for tracing (frozen_graphs.py)."""

    def __init__(self, body: SparseBody) -> None:
        super().__init__()
        self.body = body

    def forward(self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor,
                transl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.body._mediapipe33_jacobian(global_orient, body_pose, betas, transl)
