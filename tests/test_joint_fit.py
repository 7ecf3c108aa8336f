"""The joint-space fit of refinement (refinement/joint_fit.py): Levenberg-Marquardt on the joints."""

from __future__ import annotations

import roma
import torch

from genhmr_app.body.model import load_body_model
from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project
from genhmr_app.refinement.joint_fit import HAND_LANDMARKS, JointFitSettings, fit_joints


def _problem(s: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    body = SparseBody(load_body_model())
    orient = torch.diag(torch.tensor([1.0, -1.0, -1.0])).expand(s, 3, 3)
    pose = roma.rotvec_to_rotmat(torch.randn(s, 23, 3) * 0.3)
    betas, transl = torch.zeros(s, 10), torch.tensor([[0.0, 0.1, 4.0]]).expand(s, 3)
    focal, wh = torch.full((s,), 800.0), torch.tensor([[640.0, 480.0]]).expand(s, 2)
    with torch.no_grad():
        target = project(body(orient, pose, betas, transl).mediapipe33, focal, wh)
    return body, orient, pose, betas, transl, target, focal, wh


def test_the_fit_meets_the_keypoints_from_a_wrong_start_in_a_few_iterations():
    body, orient, pose, betas, transl, target, focal, wh = _problem()
    s = pose.shape[0]
    start = pose @ roma.rotvec_to_rotmat(torch.randn(s, 23, 3) * 0.15)
    orient0 = orient @ roma.rotvec_to_rotmat(torch.tensor([0.0, 0.2, 0.0])).expand(s, 3, 3)
    fit = fit_joints(body, start, orient0, betas, transl + torch.tensor([0.05, -0.03, 0.2]), target,
                     torch.ones(s, 33), torch.full((s,), 300.0), focal, wh,
                     JointFitSettings(iterations=6, pose_prior=1e-4, orient_prior=1e-4))
    assert len(fit.errors) == 7 and fit.errors[-1] < 0.1 * fit.errors[0], fit.errors
    assert torch.all(fit.error_px < 1.5), fit.error_px  # px, from tens of px
    assert fit.body_pose.shape == (s, 23, 3, 3) and fit.offsets.shape == (s, 24, 3)
    # Proper rotations come out.
    assert torch.allclose(fit.body_pose @ fit.body_pose.transpose(-1, -2), torch.eye(3).expand(s, 23, 3, 3), atol=1e-4)


def test_the_prior_holds_joints_the_keypoints_do_not_see():
    body, orient, pose, betas, transl, target, focal, wh = _problem(s=1)
    start = pose @ roma.rotvec_to_rotmat(torch.randn(1, 23, 3) * 0.15)
    hidden = torch.ones(1, 33)
    fit = fit_joints(body, start, orient, betas, transl, target, torch.zeros(1, 33), torch.full((1,), 300.0), focal, wh)
    # Nothing visible: nothing to fit, so the prior keeps the start exactly.
    assert torch.allclose(fit.body_pose, start, atol=1e-5)
    seen = fit_joints(body, start, orient, betas, transl, target, hidden, torch.full((1,), 300.0), focal, wh)
    assert seen.errors[-1] < seen.errors[0]


def test_a_warm_start_that_is_already_right_stays_right():
    body, orient, pose, betas, transl, target, focal, wh = _problem(s=1)
    decoded = pose @ roma.rotvec_to_rotmat(torch.randn(1, 23, 3) * 0.1)  # this frame's prior pose
    offsets = torch.cat([torch.zeros(1, 1, 3), roma.rotmat_to_rotvec(decoded.transpose(-1, -2) @ pose)], 1)
    fit = fit_joints(body, decoded, orient, betas, transl, target, torch.ones(1, 33), torch.full((1,), 300.0),
                     focal, wh, JointFitSettings(iterations=0), start_offsets=offsets)
    assert fit.errors[0] < 1e-2 and torch.allclose(fit.body_pose, pose, atol=1e-4)


def test_a_per_joint_prior_holds_the_joints_it_is_firm_on():
    body, orient, pose, betas, transl, target, focal, wh = _problem(s=1)
    start = pose @ roma.rotvec_to_rotmat(torch.randn(1, 23, 3) * 0.2)
    weights = torch.full((1, 23), 1e-4)
    firm = [17, 19]  # right elbow and wrist (body joints 18, 20 less the root)
    weights[0, firm] = 1e4
    fit = fit_joints(body, start, orient, betas, transl, target, torch.ones(1, 33), torch.full((1,), 300.0), focal,
                     wh, JointFitSettings(iterations=6), pose_prior=weights)
    moved = roma.rotmat_geodesic_distance(fit.body_pose[0], start[0])
    loose = [j for j in range(23) if j not in firm]
    assert float(moved[firm].max()) < 1e-3 < float(moved[loose].max()), moved
    assert fit.errors[-1] < 0.5 * fit.errors[0]


def test_the_hand_points_pull_by_their_share_and_are_still_reported_in_full():
    body, orient, pose, betas, transl, target, focal, wh = _problem(s=1)
    moved = target.clone()
    moved[:, list(HAND_LANDMARKS)] += 40.0  # the detector's hand points, off by 40 px each way
    crop, vis = torch.full((1,), 300.0), torch.ones(1, 33)
    fit = lambda w, v=vis: fit_joints(body, pose, orient, betas, transl, moved, v, crop, focal, wh,  # noqa: E731
                                      JointFitSettings(iterations=4, hand_weight=w))
    hidden = vis.clone()
    hidden[:, list(HAND_LANDMARKS)] = 0.0
    # Weight 0: the hand points pull as if the detector had not seen them...
    assert torch.allclose(fit(0.0).body_pose, fit(1.0, hidden).body_pose, atol=1e-5)
    # ... and a share pulls less than full weight: the wrists stay nearer the true pose.
    wrists = [19, 20]  # body joints 20, 21 (the wrists) less the root
    off = lambda w: float(roma.rotmat_geodesic_distance(fit(w).body_pose[0, wrists], pose[0, wrists]).max())  # noqa: E731
    assert off(0.0) < off(0.25) < off(1.0)
    # The reported 2D error still counts the hand points with their visibility: 40 px off shows.
    assert float(fit(0.0).error_px[0]) > 5.0


def test_the_orientation_prior_can_free_the_lean_towards_the_camera_alone():
    body, orient, pose, betas, transl, target, focal, wh = _problem(s=1)
    # The start leans 0.25 rad about the camera's x axis (pitch) and is turned 0.25 rad about its y (yaw).
    turned = roma.rotvec_to_rotmat(torch.tensor([[0.25, 0.0, 0.0]])) @ roma.rotvec_to_rotmat(torch.tensor([[0.0, 0.25, 0.0]])) @ orient
    common = dict(iterations=8, pose_prior=1e4, orient_prior=10.0)  # the pose held; the orientation held firmly

    def residual_turn(settings):
        fit = fit_joints(body, pose, turned, betas, transl, target, torch.ones(1, 33), torch.full((1,), 300.0),
                         focal, wh, settings)
        return roma.rotmat_to_rotvec(fit.global_orient @ orient.transpose(-1, -2))[0]  # camera frame, left to fix

    plain = residual_turn(JointFitSettings(**common, orient_prior_pitch_scale=1.0))  # the same prior on every axis
    freed = residual_turn(JointFitSettings(**common, orient_prior_pitch_scale=0.0))
    assert abs(float(plain[0])) > 0.15 and abs(float(plain[1])) > 0.15  # held: both turns mostly stay
    assert abs(float(freed[0])) < 0.05  # the pitch, free, is fitted away
    assert abs(float(freed[1])) > 0.15  # the yaw is still held


def test_the_frozen_keypoints_and_jacobian_give_what_the_eager_maths_gives(monkeypatch):
    """On a CPU the fit evaluates its keypoints and Jacobian through a frozen graph kept on the body (one
    per keypoint map and input signature); the fit it gives is the eager maths' fit."""
    import genhmr_app.refinement.joint_fit as joint_fit

    body, orient, pose, betas, transl, target, focal, wh = _problem(seed=3)
    s = pose.shape[0]
    start = pose @ roma.rotvec_to_rotmat(torch.randn(s, 23, 3) * 0.15)
    visibility = torch.rand(s, 33)

    def shifted(points, global_orient):  # a keypoint map, as the app's detector-like keypoints are
        return points + torch.tensor([0.0, 0.01, 0.0])

    def fit():
        return fit_joints(body, start, orient, betas, transl + 0.02, target, visibility, torch.full((s,), 300.0),
                          focal, wh, JointFitSettings(iterations=4), keypoint_fn=shifted)

    frozen = fit()
    assert len(body._fit_graphs[shifted].graphs) == 1 and not body._fit_graphs[shifted].failed
    monkeypatch.setattr(joint_fit, "_keypoints_and_jacobian", lambda b, fn: joint_fit._KeypointsAndJacobian(b, fn))
    eager = fit()
    for a, b in ((frozen.body_pose, eager.body_pose), (frozen.global_orient, eager.global_orient),
                 (frozen.transl, eager.transl), (frozen.error_px, eager.error_px)):
        assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
