"""What the detector gets wrong, as numbers: the calibrated error statistics of MediaPipe's landmarks
(training/calibrate_noise.py measures them on renders) and where it puts the hips.

Inference needs two of these facts (where MediaPipe's hips sit, the scale of its landmark z), training
needs all of them to simulate detections; both read them from here, so inference never imports
training code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from genhmr_app.detection.landmarks import MP33_INDEX
from genhmr_app.paths import WEIGHTS_DIR

NOISE_MODEL_PATH = WEIGHTS_DIR / "genhmr" / "noise_model.json"
_L_HIP, _R_HIP = MP33_INDEX["left_hip"], MP33_INDEX["right_hip"]


@dataclass
class NoiseModel:
    """Detector error statistics, as fractions of the person's box height unless stated."""

    sigma_visible: list[float] = field(default_factory=lambda: [0.013] * 33)  # per landmark
    occluded_factor: float = 2.1
    side_view_factor: float = 1.2
    back_view_factor: float = 1.4
    outlier_rate: float = 0.02
    outlier_sigma: float = 0.15
    swap_rate_front: float = 0.01
    swap_rate_back: float = 0.06
    # Visibility ~ clamp(N(mean, std), 0, 1); the calibration fits mean and std to MediaPipe's quantiles,
    # so mean > 1 is normal (most landmarks at 1, a tail towards 0).
    visibility_visible: tuple[float, float] = (0.93, 0.06)  # mean, std before clamping
    visibility_occluded: tuple[float, float] = (0.55, 0.2)
    hip_offset_up: float = 0.02  # MediaPipe hips sit higher and wider than the body model's hip joints
    hip_width_factor: float = 1.21
    world_sigma_m: tuple[float, float, float] = (0.03, 0.03, 0.06)  # x, y, depth
    world_scale_sigma: float = 0.05
    # MediaPipe's landmark z (relative depth, "roughly the scale of x") is on average this many times
    # the true relative depth on the same crop scale. Measured on rendered bodies on 2026-11-25: slope
    # 2.69 (r = 0.78, 24 scenes, 792 landmarks), the value used; `main.py bench` prints it again for its
    # own scenes (2.21, r = 0.76, 59 scenes). The condition encoder divides it out, so training (true
    # depth) and inference (MediaPipe's depth) see one scale.
    landmark_z_scale: float = 2.69
    source: str = "defaults from FACTS.md measurements"

    @classmethod
    def load(cls, path: Path = NOISE_MODEL_PATH) -> NoiseModel:
        if not Path(path).exists():
            return cls()
        data = json.loads(Path(path).read_text())
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("visibility_visible", "visibility_occluded", "world_sigma_m"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)

    def save(self, path: Path = NOISE_MODEL_PATH) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(asdict(self), indent=2))



def mediapipe_like_hips(points: torch.Tensor, global_orient: torch.Tensor, body_height: torch.Tensor,
                        nm: NoiseModel) -> torch.Tensor:
    """MediaPipe places hips higher and wider apart than the body model's hip joints (measured on
    renders); apply the same shift wherever body keypoints are compared with detections."""
    points = points.clone()
    mid = points[:, [_L_HIP, _R_HIP]].mean(1)
    body_up = global_orient[:, :, 1]  # SMPL +Y expressed in camera coordinates
    for hip in (_L_HIP, _R_HIP):
        points[:, hip] = mid + (points[:, hip] - mid) * nm.hip_width_factor + body_up * nm.hip_offset_up * body_height[:, None]
    return points


def detector_like_keypoints(mediapipe33: torch.Tensor, global_orient: torch.Tensor, nm: NoiseModel) -> torch.Tensor:
    """The body's 33 keypoints (B, 33, 3) where MediaPipe would put them (its hips sit differently)."""
    height = (mediapipe33[..., 1].amax(1) - mediapipe33[..., 1].amin(1)).clamp_min(0.5)
    return mediapipe_like_hips(mediapipe33, global_orient, height, nm)
