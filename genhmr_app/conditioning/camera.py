"""Camera conventions shared by training, inference and export.

Camera frame: OpenCV axes (x right, y down, z forward), metres, pinhole with the principal point at
the image centre. Unknown intrinsics get a 55-degree vertical field of view (a typical phone/webcam
lens), overridable. The person's crop is a square box (centre, side in px); the network predicts a
weak-perspective camera (s, tx, ty) in crop units, converted to a full-image translation as in CLIFF
and 4D-Humans, which stays correct for people away from the image centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_VERTICAL_FOV_DEG = 55.0
# SMPL's canonical frame is Y up, facing +Z; the camera's is y down, z forward. A person upright and
# facing the camera is therefore SMPL rotated 180 degrees about x.
SMPL_TO_CAMERA = np.diag([1.0, -1.0, -1.0])


def focal_from_fov(image_height: float, vertical_fov_deg: float = DEFAULT_VERTICAL_FOV_DEG) -> float:
    return 0.5 * image_height / math.tan(math.radians(vertical_fov_deg) / 2)


@dataclass(frozen=True)
class CropBox:
    cx: float
    cy: float
    size: float  # side of the square box in px

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.cx, self.cy, self.size)


def crop_from_points(points: np.ndarray, weights: np.ndarray | None = None, margin: float = 1.2,
                     min_size: float = 32.0) -> CropBox:
    """Square box around the points whose weight (visibility) is ≥ 0.3 (all points if too few)."""
    pts = np.asarray(points, dtype=np.float64)
    if weights is not None:
        keep = np.asarray(weights) >= 0.3
        if keep.sum() >= 4:
            pts = pts[keep]
    lo, hi = pts.min(0), pts.max(0)
    centre = (lo + hi) / 2
    size = max(float((hi - lo).max()) * margin, min_size)
    return CropBox(float(centre[0]), float(centre[1]), size)


def weak_perspective_to_translation(cam: torch.Tensor, crop: torch.Tensor, focal: torch.Tensor,
                                    image_wh: torch.Tensor) -> torch.Tensor:
    """cam (B, 3) = (s, tx, ty) in crop units; crop (B, 3) = (cx, cy, size) px; focal (B,) px;
    image_wh (B, 2) → camera-frame translation (B, 3) of the body's root."""
    s = cam[:, 0].clamp(min=1e-3)
    bs = crop[:, 2] * s
    tz = 2 * focal / bs
    tx = cam[:, 1] + 2 * (crop[:, 0] - image_wh[:, 0] / 2) / bs
    ty = cam[:, 2] + 2 * (crop[:, 1] - image_wh[:, 1] / 2) / bs
    return torch.stack([tx, ty, tz], dim=-1)


def translation_to_weak_perspective(transl: torch.Tensor, crop: torch.Tensor, focal: torch.Tensor,
                                    image_wh: torch.Tensor) -> torch.Tensor:
    """Inverse of weak_perspective_to_translation (training targets)."""
    bs = 2 * focal / transl[:, 2].clamp(min=1e-3)
    s = bs / crop[:, 2]
    tx = transl[:, 0] - 2 * (crop[:, 0] - image_wh[:, 0] / 2) / bs
    ty = transl[:, 1] - 2 * (crop[:, 1] - image_wh[:, 1] / 2) / bs
    return torch.stack([s, tx, ty], dim=-1)


def project(points: torch.Tensor, focal: torch.Tensor, image_wh: torch.Tensor) -> torch.Tensor:
    """Camera-frame points (B, N, 3) → pixels (B, N, 2); principal point at the image centre."""
    z = points[..., 2:3].clamp(min=1e-3)
    return points[..., :2] / z * focal[:, None, None] + image_wh[:, None, :] / 2
