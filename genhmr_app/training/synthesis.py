"""Training samples synthesised from real motion: pose a body, film it with a random camera, and
simulate what MediaPipe would report.

Per sample: a motion-capture pose; random betas; a global orientation all around the vertical axis
with plausible tilt; a random camera (field of view, distance, where in the frame, image size) and a
jittered crop. The detector simulation adds what the real detector does (see `NoiseModel`, calibrated
against MediaPipe on rendered bodies by `python main.py calibrate-noise`):
- 2D noise scaled by the person's box height, larger for self-occluded joints and side/back views;
- self-occlusion (behind the torso, or the face turned away) lowers visibility;
- truncation at the image border: low visibility and presence, larger error;
- occasional left/right confusion (mostly in back views) and outliers;
- world landmarks with metric noise that is larger along the depth axis, plus a scale error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import roma
import torch

from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project
from genhmr_app.conditioning.features import build_condition_tokens
from genhmr_app.detection.error_model import NoiseModel, mediapipe_like_hips
from genhmr_app.detection.landmarks import MP33_FLIP_INDEX, MP33_INDEX

_FACE = [i for i in range(11)]
_L_HIP, _R_HIP = MP33_INDEX["left_hip"], MP33_INDEX["right_hip"]
_L_SHO, _R_SHO = MP33_INDEX["left_shoulder"], MP33_INDEX["right_shoulder"]


# Random draws come from the caller's torch.Generator on its own device (the trainers' is on the CPU: the
# same numbers wherever the bodies are posed), then move to the device of the tensors they meet.
def uniform(gen: torch.Generator, device: torch.device | str | None, *shape: int) -> torch.Tensor:
    """U(0, 1) of `shape` from `gen` on its own device, on `device`."""
    return torch.rand(shape, generator=gen, device=gen.device).to(device)


def normal(gen: torch.Generator, device: torch.device | str | None, *shape: int) -> torch.Tensor:
    """N(0, 1) of `shape` from `gen` on its own device, on `device`."""
    return torch.randn(shape, generator=gen, device=gen.device).to(device)


@dataclass
class SynthBatch:
    condition: torch.Tensor  # (B, 34, 8) condition tokens
    crop: torch.Tensor  # (B, 3)
    focal: torch.Tensor  # (B,)
    image_wh: torch.Tensor  # (B, 2)
    body_pose: torch.Tensor  # (B, 23, 3, 3) ground truth
    global_orient: torch.Tensor  # (B, 3, 3) camera frame
    betas: torch.Tensor  # (B, 10)
    transl: torch.Tensor  # (B, 3) smplx transl in the camera frame
    keypoints_2d: torch.Tensor  # (B, 33, 2) clean projections (targets for reprojection losses)
    detected_2d: torch.Tensor  # (B, 33, 2) simulated detections
    visibility: torch.Tensor  # (B, 33)

    def fields(self) -> list[torch.Tensor]:
        return [getattr(self, name) for name in self.__dataclass_fields__]

    def to(self, device: torch.device | str) -> SynthBatch:
        """The batch on `device` (itself when it is there already): batches are made on the CPU, where
        the trainers' seeded draws are, and trained on wherever the model is."""
        if self.condition.device == torch.device(device):
            return self
        return SynthBatch(*[t.to(device) for t in self.fields()])


@dataclass
class SimulatedDetection:
    clean_px: torch.Tensor  # (B, 33, 2) projections of the keypoints (MediaPipe-like hips)
    detected: torch.Tensor  # (B, 33, 2) simulated landmarks, px
    rel_depth: torch.Tensor  # (B, 33)
    visibility: torch.Tensor  # (B, 33)
    presence: torch.Tensor  # (B, 33)
    world: torch.Tensor  # (B, 33, 3) metres, origin mid-hip
    occluded: torch.Tensor  # (B, 33) bool, self-occluded as simulated
    outside: torch.Tensor  # (B, 33) bool, outside the image
    view: torch.Tensor  # (B,) VIEW_FRONT / VIEW_SIDE / VIEW_BACK
    swapped: torch.Tensor  # (B,) bool, left/right labels exchanged
    box_h: torch.Tensor  # (B,) px


VIEW_FRONT, VIEW_SIDE, VIEW_BACK = 0, 1, 2


