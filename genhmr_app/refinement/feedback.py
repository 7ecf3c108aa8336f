"""Reprojection feedback for the generator's iterations (GeneratorConfig.feedback).

After an iteration, the current estimate (each token's belief decoded as its expected code, with that
iteration's orientation, shape and camera) is posed and its 33 keypoints are projected where the
detector would put them. The residual, detected minus projected, in the condition's crop units, is what
the next iteration sees besides its beliefs: how the estimate misses the image. Training computes it the
same way from the model's own first forward (training/train_generator.py).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project, weak_perspective_to_translation
from genhmr_app.conditioning.features import NUM_LANDMARKS, ConditionBatch
from genhmr_app.detection.landmarks import MP33_INDEX
from genhmr_app.frozen_graphs import FrozenGraphs
from genhmr_app.generator.model import GeneratorOutput
from genhmr_app.tokens.frozen import FrozenDecoder
from genhmr_app.tokens.model import PoseTokenizer

HIPS = [MP33_INDEX["left_hip"], MP33_INDEX["right_hip"]]  # MediaPipe's z is depth relative to their midpoint

KeypointFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def reprojection_feedback(tokenizer: PoseTokenizer | FrozenDecoder, body: SparseBody, beliefs: torch.Tensor,
                          output: GeneratorOutput, condition: ConditionBatch, keypoint_fn: KeypointFn,
                          depth: bool = False) -> torch.Tensor:
    """beliefs (S, K, C) rows summing to 1 (one-hot for a code); `output` the forward they came with;
    `condition` S rows → (S, 33, 2) detected minus projected landmarks in crop half-sizes, clamped to
    ±1 (a landmark off by more than half the box says only "far off"). `keypoint_fn(mediapipe33,
    global_orient)` maps the body's keypoints to where the detector would put them.
    `depth` (GeneratorConfig.feedback_depth): (S, 33, 3), the third number the detector's relative depth
    of each landmark (the condition's z channel) minus the estimate's, in the same units: depth behind the
    hips' midpoint, in pixels at the hips' distance, over the crop's half-size (as bench/run.py relates
    MediaPipe's z to the truth)."""
    pose = tokenizer.decode_soft(beliefs.to(output.cam.dtype))
    transl = weak_perspective_to_translation(output.cam, condition.crop, condition.focal, condition.image_wh)
    points = keypoint_fn(body.mediapipe33(output.global_orient, pose, output.betas, transl), output.global_orient)
    px = project(points, condition.focal, condition.image_wh)
    half = (condition.crop[:, 2] / 2)[:, None, None]
    projected = (px - condition.crop[:, None, :2]) / half
    residual = condition.tokens[:, :NUM_LANDMARKS, :2] - projected
    if depth:
        hips_z = points[:, HIPS, 2].mean(1, keepdim=True).clamp_min(1e-3)  # (S, 1)
        relative = (points[..., 2] - hips_z) * condition.focal[:, None] / hips_z / half[..., 0]
        residual = torch.cat([residual, (condition.tokens[:, :NUM_LANDMARKS, 2] - relative)[..., None]], dim=-1)
    return residual.clamp(-1.0, 1.0)


class _Feedback(nn.Module):
    """reprojection_feedback over plain tensors, so that it can be traced."""

    def __init__(self, tokenizer: PoseTokenizer, body: SparseBody, keypoint_fn: KeypointFn, depth: bool) -> None:
        super().__init__()
        self.tokenizer, self.body, self.keypoint_fn, self.depth = tokenizer, body, keypoint_fn, depth

    def forward(self, beliefs: torch.Tensor, global_orient: torch.Tensor, betas: torch.Tensor, cam: torch.Tensor,
                tokens: torch.Tensor, crop: torch.Tensor, focal: torch.Tensor, image_wh: torch.Tensor) -> torch.Tensor:
        output = GeneratorOutput(None, None, global_orient, betas, cam)
        return reprojection_feedback(self.tokenizer, self.body, beliefs, output,
                                     ConditionBatch(tokens, crop, focal, image_wh), self.keypoint_fn, self.depth)


class FrozenFeedback:
    """reprojection_feedback for inference on a CPU, traced and frozen once per batch size and dtype.

    Each of a feedback generator's iterations after the first pays for one (four at the default N=5):
    eagerly ~1.5 ms for one person here, most of it PyTorch's per-operation overhead in the soft decode
    and the kinematic chain. Training (which needs gradients elsewhere, and varies its batches) calls
    reprojection_feedback itself; so does anything off the CPU."""

    def __init__(self, tokenizer: PoseTokenizer | FrozenDecoder, body: SparseBody, keypoint_fn: KeypointFn,
                 depth: bool = False) -> None:
        plain = tokenizer.tokenizer if isinstance(tokenizer, FrozenDecoder) else tokenizer
        self.eager = _Feedback(plain, body, keypoint_fn, depth)
        self._frozen = FrozenGraphs(self.eager)

    def __call__(self, beliefs: torch.Tensor, output: GeneratorOutput, condition: ConditionBatch) -> torch.Tensor:
        args = (beliefs.to(output.cam.dtype), output.global_orient, output.betas, output.cam, condition.tokens,
                condition.crop, condition.focal, condition.image_wh)
        return self._frozen(*args)
