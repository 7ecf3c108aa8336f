"""The correlation of MediaPipe's landmark errors (detection/landmark_noise.py), its calibration
(training/calibrate_landmark_noise.py) and the joint fit's whitening by it (refinement/joint_fit.py)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import roma
import torch

from genhmr_app.detection.landmark_noise import NOISE_PATH, LandmarkNoise, LandmarkNoiseError
from genhmr_app.refinement.joint_fit import JointFitSettings, fit_joints
from genhmr_app.training.calibrate_landmark_noise import error_correlation, mean_log_likelihood, usable_landmarks
from tests.test_joint_fit import _problem

FACE = list(range(11))


def _face_correlation(rho: float = 0.95) -> np.ndarray:
    """(66, 66): the face's x coordinates correlated with each other, and its y coordinates likewise."""
    corr = np.eye(66)
    for axis in (0, 1):
        idx = [2 * k + axis for k in FACE]
        corr[np.ix_(idx, idx)] = rho
    np.fill_diagonal(corr, 1.0)
    return corr


def test_a_noise_file_round_trips_and_blends_towards_independence(tmp_path):
    noise = LandmarkNoise(_face_correlation(), "test", {"samples": 3})
    path = tmp_path / "noise.json"
    noise.save(path)
    loaded = LandmarkNoise.load(path)
    assert np.allclose(loaded.correlation, noise.correlation, atol=1e-6) and loaded.metrics == {"samples": 3}
    assert torch.equal(loaded.blended(0.0), torch.eye(66))
    half = loaded.blended(0.5)
    assert float(half[0, 2]) == pytest.approx(0.475) and float(half[0, 0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="strength"):
        loaded.blended(1.5)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="other"), "not a genhmr-landmark-noise"),
    (lambda d: d.update(correlation=np.eye(33).tolist()), "not 66 x 66"),
    (lambda d: d["correlation"][0].__setitem__(1, float("nan")), "NaN"),
    (lambda d: d["correlation"][0].__setitem__(1, 0.5), "symmetric"),
    (lambda d: d.update(correlation=(np.eye(66) + np.diag(np.ones(65), 1) + np.diag(np.ones(65), -1)).tolist()),
     "positive definite"),
    (lambda d: d.pop("correlation"), "no readable"),
])
def test_a_broken_noise_file_is_refused_with_the_reason(tmp_path, change, message):
    data = LandmarkNoise(np.eye(66)).to_json()
    change(data)
    path = tmp_path / "noise.json"
    path.write_text(json.dumps(data))
    with pytest.raises(LandmarkNoiseError, match=message):
        LandmarkNoise.load(path)