def viewing_yaw(orient: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """Where the camera is seen from the body, in the body's horizontal plane: 0 = in front of it,
    +-pi/2 = at its left/right, pi = behind. Uses the ray to the body, not the optical axis: a
    person at the edge of a wide lens is seen up to ~35 degrees more from the side than their
    orientation alone says."""
    to_cam = -centre / centre.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    fwd, left = orient[:, :, 2], orient[:, :, 0]  # SMPL +Z (facing) and +X (the body's left), camera frame
    return torch.atan2((to_cam * left).sum(-1), (to_cam * fwd).sum(-1))


def view_class(orient: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """(B,) VIEW_FRONT within 45 degrees of facing the camera, VIEW_BACK within 45 of facing away,
    else VIEW_SIDE."""
    a = viewing_yaw(orient, centre).abs()
    view = torch.full(a.shape, VIEW_SIDE, dtype=torch.long, device=a.device)
    view[a < math.pi / 4] = VIEW_FRONT
    view[a > 3 * math.pi / 4] = VIEW_BACK
    return view


def _rot(axis: str, angle: torch.Tensor) -> torch.Tensor:
    v = torch.zeros(angle.shape[0], 3, dtype=angle.dtype, device=angle.device)
    v[:, "xyz".index(axis)] = angle
    return roma.rotvec_to_rotmat(v)


def random_orientation(b: int, gen: torch.Generator, device: torch.device | str | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Camera-frame global orientation and the yaw (0 = facing the camera), on `device` (default
    the generator's)."""
    device = gen.device if device is None else torch.device(device)
    yaw = uniform(gen, device, b) * 2 * math.pi
    big = uniform(gen, device, b) < 0.1
    tilt_sd = torch.where(big, torch.tensor(0.5, device=device), torch.tensor(0.12, device=device))
    tilt_x = normal(gen, device, b) * tilt_sd
    tilt_z = normal(gen, device, b) * tilt_sd * 0.6
    pitch = normal(gen, device, b) * 0.15  # camera looking a little up or down
    to_cam = torch.diag(torch.tensor([1.0, -1.0, -1.0], device=device))
    r = _rot("x", pitch) @ to_cam @ _rot("x", tilt_x) @ _rot("z", tilt_z) @ _rot("y", yaw)
    return r, yaw


def _torso_occlusion(points: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """A landmark is hidden by the torso when it projects inside the shoulder-hip quad and lies
    behind the torso plane by more than 4 cm."""
    quad = px[:, [_L_SHO, _R_SHO, _R_HIP, _L_HIP]]  # (B, 4, 2)
    centre = quad.mean(1, keepdim=True)
    quad = centre + (quad - centre) * 1.1
    inside = torch.ones(px.shape[:2], dtype=torch.bool, device=px.device)
    sign = None
    for i in range(4):
        a, b = quad[:, i:i + 1], quad[:, (i + 1) % 4:(i + 1) % 4 + 1]
        cross = (b[..., 0] - a[..., 0]) * (px[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (px[..., 0] - a[..., 0])
        s = cross > 0
        inside &= (s == sign) if sign is not None else torch.ones_like(s)
        sign = s if sign is None else sign
    torso_depth = points[:, [_L_SHO, _R_SHO, _L_HIP, _R_HIP], 2].mean(1, keepdim=True)
    behind = points[..., 2] > torso_depth + 0.04
    torso_ids = torch.zeros(33, dtype=torch.bool, device=points.device)
    torso_ids[[_L_SHO, _R_SHO, _L_HIP, _R_HIP]] = True
    return inside & behind & ~torso_ids


class Synthesizer:
    def __init__(self, body: SparseBody, noise: NoiseModel | None = None, detector_body: SparseBody | None = None) -> None:
        """`detector_body`: the same body with the landmark placement (detection/placement.py): the
        simulated detector then puts its landmarks where MediaPipe does (its hips included, so the noise
        model's hip shift is not applied again); the clean keypoints stay the body's own."""
        self.body = body
        self.noise = noise or NoiseModel.load()
        self.detector_body = detector_body
        if detector_body is not None:
            self.noise = replace(self.noise, hip_width_factor=1.0, hip_offset_up=0.0)
        self.sigma = torch.tensor(self.noise.sigma_visible)

    @torch.no_grad()
    def __call__(self, body_pose: torch.Tensor, gen: torch.Generator) -> SynthBatch:
        """The batch on body_pose's device (the body's); the random draws from `gen` on its own."""
        b, device = body_pose.shape[0], body_pose.device
        betas = (normal(gen, device, b, 10) * 0.9).clamp(-2.5, 2.5)
        orient, _ = random_orientation(b, gen, device)
        # Image size and lens.
        aspect = torch.tensor([4 / 3, 16 / 9, 9 / 16, 1.0, 3 / 4], device=gen.device)[
            torch.randint(0, 5, (b,), generator=gen, device=gen.device)].to(device)
        height = 480 + uniform(gen, device, b) * 800
        image_wh = torch.stack([height * aspect, height], dim=-1).round()
        vfov = torch.deg2rad(40 + uniform(gen, device, b) * 35)
        focal = 0.5 * height / torch.tan(vfov / 2)
        # Pose at the origin to measure the body's size, then place it in view.
        rest = self.body(orient, body_pose, betas)
        extent = (rest.mediapipe33[..., 1].amax(1) - rest.mediapipe33[..., 1].amin(1)).clamp_min(0.5)
        frac = 0.3 + uniform(gen, device, b) * 0.65
        depth = focal * extent / (frac * height)
        truncate = uniform(gen, device, b) < 0.15
        spread = torch.where(truncate, torch.tensor(0.55, device=device), torch.tensor(0.25, device=device))
        uv = image_wh / 2 + (uniform(gen, device, b, 2) - 0.5) * 2 * spread[:, None] * image_wh
        centre = rest.mediapipe33.mean(1)  # keep the body's centre, not its pelvis, at uv
        target = torch.cat([(uv - image_wh / 2) / focal[:, None] * depth[:, None], depth[:, None]], dim=-1)
        transl = target - centre
        out = self.body(orient, body_pose, betas, transl)
        seen = out if self.detector_body is None else self.detector_body(orient, body_pose, betas, transl)
        sim = self.simulate(seen.mediapipe33, orient, extent, focal, image_wh, gen)
        detected, visibility = sim.detected, sim.visibility

        # The crop comes from the detections, as at run time, with some jitter.
        from genhmr_app.conditioning.camera import crop_from_points  # numpy, per sample

        det_np, vis_np = detected.cpu().numpy(), visibility.cpu().numpy()
        crops = torch.tensor([crop_from_points(det_np[i], vis_np[i]).as_tuple() for i in range(b)],
                             dtype=torch.float32, device=device)
        crops[:, 2] *= 1 + normal(gen, device, b) * 0.05
        crops[:, :2] += normal(gen, device, b, 2) * 0.03 * crops[:, 2:3]
        condition = build_condition_tokens(detected, sim.rel_depth, visibility, sim.presence, sim.world, crops, focal, image_wh)
        # The clean targets are the body's own keypoints (as the real detector data's truth is).
        clean = sim.clean_px if self.detector_body is None else project(out.mediapipe33, focal, image_wh)
        return SynthBatch(condition, crops, focal, image_wh, body_pose, orient, betas, transl, clean, detected, visibility)

    @torch.no_grad()
    def simulate(self, points: torch.Tensor, orient: torch.Tensor, extent: torch.Tensor, focal: torch.Tensor,
                 image_wh: torch.Tensor, gen: torch.Generator) -> SimulatedDetection:
        """What MediaPipe would report for bodies whose 33 keypoints are `points` (B, 33, 3, camera
        frame, metres); orient (B, 3, 3) the bodies' global orientation, extent (B,) their vertical
        extent in metres. Split out of __call__ so that calibration can run it on rendered scenes."""
        b, device = points.shape[0], points.device
        nm = self.noise
        points = mediapipe_like_hips(points, orient, extent, nm)
        mid = points[:, [_L_HIP, _R_HIP]].mean(1, keepdim=True)
        clean_px = project(points, focal, image_wh)
        box_h = (clean_px[..., 1].amax(1) - clean_px[..., 1].amin(1)).clamp_min(20)

        view = view_class(orient, points.mean(1))
        back = view == VIEW_BACK
        view_factor = torch.ones(b, device=device)
        view_factor[view == VIEW_SIDE] = nm.side_view_factor
        view_factor[back] = nm.back_view_factor

        occluded = _torso_occlusion(points, clean_px)
        occluded[:, _FACE] |= back[:, None]
        outside = ((clean_px < 0) | (clean_px > image_wh[:, None])).any(-1)

        sigma = self.sigma.to(device)[None] * box_h[:, None] * view_factor[:, None]
        sigma = sigma * torch.where(occluded | outside, nm.occluded_factor, 1.0)
        noise = normal(gen, device, b, 33, 2) * sigma[..., None]
        outlier = uniform(gen, device, b, 33) < nm.outlier_rate
        noise += outlier[..., None] * normal(gen, device, b, 33, 2) * (nm.outlier_sigma * box_h)[:, None, None]
        detected = clean_px + noise
        # MediaPipe's z: depth relative to the hips, in the same pixel scale as x.
        rel_depth = (points[..., 2] - mid[..., 2]) * focal[:, None] / mid[..., 2].clamp_min(1e-3)

        vis_mean = torch.where(occluded, nm.visibility_occluded[0], nm.visibility_visible[0])
        vis_sd = torch.where(occluded, nm.visibility_occluded[1], nm.visibility_visible[1])
        visibility = (vis_mean + normal(gen, device, b, 33) * vis_sd).clamp(0.0, 1.0)
        visibility = torch.where(outside, visibility * 0.2, visibility)
        presence = torch.where(outside, 0.2 + 0.3 * uniform(gen, device, b, 33), 0.9 + 0.1 * uniform(gen, device, b, 33))

        world = points - mid
        world = world * (1 + normal(gen, device, b, 1, 1) * nm.world_scale_sigma)
        world = world + normal(gen, device, b, 33, 3) * torch.tensor(nm.world_sigma_m, device=device)

        # Left/right confusion: the detector labels the person's sides the other way round.
        swap_p = torch.where(back, nm.swap_rate_back, nm.swap_rate_front)
        swap = uniform(gen, device, b) < swap_p
        for t in (detected, rel_depth, visibility, presence, world):
            t[swap] = t[swap][:, list(MP33_FLIP_INDEX)]
        return SimulatedDetection(clean_px, detected, rel_depth, visibility, presence, world, occluded, outside, view,
                                  swap, box_h)
