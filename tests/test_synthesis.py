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


def test_with_the_landmark_placement_the_simulated_detector_puts_its_points_where_mediapipe_does():
    """Training's simulated detections (detector_body) carry the same placement as the real detector's;
    the clean targets stay the body's own keypoints, as the real detector data's truth is."""
    from dataclasses import replace

    from genhmr_app.detection.placement import LandmarkPlacement

    placement = LandmarkPlacement.load()
    model = load_body_model()
    body = SparseBody(model)
    placed = placement.keypoint_body(model)
    noiseless = replace(NoiseModel(), sigma_visible=[0.0] * 33, outlier_rate=0.0, swap_rate_front=0.0, swap_rate_back=0.0)
    pose = roma.rotvec_to_rotmat(torch.randn(16, 23, 3, generator=torch.Generator().manual_seed(1)) * 0.15)
    plain = Synthesizer(body, noiseless)(pose, torch.Generator().manual_seed(3))
    with_placement = Synthesizer(body, noiseless, detector_body=placed)(pose, torch.Generator().manual_seed(3))
    # The same people and cameras; the clean keypoints are the body's own in both.
    assert torch.equal(plain.transl, with_placement.transl)
    from genhmr_app.conditioning.camera import project

    with torch.no_grad():
        out = body(with_placement.global_orient, pose, with_placement.betas, with_placement.transl)
        where = placed(with_placement.global_orient, pose, with_placement.betas, with_placement.transl)
    own = project(out.mediapipe33, with_placement.focal, with_placement.image_wh)
    assert torch.allclose(with_placement.keypoints_2d, own, atol=1e-3)
    # The noise-free detections are the placed keypoints (no hip shift on top), a few px off the body's own.
    seen = project(where.mediapipe33, with_placement.focal, with_placement.image_wh)
    assert torch.allclose(with_placement.detected_2d, seen, atol=1e-3)
    height = own[..., 1].amax(1) - own[..., 1].amin(1)
    moved = ((with_placement.detected_2d - own).norm(dim=-1) / height[:, None]).mean()
    assert 0.003 < float(moved) < 0.05
