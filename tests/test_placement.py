"""Where the detector puts its landmarks on the body (detection/placement.py): the keypoints carry the
offsets, the calibration finds them, bad files are refused, and the shipped one fits real detections."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import roma
import torch

from genhmr_app.body.model import load_body_model
from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project
from genhmr_app.detection.landmarks import MP33_INDEX
from genhmr_app.detection.placement import PLACEMENT_PATH, LandmarkPlacement, PlacementError

LIMB_LANDMARKS = [MP33_INDEX[f"{side}_{part}"] for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
                  for side in ("left", "right")]


@pytest.fixture(scope="module")
def body():
    return load_body_model()


@pytest.fixture(scope="module")
def shipped():
    placement = LandmarkPlacement.load(PLACEMENT_PATH)
    assert placement is not None, f"{PLACEMENT_PATH} is part of the weights"
    return placement


def _random_bodies(n: int, seed: int):
    """Upright-ish people turned any way about the vertical, 3-4 m in front of the camera."""
    g = torch.Generator().manual_seed(seed)
    yaw = torch.rand(n, generator=g) * 2 * np.pi
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # body up → camera y down, facing the camera
    orient = flip @ roma.rotvec_to_rotmat(torch.stack([torch.zeros(n), yaw, torch.zeros(n)], -1))
    pose = roma.rotvec_to_rotmat(torch.randn(n, 23, 3, generator=g) * 0.3)
    betas = torch.randn(n, 10, generator=g) * 0.5
    transl = torch.stack([torch.zeros(n), torch.zeros(n) + 0.2, 3 + torch.rand(n, generator=g)], -1)
    return orient, pose, betas, transl


def test_the_placement_moves_the_keypoints_with_the_bones_and_the_view(body, shipped):
    raw = SparseBody(body)
    placed = shipped.keypoint_body(body)
    orient, pose, betas, transl = _random_bodies(4, seed=1)
    with torch.no_grad():
        moved = placed.mediapipe33(orient, pose, betas, transl) - raw.mediapipe33(orient, pose, betas, transl)
        assert torch.allclose(placed(orient, pose, betas, transl).mediapipe33, placed.mediapipe33(orient, pose, betas, transl),
                              atol=1e-5)
        keypoints, jac = placed.mediapipe33_jacobian(orient, pose, betas, transl)
    assert torch.allclose(keypoints, placed.mediapipe33(orient, pose, betas, transl), atol=1e-5)
    # Centimetres, not decimetres, and every landmark moves (the view term differs by person).
    size = moved.norm(dim=-1)
    assert 0.005 < float(size.mean()) < 0.08 and float(size.max()) < 0.2
    # The same placement moves the left and right landmarks of a mirrored body alike (the detector has no side).
    left, right = MP33_INDEX["left_shoulder"], MP33_INDEX["right_shoulder"]
    o = shipped.rest_offsets()
    assert torch.allclose(o[left].sum(0) * torch.tensor([-1.0, 1, 1]), o[right].sum(0), atol=1e-6)
    # The Jacobian by a joint's rotation is the keypoints' derivative, but for the view direction, which
    # it holds fixed (here 8.5% of the largest entry for the elbow; the fit checks each step's true cost).
    elbow = 18
    for axis in range(3):
        step = torch.zeros(3)
        step[axis] = 1e-3
        turned = pose.clone()
        turned[:, elbow - 1] = pose[:, elbow - 1] @ roma.rotvec_to_rotmat(step)
        with torch.no_grad():
            numeric = (placed.mediapipe33(orient, turned, betas, transl) - keypoints) / 1e-3
        analytic = jac[:, :, :, elbow, axis]
        assert float((numeric - analytic).abs().max()) < 0.15 * float(analytic.abs().max()) + 1e-3


def test_the_calibration_recovers_a_known_placement(body, shipped):
    from genhmr_app.training.calibrate_placement import errors_pct, fit_offsets, landmark_frames, linear_system

    raw = SparseBody(body)
    placed = shipped.keypoint_body(body)
    orient, pose, betas, transl = _random_bodies(600, seed=2)
    focal, wh = torch.full((600,), 500.0), torch.tensor([[640, 480]]).expand(600, 2)
    with torch.no_grad():
        detected = project(placed.mediapipe33(orient, pose, betas, transl), focal, wh.float())
    data = {"body_pose": pose, "global_orient": orient, "betas": betas, "transl": transl, "focal": focal,
            "image_wh": wh, "det_px": detected, "visibility": torch.ones(600, 33)}
    owner, parent = landmark_frames(raw)
    with torch.no_grad():
        features, residual, height = linear_system(raw, data, owner, parent, view=True)
    theta = fit_offsets(features, residual, height, torch.ones(600, 33, dtype=torch.bool))
    before = errors_pct(features, residual, height, None)
    after = errors_pct(features, residual, height, theta)
    assert float(before.median()) > 0.8 and float(after.median()) < 0.05 * float(before.median())
    # The fitted offsets are the true ones (the same landmark, summed over its two frames at rest).
    true_rest = shipped.rest_offsets()[LIMB_LANDMARKS].sum(1)
    fitted_rest = theta[LIMB_LANDMARKS][:, [0, 1, 2]] + theta[LIMB_LANDMARKS][:, [12, 13, 14]]
    assert float((fitted_rest - true_rest).abs().max()) < 0.01


def test_a_broken_placement_is_refused_and_a_missing_one_falls_back(tmp_path, shipped, caplog):
    good = shipped.to_json()
    assert LandmarkPlacement.from_json(good).landmarks == shipped.landmarks
    broken = {
        "wrong format": {**good, "format": "something-else/1"},
        "unknown joint": {**good, "landmarks": {"nose": {**good["landmarks"]["nose"], "joint": "tail"}}},
        "not numbers": {**good, "landmarks": {"nose": {**good["landmarks"]["nose"], "offset_m": [0, "x", 0]}}},
        "metres, not centimetres": {**good, "landmarks": {"nose": {**good["landmarks"]["nose"], "offset_m": [4, 0, 0]}}},
        "not finite": {**good, "landmarks": {"nose": {**good["landmarks"]["nose"], "offset_m": [float("nan"), 0, 0]}}},
    }
    for name, data in broken.items():
        with pytest.raises(PlacementError):
            LandmarkPlacement.from_json(data, name)
    path = tmp_path / "placement.json"
    path.write_text("{ truncated")
    with pytest.raises(PlacementError, match="cannot be read"):
        LandmarkPlacement.load(path)
    with caplog.at_level(logging.WARNING):
        assert LandmarkPlacement.load(tmp_path / "missing.json") is None
    assert "calibrate-placement" in caplog.text
    saved = tmp_path / "saved.json"
    shipped.save(saved)
    assert json.loads(saved.read_text())["format"] == good["format"]
    assert LandmarkPlacement.load(saved).landmarks.keys() == shipped.landmarks.keys()


def test_the_shipped_placement_brings_the_body_keypoints_onto_the_detectors(body, shipped):
    """Renders of the shared walk (not the training renders the placement was fitted on), seen from
    the front and turned: MediaPipe's limb landmarks lie closer to the placed keypoints than to the
    body's own."""
    from genhmr_app.bench.scenes import load_walk_clip
    from genhmr_app.conditioning.camera import focal_from_fov
    from genhmr_app.detection import PoseDetector
    from genhmr_app.training import render as rnd

    try:
        _, betas, rest, clip = load_walk_clip()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    raw = SparseBody(body)
    placed = shipped.keypoint_body(body)
    wh = (480, 480)
    focal = focal_from_fov(wh[1], 55.0)
    rng = np.random.default_rng(0)
    errors = {"raw": [], "placed": []}
    with rnd.PersonRenderer(body.faces, wh) as renderer, PoseDetector(mode="image") as detector:
        for frame, yaw_deg in ((10, 0), (40, 30), (70, -45), (100, 90), (130, 150), (160, -120)):
            yaw = np.deg2rad(yaw_deg)
            spin = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
            orient = torch.as_tensor(np.diag([-1.0, -1, 1]) @ spin @ clip.global_orient[frame], dtype=torch.float32)[None]
            pose = torch.as_tensor(clip.body_pose[frame:frame + 1], dtype=torch.float32)
            shape = torch.as_tensor(betas)[None]
            transl = torch.as_tensor(np.array([0.0, 0.1, 3.2]) - rest[0], dtype=torch.float32)[None]
            with torch.no_grad():
                vertices = body.forward(orient, pose, shape, transl).vertices[0].numpy()
                points = {k: project(m.mediapipe33(orient, pose, shape, transl), torch.tensor([focal]),
                                     torch.tensor([wh], dtype=torch.float32))[0].numpy()
                          for k, m in (("raw", raw), ("placed", placed))}
            image = renderer.render(vertices, focal, rnd.body_regions(body).colours(rnd.random_outfit(rng)),
                                    rnd.make_background("room", wh, rng)).image
            found = detector.detect(image)
            assert found.people, f"the walker at frame {frame}, turned {yaw_deg} degrees, is found"
            seen = found.people[0].landmarks_px[LIMB_LANDMARKS]
            for k in errors:
                errors[k].append(np.linalg.norm(seen - points[k][LIMB_LANDMARKS], axis=-1).mean())
    assert np.mean(errors["placed"]) < 0.9 * np.mean(errors["raw"]), errors


def test_a_reconstructor_with_a_broken_placement_still_fits_and_says_why(tmp_path, caplog):
    from genhmr_app.pipeline.reconstructor import Reconstructor

    broken = tmp_path / "landmark_placement.json"
    broken.write_text('{"format": "genhmr-landmark-placement/1", "landmarks": {"nose": {"joint": "tail"}}}')
    with caplog.at_level(logging.WARNING):
        recon = Reconstructor(device="cpu", placement_path=broken)
    assert recon.placement is None and recon.placement_warning
    assert "nose" in recon.placement_warning and "own keypoints" in recon.placement_warning
    assert recon.placement_warning in caplog.text
    # Without the placement the fit's keypoints are the body's own (and the hips shifted, as before).
    assert recon.sparse.mp_view is None
    plain = SparseBody(recon.body)
    assert torch.equal(recon.sparse.mp_rest, plain.mp_rest)
