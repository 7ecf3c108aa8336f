"""The joint-space stage of 2D-pose-guided refinement, solved by Levenberg-Marquardt.

After the latent stage (refine.py) the decoder still ties every joint to every other: latents alone
cannot put one limb on its keypoints without moving the rest. This stage lets each joint rotation move
on its own, held near the decoded pose by a prior, and fits the projected keypoints to the detector's.

Unknowns, per hypothesis: a rotation vector per joint applied on the right of the decoded rotation
(R_j = R0_j exp(d_j), the global orientation being joint 0) and the camera translation; 75 in all.
Residuals: the detector's keypoints in crop-size units, weighted by its visibility and by Geman-McClure
(iteratively reweighted), whitened by the measured correlation of the detector's errors
(detection/landmark_noise.py), and the prior sqrt(w) * d_j.

Why Levenberg-Marquardt: the problem is small and nearly least squares, so a few Gauss-Newton steps
converge where Adam needed 40 gradient steps (~230 ms against ~12 ms for 4 iterations here). The Jacobian is analytic
(SparseBody.mediapipe33_jacobian): one pass gives the keypoints and their derivatives by every joint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import roma
import torch
from torch import nn

from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project
from genhmr_app.detection.landmarks import MP33_INDEX
from genhmr_app.frozen_graphs import FrozenGraphs
from genhmr_app.refinement.refine import keypoint_weights, reprojection_error_px

NUM_JOINTS = 24  # global orientation + 23 body joints
NUM_UNKNOWNS = NUM_JOINTS * 3 + 3
# MediaPipe's hand points (pinky, index, thumb): the body model's hands keep one decoded hand pose, so
# these points mostly tell the wrist's roll, which they pull on through the whole arm.
HAND_LANDMARKS = tuple(MP33_INDEX[f"{side}_{finger}"] for finger in ("pinky", "index", "thumb")
                       for side in ("left", "right"))


@dataclass(frozen=True)
class JointFitSettings:
    iterations: int = 4  # 0: off. On rendered validation scenes 4 reached what 8 and Adam's 40 steps did
    pose_prior: float = 0.05  # per joint, on |d_j|^2 (rad^2); 0.03-0.1 measured within 0.6 mm of each other
    orient_prior: float = 0.5
    # The orientation prior's share about the camera's x axis (pitch: leaning towards or away from the
    # camera), the others keeping `orient_prior`. The prior is on the camera-frame rotation R0 d_0 of
    # the start orientation R0, whose norm is |d_0|: at 1 it is the plain prior. Pitch is most of what a
    # free turn of the whole body would take off (twenty-eighth session), and the keypoints see it through
    # the perspective. Thirtieth session, seed-10 validation with the landmark correction, against 1:
    # 0.5 / 0.2 / 0.1 / 0 −0.31 / −0.62 / −0.72 / −0.71 mm flat (0.2 dressed −0.63), MPI-INF-3DHP
    # 111.8 → 112.0 / 112.5 / 112.8 / 113.4 (one frame, S4, 144.5 → 147.1 at 0.2), the cropped photos
    # −0.01 points. Freeing all three axes instead (orient_prior 0.25) gave −0.42 and MPI-INF-3DHP 112.8
    # (S8 123.2 → 126.3). 0.2: most of the gain for the least cost on the real frames.
    orient_prior_pitch_scale: float = 0.2
    # Geman-McClure scale, in crop-size units (5% of the person's box). Its IRLS weight near zero residual
    # is 1 / sigma^2, so it also sets the keypoints' pull against the pose prior. Fifteenth session, at
    # hand_weight 0.25: 0.1 gave 91.3 instead of 92.9 mm on 590 rendered validation scenes (seed 10;
    # not the bench's), where the generator's pose is the better guess, but on the real photos the fit
    # then sat further from MediaPipe's limb points (1.7 → 2.3% of the height) and from the annotation
    # (7.18 → 7.53%): kept at 0.05, because renders cannot show the body-model mismatch real people have.
    robust_sigma: float = 0.05
    # Every keypoint counts, weighted by its visibility: cutting those under 0.5 measured 1-4 mm worse.
    min_visibility: float = 0.0
    # The hand points' share of their visibility weight (HAND_LANDMARKS). Fifteenth session, 0.25 against
    # 1 on rendered validation scenes (not the bench's): seed 10 (590) MPJPE 93.6 → 92.9 mm, seed 8 (118)
    # 102.8 → 101.7, seed 7 (57) 102.2 → 101.7; bench 84.0 → 83.8, MPI-INF-3DHP 114.1 → 110.1, real photos'
    # 2D 7.22 → 7.18%. Shipped in the sixteenth, once the live path kept up (pipeline/live.py: its own
    # uncertainty-guided prior and a predicting filter; live accuracy 1.056x → 1.041x the still path).
    hand_weight: float = 0.25
    # How much of the measured correlation of MediaPipe's landmark errors (detection/landmark_noise.py)
    # whitens the residuals: 0 counts every landmark's error as its own. Twenty-fifth session, rendered
    # validation scenes (seed 10, 597; not the bench's), against 0: 0.5 −0.45 mm (−0.61 to −0.29), 0.75
    # −0.53, 1 −0.44 (−0.74 to −0.15); 2D 8.20 → 8.14 px. Real images: MPI-INF-3DHP 110.8 → 111.2 / 111.4
    # / 111.4, photos 7.13 → 7.15 / 7.16 / 7.16% (4 frames, 8 people: within their noise). The half that
    # gains as much with the narrowest interval.
    landmark_correlation: float = 0.5
    # A still's tracked landmarks (detection/tracking_looks.py) are weighed by visibility × (the tracking
    # pass's heatmap peak) ** this (Reconstructor.fit_targets): where its network is unsure of the spot,
    # the landmark counts less. Twenty-sixth session, 298 rendered validation scenes, paired against
    # visibility alone: 0.5 −0.25 mm, 1 −0.39, 2 −0.67 (−1.06 to −0.28), 3 −0.91, 4 −1.05 (−1.65 to
    # −0.45); against 2: 6 −0.41, 8 −0.24, 4 normalised to a mean of 1 −0.39 (so it is the landmarks'
    # relative weight that counts, not the prior's share). The heatmap's spread instead of its peak −0.29.
    # But on one of the four MPI-INF-3DHP frames (a hidden arm, peaks 0.16-0.43) the arm lost all its
    # weight and the frame went 120.1 → 171.5 mm (mean 111.5 → 124.1). Hence a floor: the confidence may
    # cut a landmark's weight by 4× at most. Seed 10 (597) against no confidence: floor 0.25 −0.71 mm, no
    # floor −1.07, only where visibility ≥ 0.5 −0.34; MPI-INF-3DHP 112.0 / 124.1 / 109.7 (none 111.5).
    tracked_confidence_power: float = 4.0
    tracked_confidence_floor: float = 0.25
    initial_damping: float = 1e-2


@dataclass
class JointFitResult:
    body_pose: torch.Tensor  # (S, 23, 3, 3)
    global_orient: torch.Tensor  # (S, 3, 3)
    transl: torch.Tensor  # (S, 3)
    error_px: torch.Tensor  # (S,) visibility-weighted mean 2D error in px of the result
    errors: list[float]  # mean 2D error after each iteration (iteration 0 = the start)
    offsets: torch.Tensor  # (S, 24, 3) the rotation vectors d_j found
    objective: torch.Tensor  # (S,) the robust objective at the result (Geman-McClure data + prior): fits from
    # different starts compare by it


class _KeypointsAndJacobian(nn.Module):
    """The fit's keypoints and their Jacobian over plain tensors, so that it can be traced."""

    def __init__(self, body: SparseBody, keypoint_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None):
        super().__init__()
        self.body, self.keypoint_fn = body, keypoint_fn

    def forward(self, rot0: torch.Tensor, x: torch.Tensor, betas: torch.Tensor, focal: torch.Tensor,
                image_wh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """rot0 (S, 24, 3, 3) the start, x (S, 75) the offsets and translation → the detector-like
        keypoints in px (S, 33, 2) and their Jacobian (S, 33, 2, 75). The derivative leaves out the
        detector-like hip shift: it only slows convergence a little, the residuals stay exact."""
        s = x.shape[0]
        rot = rot0 @ roma.rotvec_to_rotmat(x[:, :72].reshape(s, NUM_JOINTS, 3))
        points, point_jac = self.body.mediapipe33_jacobian(rot[:, 0], rot[:, 1:], betas, x[:, 72:])
        if self.keypoint_fn is not None:
            points = self.keypoint_fn(points, rot[:, 0])
        inv_z = 1.0 / points[..., 2].clamp(min=1e-3)
        f = focal[:, None] * inv_z
        zero = torch.zeros_like(f)
        proj = torch.stack([f, zero, -f * points[..., 0] * inv_z,
                            zero, f, -f * points[..., 1] * inv_z], -1).reshape(s, 33, 2, 3)  # d px / d point
        return project(points, focal, image_wh), torch.cat([proj @ point_jac.reshape(s, 33, 3, 72), proj], -1)


def _keypoints_and_jacobian(body: SparseBody, keypoint_fn) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """_KeypointsAndJacobian for this body and keypoint map; on a CPU outside autograd, through frozen
    graphs kept on the body (one per keypoint map and input signature): each LM iteration evaluates it,
    and eagerly ~0.55 ms of its ~0.75 ms for one person here is PyTorch's per-operation overhead around
    the (already frozen) body Jacobian; frozen whole ~0.4 ms, with the same results."""
    graphs = body.__dict__.setdefault("_fit_graphs", {})  # the body's, so they go when it goes
    if keypoint_fn not in graphs:
        graphs[keypoint_fn] = FrozenGraphs(_KeypointsAndJacobian(body, keypoint_fn))
    return graphs[keypoint_fn]


def fit_joints(body: SparseBody, body_pose: torch.Tensor, global_orient: torch.Tensor, betas: torch.Tensor,
               transl: torch.Tensor, target_px: torch.Tensor, visibility: torch.Tensor, crop_size: torch.Tensor,
               focal: torch.Tensor, image_wh: torch.Tensor, settings: JointFitSettings = JointFitSettings(),
               keypoint_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
               start_offsets: torch.Tensor | None = None, pose_prior: torch.Tensor | None = None,
               noise_correlation: torch.Tensor | None = None) -> JointFitResult:
    """All batched over S hypotheses: body_pose (S, 23, 3, 3), global_orient (S, 3, 3), betas (S, B),
    transl (S, 3), target_px / visibility (S, 33, 2) / (S, 33) MediaPipe landmarks, crop_size / focal
    (S,), image_wh (S, 2). `keypoint_fn(mediapipe33, global_orient)` maps the body's keypoints to where
    the detector would put them. A step is only taken when it lowers the (reweighted) objective.
    `start_offsets` (S, 24, 3): start from R0_j exp(d_j) instead of R0 (live tracking: the last frame's
    solution expressed against this frame's decoded pose); the prior still pulls towards R0.
    `pose_prior` (S, 23): a prior weight per body joint instead of `settings.pose_prior` for all
    (refinement/uncertainty.py: firm where the generator is sure, loose where it is not).
    `noise_correlation` (66, 66): the correlation of the landmarks' errors (LandmarkNoise.blended); the
    weighted residuals are whitened by it, so an error many landmarks share counts once. None: each
    landmark errs on its own. The returned objective stays the independent one, comparable across fits."""
    s, n = body_pose.shape[0], NUM_UNKNOWNS
    dtype, device = body_pose.dtype, body_pose.device
    weights = keypoint_weights(visibility, settings.min_visibility)  # for the reported 2D errors
    fit_weights = weights.clone()  # for the objective: the hand points by their share
    fit_weights[..., list(HAND_LANDMARKS)] *= settings.hand_weight
    weight_sum = fit_weights.sum(-1, keepdim=True).clamp_min(1e-6)
    rot0 = torch.cat([global_orient.reshape(s, 1, 3, 3), body_pose], 1).detach()
    prior = torch.full((s, NUM_JOINTS), settings.pose_prior, dtype=dtype, device=device)
    if pose_prior is not None:
        prior[:, 1:] = pose_prior.to(device, dtype)
    prior[:, 0] = settings.orient_prior
    prior_sqrt = prior.sqrt().repeat_interleave(3, dim=1)  # (S, 72)
    prior_jac = torch.cat([torch.diag_embed(prior_sqrt), torch.zeros(s, 72, 3, dtype=dtype, device=device)], 2)  # (S, 72, n)
    # The orientation's prior residual: sqrt(w) per camera axis times R0 d_0 (R0 exp(d_0) = exp(R0 d_0) R0).
    axis_weights = settings.orient_prior * torch.tensor([settings.orient_prior_pitch_scale, 1.0, 1.0],
                                                        dtype=dtype, device=device)
    root_prior = axis_weights.sqrt()[None, :, None] * rot0[:, 0]  # (S, 3, 3)
    prior_jac[:, :3, :3] = root_prior

    def prior_residuals(x: torch.Tensor) -> torch.Tensor:
        """x (S, n) → (S, 72): every joint's offset times the root of its prior weight."""
        return torch.cat([(root_prior @ x[:, :3, None])[..., 0], prior_sqrt[:, 3:] * x[:, 3:72]], -1)
    scale = crop_size.reshape(s, 1, 1)

    keypoints_and_jacobian = _keypoints_and_jacobian(body, keypoint_fn)

    def evaluate(x: torch.Tensor, jacobian: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (S, n) → the detector-like keypoints in px (S, 33, 2) and their Jacobian (S, 33, 2, n),
        None when not asked for (the last iteration's trial steps)."""
        if jacobian:
            return keypoints_and_jacobian(rot0, x, betas, focal, image_wh)
        rot = rot0 @ roma.rotvec_to_rotmat(x[:, :72].reshape(s, NUM_JOINTS, 3))
        points = body.mediapipe33(rot[:, 0], rot[:, 1:], betas, x[:, 72:])
        if keypoint_fn is not None:
            points = keypoint_fn(points, rot[:, 0])
        return project(points, focal, image_wh), None

    def whitening(root_weights: torch.Tensor) -> torch.Tensor | None:
        """(S, 66, 66) lower Cholesky factor of the weighted residuals' correlation, None without one.
        A landmark's correlations shrink with its weight relative to the best-held landmark's, so a
        hidden or outlying landmark (weight near 0) drops out of the others' noise model."""
        if noise_correlation is None:
            return None
        u = (root_weights / root_weights.amax(-1, keepdim=True).clamp_min(1e-12)).repeat_interleave(2, -1)
        corr = u[:, :, None] * noise_correlation.to(device, dtype) * u[:, None, :] + torch.diag_embed(1 - u.pow(2))
        return torch.linalg.cholesky(corr)

    def residuals(px: torch.Tensor, x: torch.Tensor, root_weights: torch.Tensor,
                  chol: torch.Tensor | None = None) -> torch.Tensor:
        """px (S, 33, 2), x (S, n) → (S, 66 + 72)."""
        data = ((px - target_px) / scale * root_weights[..., None]).flatten(1)
        if chol is not None:
            data = torch.linalg.solve_triangular(chol, data[..., None], upper=False)[..., 0]
        return torch.cat([data, prior_residuals(x)], -1)

    x = torch.zeros(s, n, dtype=dtype, device=device)
    x[:, 72:] = transl.detach()
    if start_offsets is not None:
        x[:, :72] = start_offsets.detach().reshape(s, 72)
    damping = torch.full((s,), settings.initial_damping, dtype=dtype, device=device)
    sigma2 = settings.robust_sigma ** 2
    with torch.no_grad():
        px, px_jac = evaluate(x)
        errors = [float(reprojection_error_px(px, target_px, weights).mean())]
        for iteration in range(settings.iterations):
            last = iteration == settings.iterations - 1
            # Geman-McClure by iterative reweighting: rho(r^2) = r^2 / (r^2 + sigma^2), weight rho'(r^2).
            r2 = ((px - target_px) / scale).pow(2).sum(-1)
            root_weights = (fit_weights * sigma2 / (r2 + sigma2).pow(2) / weight_sum).sqrt()
            data_jac = (px_jac * (root_weights[..., None, None] / scale[..., None])).reshape(s, 66, n)
            chol = whitening(root_weights)
            if chol is not None:
                data_jac = torch.linalg.solve_triangular(chol, data_jac, upper=False)
            jac = torch.cat([data_jac, prior_jac], 1)
            r0 = residuals(px, x, root_weights, chol)
            jtj = jac.transpose(1, 2) @ jac
            grad = (jac.transpose(1, 2) @ r0[..., None])[..., 0]
            cost = r0.pow(2).sum(-1)
            for _attempt in range(4):  # Marquardt: raise the damping until the step lowers the cost
                system = jtj + damping[:, None, None] * torch.diag_embed(jtj.diagonal(dim1=1, dim2=2) + 1e-6)
                trial = x - torch.linalg.solve(system, grad)
                # The next iteration's Jacobian comes with the trial's keypoints (the last needs none).
                trial_px, trial_jac = evaluate(trial, jacobian=not last)
                better = residuals(trial_px, trial, root_weights, chol).pow(2).sum(-1) < cost
                x = torch.where(better[:, None], trial, x)
                px = torch.where(better[:, None, None], trial_px, px)
                if trial_jac is not None:
                    px_jac = torch.where(better[:, None, None, None], trial_jac, px_jac)
                damping = torch.where(better, damping * 0.3, damping * 10)
                if bool(better.all()):
                    break
            errors.append(float(reprojection_error_px(px, target_px, weights).mean()))
        rot = rot0 @ roma.rotvec_to_rotmat(x[:, :72].reshape(s, NUM_JOINTS, 3))
        r2 = ((px - target_px) / scale).pow(2).sum(-1)
        objective = (fit_weights * sigma2 * r2 / (r2 + sigma2)).sum(-1) / weight_sum[:, 0] \
            + prior_residuals(x).pow(2).sum(-1)
    return JointFitResult(rot[:, 1:], rot[:, 0], x[:, 72:].clone(), reprojection_error_px(px, target_px, weights),
                          errors, x[:, :72].reshape(s, NUM_JOINTS, 3).clone(), objective)
