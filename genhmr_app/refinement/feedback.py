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

from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project, weak_perspective_to_translation
from genhmr_app.conditioning.features import NUM_LANDMARKS, ConditionBatch
from genhmr_app.detection.landmarks import MP33_INDEX
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
