"""Synthesised training samples look like what the detector reports, on the same camera conventions."""

from __future__ import annotations

import roma
import torch

from genhmr_app.body.model import load_body_model
from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import (translation_to_weak_perspective, weak_perspective_to_translation)
from genhmr_app.conditioning.features import NUM_CONDITION_TOKENS
from genhmr_app.training.synthesis import NoiseModel, Synthesizer


def test_camera_round_trip():
    transl = torch.tensor([[0.3, -0.2, 4.0], [-1.0, 0.5, 9.0]])
    crop = torch.tensor([[400.0, 300.0, 350.0], [100.0, 500.0, 120.0]])
    focal, wh = torch.tensor([900.0, 1200.0]), torch.tensor([[1280.0, 720.0], [640.0, 960.0]])
    cam = translation_to_weak_perspective(transl, crop, focal, wh)
    assert torch.allclose(weak_perspective_to_translation(cam, crop, focal, wh), transl, atol=1e-4)


def test_synthesised_batch_is_sane():
    body = SparseBody(load_body_model())
    synth = Synthesizer(body, NoiseModel())
    gen = torch.Generator().manual_seed(0)
    pose = roma.rotvec_to_rotmat(torch.randn(64, 23, 3) * 0.15)
    b = synth(pose, gen)
    assert b.condition.shape == (64, NUM_CONDITION_TOKENS, 8) and torch.isfinite(b.condition).all()
    # The body stands in front of the camera, and most of its keypoints are in the picture.
    assert torch.all(b.transl[:, 2] > 0.5)
    inside = ((b.keypoints_2d >= 0) & (b.keypoints_2d <= b.image_wh[:, None])).all(-1).float().mean()
    assert inside > 0.8
    # Detection noise is a few percent of the person's height, as measured for MediaPipe.
    height = b.keypoints_2d[..., 1].amax(1) - b.keypoints_2d[..., 1].amin(1)
    err = ((b.detected_2d - b.keypoints_2d).norm(dim=-1) / height[:, None]).median()
    assert 0.003 < float(err) < 0.05
    assert 0 <= float(b.visibility.min()) and float(b.visibility.max()) <= 1
    # Same generator seed, same batch.
    again = synth(pose, torch.Generator().manual_seed(0))
    assert torch.equal(again.condition, b.condition)