def test_a_missing_noise_file_means_independent_errors(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert LandmarkNoise.load(tmp_path / "absent.json") is None
    assert "calibrate-landmark-noise" in caplog.text


def test_the_shipped_noise_file_loads_and_ties_the_face_together():
    noise = LandmarkNoise.load(NOISE_PATH)
    assert noise is not None and "detector data" in noise.source
    nose_y, left_eye_y = 1, 2 * 2 + 1
    assert noise.correlation[nose_y, left_eye_y] > 0.8  # the face moves as one
    assert noise.metrics["held_out_log_likelihood_gain_per_coordinate"]["0.5"] > 0  # it holds on held-out samples


def test_the_calibration_recovers_a_known_correlation_with_landmarks_missing():
    rng = np.random.default_rng(0)
    truth = np.eye(66)
    truth[0, 2] = truth[2, 0] = 0.8  # nose x with the inner left eye's x
    truth[22, 24] = truth[24, 22] = -0.4  # the shoulders' x trade width
    n = 20000
    errors = (rng.multivariate_normal(np.zeros(66), truth, size=n) * 0.01).reshape(n, 33, 2)
    visibility = np.where(rng.random((n, 33)) < 0.2, 0.1, 0.9)  # a fifth of the landmarks unseen
    usable = usable_landmarks(errors, visibility)
    assert 0.75 < usable.mean() < 0.85
    corr = error_correlation(errors, usable)
    assert corr[0, 2] == pytest.approx(0.8, abs=0.03) and corr[22, 24] == pytest.approx(-0.4, abs=0.03)
    off = corr - np.diag(np.diag(corr))
    off[0, 2] = off[2, 0] = off[22, 24] = off[24, 22] = 0
    assert np.abs(off).max() < 0.05 and np.allclose(np.diag(corr), 1.0)
    # Held-out samples are likelier under the measured correlation than under independent errors.
    scales = np.full(66, 0.01)
    held = (rng.multivariate_normal(np.zeros(66), truth, size=500) * 0.01).reshape(500, 33, 2)
    seen = np.ones((500, 33), bool)
    assert mean_log_likelihood(held, seen, scales, corr) > mean_log_likelihood(held, seen, scales, np.eye(66))


def test_identity_correlation_fits_exactly_as_independent_errors():
    body, orient, pose, betas, transl, target, focal, wh = _problem(s=2)
    noisy = target + torch.randn(target.shape, generator=torch.Generator().manual_seed(1)) * 6
    args = (body, pose, orient, betas, transl, noisy, torch.rand(2, 33), torch.full((2,), 300.0), focal, wh,
            JointFitSettings(iterations=4))
    plain, white = fit_joints(*args), fit_joints(*args, noise_correlation=torch.eye(66))
    assert torch.allclose(plain.body_pose, white.body_pose, atol=1e-5)
    assert torch.allclose(plain.transl, white.transl, atol=1e-5)


def test_an_error_the_face_shares_counts_once_and_a_hidden_landmark_drops_out():
    body, orient, pose, betas, transl, target, focal, wh = _problem(s=1)
    shifted = target.clone()
    shifted[:, FACE, 0] += 8.0  # the whole face 8 px off: one shared error, not eleven
    crop, vis = torch.full((1,), 300.0), torch.ones(1, 33)

    def moved(corr) -> float:
        """How far the fit takes the true pose (its start) to meet the shifted face, rad summed."""
        fit = fit_joints(body, pose, orient, betas, transl, shifted, vis, crop, focal, wh, JointFitSettings(iterations=6),
                         noise_correlation=corr)
        return float(roma.rotmat_geodesic_distance(fit.body_pose, pose).sum()
                     + roma.rotmat_geodesic_distance(fit.global_orient, orient).sum())

    independent, together = moved(None), moved(torch.tensor(_face_correlation(), dtype=torch.float32))
    assert together < 0.9 * independent, (together, independent)  # measured 0.48 vs 0.57 rad
    # A landmark with no weight takes no part in the others' noise: correlating only it changes nothing.
    hidden = vis.clone()
    hidden[0, 15] = 0.0  # the left wrist unseen
    corr = np.eye(66)
    for other in (13, 17, 19):  # its elbow and hand points
        for axis in (0, 1):
            corr[30 + axis, 2 * other + axis] = corr[2 * other + axis, 30 + axis] = 0.8
    alone = fit_joints(body, pose, orient, betas, transl, shifted, hidden, crop, focal, wh, JointFitSettings(iterations=4))
    tied = fit_joints(body, pose, orient, betas, transl, shifted, hidden, crop, focal, wh, JointFitSettings(iterations=4),
                      noise_correlation=torch.tensor(corr, dtype=torch.float32))
    assert torch.allclose(alone.body_pose, tied.body_pose, atol=1e-4)


def test_a_reconstructor_with_a_broken_noise_file_still_fits_and_says_why(tmp_path, caplog):
    from genhmr_app.pipeline.reconstructor import Reconstructor

    broken = tmp_path / "noise.json"
    broken.write_text("{not json")
    with caplog.at_level(logging.WARNING):
        recon = Reconstructor(device="cpu", landmark_noise_path=broken)
    assert recon.landmark_noise is None and "cannot be read" in recon.landmark_noise_warning
    assert recon.noise_correlation(recon.joint_fit) is None
    shipped = Reconstructor(device="cpu")
    assert shipped.noise_correlation(shipped.joint_fit).shape == (66, 66)
    assert shipped.noise_correlation(JointFitSettings(landmark_correlation=0.0)) is None
