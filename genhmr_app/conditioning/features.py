"""Condition tokens from a detected person.

The default "image encoder" is MediaPipe's pose network, held frozen: its 33 landmarks (normalised to
the person's crop), their visibility and presence, its 33 metric world landmarks, plus one token of
crop/camera geometry. Training synthesises the same quantities from posed bodies
(genhmr_app.training.synthesis), so train and test inputs go through this one function.

An image-feature encoder can be added later by implementing `ConditionEncoder` with more tokens or a
wider feature; the generator reads `num_tokens` and `feature_dim` from the encoder it is built with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from genhmr_app.conditioning.camera import CropBox, crop_from_points

NUM_LANDMARKS = 33
FEATURE_DIM = 8  # u, v, z, visibility, presence, world x, y, z
NUM_CONDITION_TOKENS = NUM_LANDMARKS + 1  # + the crop/camera token


@dataclass
class ConditionBatch:
    tokens: torch.Tensor  # (B, NUM_CONDITION_TOKENS, FEATURE_DIM)
    crop: torch.Tensor  # (B, 3) cx, cy, size in px
    focal: torch.Tensor  # (B,) px
    image_wh: torch.Tensor  # (B, 2)

    def to(self, device) -> ConditionBatch:
        return ConditionBatch(self.tokens.to(device), self.crop.to(device), self.focal.to(device), self.image_wh.to(device))

    def repeat(self, n: int) -> ConditionBatch:
        return ConditionBatch(self.tokens.repeat_interleave(n, 0), self.crop.repeat_interleave(n, 0),
                              self.focal.repeat_interleave(n, 0), self.image_wh.repeat_interleave(n, 0))


class ConditionEncoder(Protocol):
    name: str
    num_tokens: int
    feature_dim: int


def build_condition_tokens(keypoints_px: torch.Tensor, depth_px: torch.Tensor, visibility: torch.Tensor,
                           presence: torch.Tensor, world: torch.Tensor, crop: torch.Tensor,
                           focal: torch.Tensor, image_wh: torch.Tensor) -> torch.Tensor:
    """All (B, 33, ·) except crop (B, 3), focal (B,), image_wh (B, 2) → (B, 34, 8)."""
    half = (crop[:, 2] / 2)[:, None]
    u = (keypoints_px[..., 0] - crop[:, None, 0]) / half
    v = (keypoints_px[..., 1] - crop[:, None, 1]) / half
    z = depth_px / half
    landmarks = torch.stack([u, v, z, visibility, presence, world[..., 0], world[..., 1], world[..., 2]], dim=-1)
    geometry = torch.zeros_like(landmarks[:, :1])
    geometry[:, 0, 0] = (crop[:, 0] - image_wh[:, 0] / 2) / focal
    geometry[:, 0, 1] = (crop[:, 1] - image_wh[:, 1] / 2) / focal
    geometry[:, 0, 2] = crop[:, 2] / focal
    return torch.cat([landmarks, geometry], dim=1)


@dataclass(frozen=True)
class MediaPipeConditionEncoder:
    """Condition tokens from `genhmr_app.detection.DetectedPerson`."""

    name: str = "mediapipe-pose-full"
    num_tokens: int = NUM_CONDITION_TOKENS
    feature_dim: int = FEATURE_DIM
    depth_scale: float = 1.0  # MediaPipe's z over true relative depth (NoiseModel.landmark_z_scale)

    def crop_for(self, person) -> CropBox:
        return crop_from_points(person.landmarks_px, person.visibility)

    def encode(self, person, image_width: int, image_height: int, focal: float) -> ConditionBatch:
        crop = self.crop_for(person)
        t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))[None]  # noqa: E731
        crop_t = t(crop.as_tuple())
        focal_t = torch.tensor([float(focal)])
        wh = torch.tensor([[float(image_width), float(image_height)]])
        depth = np.asarray(person.landmarks_z, dtype=np.float32) / self.depth_scale
        tokens = build_condition_tokens(t(person.landmarks_px), t(depth), t(person.visibility),
                                        t(person.presence), t(person.world_landmarks), crop_t, focal_t, wh)
        return ConditionBatch(tokens, crop_t, focal_t, wh)
