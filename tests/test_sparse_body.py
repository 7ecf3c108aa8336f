"""The fast joints/keypoints path agrees with the full smplx forward of the same body model."""

from __future__ import annotations

import roma
import torch

from genhmr_app.body.model import load_body_model
from genhmr_app.body.sparse import SparseBody


def test_sparse_body_matches_full_forward():
    torch.manual_seed(0)
    body = load_body_model()
    sparse = SparseBody(body, extra_vertices=200)
    b = 3
    go = roma.rotvec_to_rotmat(torch.randn(b, 3))
    pose = roma.rotvec_to_rotmat(torch.randn(b, 23, 3) * 0.4)
    betas = torch.randn(b, 10)
    transl = torch.randn(b, 3)
    with torch.no_grad():
        full = body.forward(go, pose, betas, transl)
        fast = sparse(go, pose, betas, transl)
    assert fast.joints.shape == (b, 24, 3) and fast.coco17.shape == (b, 17, 3) and fast.mediapipe33.shape == (b, 33, 3)
    assert torch.allclose(fast.joints, full.joints, atol=1e-4)
    assert torch.allclose(fast.coco17, full.keypoints_coco17, atol=1e-4)
    assert torch.allclose(fast.mediapipe33, full.keypoints_mediapipe33, atol=1e-4)
    # The random vertex subset is skinned exactly like the full mesh.
    d = torch.cdist(fast.vertices, full.vertices, compute_mode="donot_use_mm_for_euclid_dist").amin(-1)
    assert d.max() < 1e-4


def test_the_traced_keypoint_jacobian_gives_the_eager_maths():
    """Outside autograd the joint fit's Jacobian runs as a frozen trace, one per batch size: it must give
    exactly what the eager maths gives, for each batch size, and autograd must still reach the eager path."""
    torch.manual_seed(1)
    sparse = SparseBody(load_body_model())
    for b in (1, 3, 1):
        go = roma.rotvec_to_rotmat(torch.randn(b, 3))
        pose = roma.rotvec_to_rotmat(torch.randn(b, 23, 3) * 0.4)
        betas, transl = torch.randn(b, 10), torch.randn(b, 3) + torch.tensor([0.0, 0.0, 3.0])
        with torch.no_grad():
            traced = sparse.mediapipe33_jacobian(go, pose, betas, transl)
            eager = sparse._mediapipe33_jacobian(go, pose, betas, transl)
        for t, e in zip(traced, eager):
            assert t.shape == e.shape and torch.allclose(t, e, atol=1e-6)
    assert len(sparse._traces) == 2 and all(t is not None for t in sparse._traces.values())
    betas.requires_grad_(True)
    keypoints, _ = sparse.mediapipe33_jacobian(go, pose, betas, transl)
    keypoints.sum().backward()  # the eager path: a trace would have cut the graph
    assert betas.grad is not None and float(betas.grad.abs().sum()) > 0
