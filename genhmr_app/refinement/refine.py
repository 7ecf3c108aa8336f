"""2D-pose-guided refinement (GenHMR §3.4): make the sampled token latents continuous and optimise them,
with global orientation, shape and camera translation, so that the projected 3D keypoints meet the
detected 2D keypoints.

Objective = visibility-weighted Geman-McClure reprojection error (in crop-size units, so it does not
depend on the image resolution) + a pull of the latents back towards the sampled codes (keeps the pose
where the prior put it unless the image disagrees) + a shape prior. Everything else (decoder, body
model) is frozen; gradients flow through the tokenizer's decoder and the body model's kinematics.

Refinement never makes things worse silently: the 2D error is measured at every step, the best state
is kept (step 0 = the unrefined sample), and both the initial and the final error are returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project
from genhmr_app.tokens.frozen import FrozenDecoder
from genhmr_app.tokens.model import PoseTokenizer
from genhmr_app.tokens.rotation6d import rotmat_to_6d, sixd_to_rotmat


@dataclass(frozen=True)
class RefinementSettings:
    steps: int = 10
    lr: float = 0.03
    latent_prior: float = 0.05
    betas_prior: float = 0.002
    robust_sigma: float = 0.05  # GMoF scale, in crop-size units (5% of the person's box)
    min_visibility: float = 0.3
    fit_shape: bool = True  # False: betas stay as given (live tracking fixes a person's shape once settled)


@dataclass
class RefinementResult:
    body_pose: torch.Tensor  # (S, 23, 3, 3)
    global_orient: torch.Tensor  # (S, 3, 3)
    betas: torch.Tensor  # (S, 10)
    transl: torch.Tensor  # (S, 3)
    latents: torch.Tensor  # (S, K, D)
    error_before: torch.Tensor  # (S,) mean 2D error in px over weighted keypoints, before
    error_after: torch.Tensor  # (S,) after (≤ before by construction)
    best_step: torch.Tensor  # (S,) the step kept (0 = unrefined)
    errors: list[float]  # mean 2D error per step (for plots/benchmarks)


def keypoint_weights(visibility: torch.Tensor, min_visibility: float) -> torch.Tensor:
    """Trust what the detector saw; MediaPipe's visibility is a calibrated-ish probability."""
    return torch.where(visibility >= min_visibility, visibility, torch.zeros_like(visibility))


def reprojection_error_px(pred_px: torch.Tensor, target_px: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean Euclidean error in px, per sample: (S, N, 2), (S, N, 2), (S, N) → (S,)."""
    dist = (pred_px - target_px).norm(dim=-1)
    return (dist * weights).sum(-1) / weights.sum(-1).clamp_min(1e-6)


def refine(tokenizer: PoseTokenizer | FrozenDecoder, body: SparseBody, latents: torch.Tensor,
           global_orient: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor, target_px: torch.Tensor,
           visibility: torch.Tensor, crop_size: torch.Tensor, focal: torch.Tensor, image_wh: torch.Tensor,
           settings: RefinementSettings = RefinementSettings(),
           keypoint_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
           prior_latents: torch.Tensor | None = None) -> RefinementResult:
    """All inputs batched over S hypotheses. target_px/visibility: (S, 33, 2)/(S, 33) MediaPipe landmarks.
    `keypoint_fn(mediapipe33, global_orient)` maps body keypoints to where the detector would put them.
    `prior_latents`: where the latent prior pulls (default: the starting latents). Live tracking starts
    from the previous frame's refined latents but keeps the prior on the sampled codes, so a pose
    cannot drift away from the codebook frame after frame."""
    s = latents.shape[0]
    weights = keypoint_weights(visibility, settings.min_visibility)
    init_latents = (latents if prior_latents is None else prior_latents).detach()
    z = latents.detach().clone().requires_grad_(True)
    orient6 = rotmat_to_6d(global_orient.detach()).clone().requires_grad_(True)
    b = betas.detach().clone().requires_grad_(settings.fit_shape)
    t = transl.detach().clone().requires_grad_(True)
    params = [z, orient6, b, t] if settings.fit_shape else [z, orient6, t]
    opt = torch.optim.Adam(params, lr=settings.lr)
    scale = crop_size.reshape(s, 1)

    def evaluate(with_grad: bool):
        with torch.set_grad_enabled(with_grad):
            pose = tokenizer.decode_latents(z)
            orient = sixd_to_rotmat(orient6)
            out = body(orient, pose, b, t)
            points = keypoint_fn(out.mediapipe33, orient) if keypoint_fn is not None else out.mediapipe33
            px = project(points, focal, image_wh)
            err_px = reprojection_error_px(px, target_px, weights)
            return pose, orient, px, err_px

    best = {"err": None}
    errors: list[float] = []
    for step in range(settings.steps + 1):
        pose, orient, px, err_px = evaluate(with_grad=step < settings.steps)
        e = err_px.detach()
        errors.append(float(e.mean()))
        if best["err"] is None:
            best = {"err": e.clone(), "before": e.clone(), "step": torch.zeros(s, dtype=torch.long, device=e.device),
                    "pose": pose.detach().clone(), "orient": orient.detach().clone(), "betas": b.detach().clone(),
                    "transl": t.detach().clone(), "latents": z.detach().clone()}
        else:
            better = e < best["err"]
            if better.any():
                for key, new in (("pose", pose), ("orient", orient), ("betas", b), ("transl", t), ("latents", z)):
                    mask = better.reshape(-1, *([1] * (new.dim() - 1)))
                    best[key] = torch.where(mask, new.detach(), best[key])
                best["err"] = torch.where(better, e, best["err"])
                best["step"] = torch.where(better, torch.full_like(best["step"], step), best["step"])
        if step == settings.steps:
            break
        r = (px - target_px).norm(dim=-1) / scale
        robust = r.pow(2) / (r.pow(2) + settings.robust_sigma ** 2)  # Geman-McClure
        data = (robust * weights).sum(-1) / weights.sum(-1).clamp_min(1e-6)
        prior = settings.latent_prior * (z - init_latents).pow(2).mean((1, 2)) + settings.betas_prior * b.pow(2).sum(-1)
        loss = (data + prior).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return RefinementResult(best["pose"], best["orient"], best["betas"], best["transl"], best["latents"],
                            best["before"], best["err"], best["step"], errors)
