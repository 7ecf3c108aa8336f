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


@dataclass
class SparseBodyOutput:
    joints: torch.Tensor  # (B, 24, 3)
    coco17: torch.Tensor  # (B, 17, 3)
    mediapipe33: torch.Tensor  # (B, 33, 3)
    vertices: torch.Tensor  # (B, V', 3) the chosen vertex subset (may be empty)


class SparseBody(nn.Module):
    def __init__(self, body: BodyModel, extra_vertices: int = 0, seed: int = 0, all_vertices: bool = False,
                 vertex_ids=None) -> None:
        """`extra_vertices`: that many random vertices besides the keypoints' (training losses);
        `all_vertices`: every vertex, in mesh order (a cheap full mesh for a body without pose
        correctives, whose result is then exact); `vertex_ids`: these vertices, in this order (a
        reduced mesh, body/lod.py)."""
        super().__init__()
        smpl = body.smpl
        with torch.no_grad():
            v_template = smpl.v_template.detach().float().cpu()
            shapedirs = smpl.shapedirs.detach().float().cpu()  # (V, 3, B)
            jreg = smpl.J_regressor.detach().float().cpu()
            weights = smpl.lbs_weights.detach().float().cpu()
        coco, mp = body.coco17_map.to("cpu"), body.mediapipe33_map.to("cpu")
        keypoint_ids = torch.unique(torch.cat([coco.vertex_ids.reshape(-1), mp.vertex_ids.reshape(-1)]))
        extra = torch.empty(0, dtype=torch.long)
        if all_vertices:
            extra = torch.arange(len(v_template))
        elif vertex_ids is not None:
            extra = torch.as_tensor(vertex_ids, dtype=torch.long)
        elif extra_vertices:
            g = torch.Generator().manual_seed(seed)
            extra = torch.randperm(len(v_template), generator=g)[:extra_vertices]
        picked = torch.cat([keypoint_ids, extra])
        # Keypoint maps index the full mesh; remap their vertex ids into our picked list.
        remap = torch.full((len(v_template),), -1, dtype=torch.long)
        remap[keypoint_ids] = torch.arange(len(keypoint_ids))
        self.num_keypoint_vertices = len(keypoint_ids)

        self.register_buffer("j_template", jreg @ v_template)  # (24, 3)
        self.register_buffer("j_dirs", torch.einsum("jv,vcb->jcb", jreg, shapedirs))  # (24, 3, B)
        self.register_buffer("v_template", v_template[picked])
        self.register_buffer("v_dirs", shapedirs[picked])
        self.register_buffer("weights", weights[picked])
        self.register_buffer("parents", smpl.parents.detach().long().cpu().clone())
        for name, kmap in (("coco", coco), ("mp", mp)):
            self.register_buffer(f"{name}_jw", kmap.joint_weights.float())
            self.register_buffer(f"{name}_vid", remap[kmap.vertex_ids])
            self.register_buffer(f"{name}_vw", kmap.vertex_weights.float())
        self.to(body.device)

    def forward(self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor | None = None,
                transl: torch.Tensor | None = None) -> SparseBodyOutput:
        """Rotation matrices: global_orient (B, 3, 3), body_pose (B, 23, 3, 3); betas (B, <=10)."""
        b = body_pose.shape[0]
        joints_rest = self.j_template.expand(b, -1, -1)
        verts_rest = self.v_template.expand(b, -1, -1)
        if betas is not None:
            nb = betas.shape[-1]
            joints_rest = joints_rest + torch.einsum("jcb,nb->njc", self.j_dirs[..., :nb], betas)
            verts_rest = verts_rest + torch.einsum("vcb,nb->nvc", self.v_dirs[..., :nb], betas)
        rot = torch.cat([global_orient.reshape(b, 1, 3, 3), body_pose], dim=1)
        joints, transforms = batch_rigid_transform(rot, joints_rest, self.parents)
        t = torch.einsum("vj,bjkl->bvkl", self.weights, transforms)
        verts = torch.einsum("bvkl,bvl->bvk", t[..., :3, :3], verts_rest) + t[..., :3, 3]
        if transl is not None:
            joints, verts = joints + transl[:, None], verts + transl[:, None]
        kp_verts = verts[:, : self.num_keypoint_vertices]
        return SparseBodyOutput(
            joints=joints,
            coco17=self._keypoints(joints, kp_verts, self.coco_jw, self.coco_vid, self.coco_vw),
            mediapipe33=self._keypoints(joints, kp_verts, self.mp_jw, self.mp_vid, self.mp_vw),
            vertices=verts[:, self.num_keypoint_vertices:],
        )

    @staticmethod
    def _keypoints(joints, verts, jw, vid, vw) -> torch.Tensor:
        out = torch.einsum("kj,bjc->bkc", jw, joints)
        picked = verts[:, vid.clamp(min=0).reshape(-1)].reshape(verts.shape[0], *vid.shape, 3)
        return out + torch.einsum("ks,bksc->bkc", vw, picked)
