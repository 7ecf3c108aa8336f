"""Fit the detector-noise model (`synthesis.NoiseModel`) by running the real MediaPipe detector on
rendered bodies whose keypoints are known exactly.

`python main.py calibrate-noise` renders N poses x views (front, three-quarter, side, back), with
random shapes, lenses, distances, clothes, lights and backgrounds; runs `PoseDetector`; matches
each detection to the truth (left/right swaps and wrong-object hits are detected, not counted as
noise); measures 2D error per landmark as a fraction of the true box height, its growth for
self-occluded landmarks and side/back views, outliers, the visibility MediaPipe reports, its hip
placement and its world landmarks; fits a NoiseModel (weights/genhmr/noise_model.json) and writes a
report (docs/noise_calibration.md, .png) that also runs the `Synthesizer`'s detector simulation on
the same scenes, to check the fitted model reproduces what MediaPipe did.

Photo backgrounds come from the shared test photos (crops away from the people in them); they are
used here only, never shipped.
"""

from __future__ import annotations

import argparse
import logging
import math
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import torch

from genhmr_app import paths
from genhmr_app.conditioning.camera import project
from genhmr_app.detection.landmarks import MP33_EDGES, MP33_FLIP_INDEX, MP33_FLIP_PAIRS, MP33_INDEX, MP33_NAMES
from genhmr_app.training import render as rnd
from genhmr_app.detection.error_model import NOISE_MODEL_PATH
from genhmr_app.training.synthesis import (
    VIEW_BACK,
    VIEW_FRONT,
    VIEW_SIDE,
    NoiseModel,
    Synthesizer,
    _torso_occlusion,
    mediapipe_like_hips,
    view_class,
    viewing_yaw,
)

log = logging.getLogger(__name__)

DEFAULT_REPORT = paths.REPO_ROOT / "docs" / "noise_calibration.md"
VIEW_NAMES = ("front", "side", "back")

# --- a small library of everyday poses ------------------------------------------------------------
# Used when no motion-capture pose cache is available. Poses are given as limb directions (the way a
# person would describe them) and turned into SMPL joint rotations by two-bone aiming, so they stay
# plausible on any body model's rest skeleton. Frames: SMPL body axes (x = the body's left, y up,
# z forward); arms in the upper-torso frame, legs in the body's upright frame (before `root` tilts it).

Vec = tuple[float, float, float]


@dataclass(frozen=True)
class Limb:
    upper: Vec  # shoulder->elbow or hip->knee direction
    lower: Vec  # elbow->wrist or knee->ankle direction


@dataclass(frozen=True)
class PoseSpec:
    name: str
    l_arm: Limb = Limb((0.2, -1.0, 0.02), (0.12, -1.0, 0.25))
    r_arm: Limb | None = None  # None mirrors the left
    l_leg: Limb = Limb((0.04, -1.0, 0.0), (0.04, -1.0, -0.03))
    r_leg: Limb | None = None
    spine: Vec = (0.0, 0.0, 0.0)  # degrees: forward bend, bend to the body's left, twist to the left
    neck: Vec = (0.0, 0.0, 0.0)  # same, head on neck
    root: Vec = (0.0, 0.0, 0.0)  # same, whole-body tilt on top of the camera view
    collar_raise: float = 0.0  # degrees, both shoulders shrugged
    foot_pitch: tuple[float, float] = (0.0, 0.0)  # left, right; positive points the toes down


def _mirror(limb: Limb) -> Limb:
    return Limb((-limb.upper[0], *limb.upper[1:]), (-limb.lower[0], *limb.lower[1:]))


def _walk(phase_deg: float, run: bool = False) -> PoseSpec:
    """A gait snapshot: phase 0 = left leg under the body swinging forward, 90 = left leg forward."""
    hip_amp, knee_base, knee_amp, knee_lead, arm_amp, elbow = (40, 10, 95, -30, 40, 85) if run else (25, 5, 55, 10, 20, 20)

    def leg(phase: float) -> Limb:
        a = math.radians(hip_amp * math.sin(math.radians(phase)))
        # The knee bends most while the leg swings forward, around the moment it passes the body.
        k = math.radians(knee_base + knee_amp * max(0.0, math.cos(math.radians(phase + knee_lead))))
        return Limb((0.04, -math.cos(a), math.sin(a)), (0.04, -math.cos(a - k), math.sin(a - k)))

    def arm(phase: float) -> Limb:  # arms swing against the leg of their side
        b = math.radians(-arm_amp * math.sin(math.radians(phase)))
        e = math.radians(elbow + 15 * max(0.0, -math.sin(math.radians(phase))))
        return Limb((0.18, -math.cos(b), math.sin(b)), (0.1, -math.cos(b + e), math.sin(b + e)))

    s = math.sin(math.radians(phase_deg))
    return PoseSpec(f"{'run' if run else 'walk'}_{int(phase_deg)}", l_arm=arm(phase_deg), r_arm=_mirror(arm(phase_deg + 180)),
                    l_leg=leg(phase_deg), r_leg=_mirror(leg(phase_deg + 180)),
                    spine=(10.0 if run else 3.0, 0.0, -8.0 * s), root=(8.0 if run else 0.0, 0.0, 0.0))


HANDMADE_POSES: tuple[PoseSpec, ...] = (
    PoseSpec("stand_relaxed"),
    PoseSpec("stand_attention", l_arm=Limb((0.1, -1.0, 0.0), (0.06, -1.0, 0.06)), l_leg=Limb((0.02, -1.0, 0.0), (0.02, -1.0, -0.02))),
    _walk(0), _walk(90), _walk(180), _walk(270),
    _walk(90, run=True), _walk(270, run=True),
    PoseSpec("arms_overhead", l_arm=Limb((0.35, 1.0, 0.05), (0.2, 1.0, 0.1)), collar_raise=15.0),
    PoseSpec("arms_forward", l_arm=Limb((0.15, 0.0, 1.0), (0.1, 0.0, 1.0))),
    PoseSpec("akimbo", l_arm=Limb((0.65, -0.7, -0.25), (-0.55, -0.55, 0.3)), l_leg=Limb((0.12, -1.0, 0.0), (0.1, -1.0, -0.02))),
    PoseSpec("t_pose", l_arm=Limb((1.0, 0.0, 0.0), (1.0, 0.0, 0.08))),
    PoseSpec("wave", r_arm=Limb((-1.0, 0.1, 0.15), (-0.15, 1.0, 0.2)), neck=(0.0, 0.0, -10.0)),
    PoseSpec("squat", l_arm=Limb((0.12, -0.1, 1.0), (0.08, -0.1, 1.0)), l_leg=Limb((0.3, -0.25, 0.9), (0.1, -0.9, -0.45)),
             spine=(30.0, 0.0, 0.0), root=(15.0, 0.0, 0.0)),
    PoseSpec("half_squat", l_arm=Limb((0.12, -0.3, 1.0), (0.1, -0.2, 1.0)), l_leg=Limb((0.15, -0.7, 0.7), (0.06, -0.95, -0.3)),
             spine=(20.0, 0.0, 0.0), root=(10.0, 0.0, 0.0)),
    PoseSpec("lunge", l_arm=Limb((0.65, -0.7, -0.25), (-0.55, -0.55, 0.3)), l_leg=Limb((0.08, -0.5, 0.85), (0.03, -1.0, -0.05)),
             r_leg=Limb((-0.06, -0.75, -0.6), (-0.02, -0.25, -0.95)), foot_pitch=(0.0, 45.0)),
    PoseSpec("side_bend_left", r_arm=Limb((-0.2, 1.0, 0.0), (0.5, 0.85, 0.05)), spine=(0.0, 30.0, 0.0), neck=(0.0, 10.0, 0.0)),
    PoseSpec("side_bend_right", l_arm=Limb((0.2, 1.0, 0.0), (-0.5, 0.85, 0.05)), r_arm=_mirror(Limb((0.2, -1.0, 0.02), (0.12, -1.0, 0.25))),
             spine=(0.0, -30.0, 0.0), neck=(0.0, -10.0, 0.0)),
    PoseSpec("sit", l_arm=Limb((0.2, -0.9, 0.35), (0.02, -0.35, 1.0)), l_leg=Limb((0.1, 0.0, 1.0), (0.06, -1.0, 0.0)), spine=(8.0, 0.0, 0.0)),
    PoseSpec("front_kick", l_arm=Limb((0.35, -0.7, 0.6), (-0.2, 0.8, 0.55)), l_leg=Limb((0.05, -0.05, 1.0), (0.05, -0.2, 1.0)),
             r_leg=_mirror(Limb((0.05, -1.0, 0.05), (0.05, -1.0, -0.05))), spine=(-10.0, 0.0, 0.0), foot_pitch=(30.0, 0.0)),
    PoseSpec("side_kick", l_leg=Limb((1.0, -0.25, 0.1), (1.0, -0.15, 0.0)), r_leg=_mirror(Limb((0.1, -1.0, 0.0), (0.05, -1.0, -0.05))),
             spine=(0.0, -25.0, 0.0), l_arm=Limb((0.9, -0.4, 0.1), (0.8, -0.6, 0.2))),
    PoseSpec("bow", l_arm=Limb((0.1, -0.7, 0.7), (0.05, -0.5, 0.85)), l_leg=Limb((0.04, -1.0, 0.0), (0.04, -1.0, -0.02)),
             spine=(30.0, 0.0, 0.0), root=(30.0, 0.0, 0.0), neck=(10.0, 0.0, 0.0)),
    PoseSpec("crossed_arms", l_arm=Limb((0.3, -0.9, 0.3), (-1.0, 0.15, 0.25))),
    PoseSpec("hands_on_head", l_arm=Limb((0.85, 0.45, 0.2), (-0.6, 0.7, 0.2)), collar_raise=8.0),
    PoseSpec("phone_call", r_arm=Limb((-0.3, -0.9, 0.35), (0.2, 1.0, 0.15)), neck=(5.0, -8.0, 0.0)),
    PoseSpec("reach_up", l_arm=Limb((0.1, 1.0, 0.15), (0.05, 1.0, 0.2)), spine=(0.0, -8.0, 0.0), collar_raise=6.0),
    PoseSpec("golf_twist", l_arm=Limb((-0.25, -0.8, 0.6), (-0.3, -0.7, 0.6)), r_arm=Limb((-0.5, -0.7, 0.5), (-0.3, -0.7, 0.6)),
             spine=(25.0, 0.0, 35.0), root=(10.0, 0.0, 0.0), l_leg=Limb((0.15, -0.95, 0.1), (0.1, -1.0, -0.1))),
    PoseSpec("jumping_jack", l_arm=Limb((0.8, 0.6, 0.0), (0.55, 0.85, 0.05)), l_leg=Limb((0.35, -0.94, 0.0), (0.3, -0.95, -0.03))),
    PoseSpec("boxing_guard", l_arm=Limb((0.35, -0.7, 0.6), (-0.2, 0.8, 0.55)), l_leg=Limb((0.1, -0.95, 0.25), (0.05, -1.0, -0.1)),
             r_leg=_mirror(Limb((0.1, -0.95, -0.2), (0.05, -0.95, -0.3))), spine=(10.0, 0.0, -15.0), neck=(10.0, 0.0, 10.0)),
    PoseSpec("throw", l_arm=Limb((0.2, 0.2, 1.0), (0.1, 0.0, 1.0)), r_arm=Limb((-0.7, 0.5, -0.5), (0.0, 1.0, -0.2)),
             l_leg=Limb((0.1, -0.85, 0.45), (0.05, -1.0, 0.0)), r_leg=_mirror(Limb((0.05, -0.9, -0.4), (0.05, -0.8, -0.6))),
             spine=(-5.0, 0.0, -30.0)),
    PoseSpec("arabesque", l_arm=Limb((1.0, 0.2, 0.2), (1.0, 0.25, 0.3)), r_leg=_mirror(Limb((0.05, -0.35, -0.95), (0.05, -0.3, -0.95))),
             l_leg=Limb((0.03, -1.0, 0.05), (0.03, -1.0, -0.03)), spine=(25.0, 0.0, 0.0), root=(20.0, 0.0, 0.0), foot_pitch=(0.0, 40.0)),
    PoseSpec("knee_up", l_arm=Limb((0.9, -0.35, 0.0), (0.9, -0.2, 0.2)), l_leg=Limb((0.05, 0.0, 1.0), (0.05, -1.0, 0.0)),
             r_leg=_mirror(Limb((0.03, -1.0, 0.0), (0.03, -1.0, -0.03)))),
    PoseSpec("pick_up", l_arm=Limb((0.1, -0.25, 1.0), (0.05, -0.2, 1.0)), l_leg=Limb((0.1, -0.55, 0.85), (0.05, -0.9, -0.45)),
             spine=(35.0, 0.0, 0.0), root=(35.0, 0.0, 0.0), neck=(-15.0, 0.0, 0.0)),
    PoseSpec("kneel", l_arm=Limb((0.2, -0.95, 0.3), (0.0, -0.4, 1.0)), l_leg=Limb((0.05, -0.05, 1.0), (0.04, -1.0, 0.0)),
             r_leg=_mirror(Limb((0.05, -1.0, 0.05), (0.05, 0.0, -1.0))), foot_pitch=(0.0, 60.0)),
    PoseSpec("dance", l_arm=Limb((0.6, 0.8, 0.2), (-0.1, 1.0, 0.3)), r_arm=Limb((-0.8, -0.4, 0.3), (-0.5, -0.2, 0.85)),
             l_leg=Limb((0.3, -0.95, 0.1), (0.25, -0.97, 0.0)), r_leg=_mirror(Limb((0.0, -0.9, 0.35), (0.0, -0.9, -0.4))),
             spine=(0.0, 12.0, 10.0), neck=(0.0, -10.0, 0.0), foot_pitch=(0.0, 35.0)),
    PoseSpec("look_at_phone", l_arm=Limb((0.15, -0.95, 0.2), (-0.3, 0.15, 1.0)), neck=(35.0, 0.0, 0.0), spine=(8.0, 0.0, 0.0)),
    PoseSpec("warrior", l_arm=Limb((1.0, 0.0, 0.0), (1.0, 0.02, 0.05)), l_leg=Limb((0.7, -0.5, 0.1), (0.05, -1.0, 0.0)),
             r_leg=_mirror(Limb((0.5, -0.85, 0.0), (0.5, -0.86, -0.02))), neck=(0.0, 0.0, 60.0)),
    PoseSpec("hands_behind_back", l_arm=Limb((0.2, -0.9, -0.4), (-0.7, -0.3, -0.45))),
    PoseSpec("lean_back", l_arm=Limb((0.3, -0.9, -0.3), (0.2, -1.0, -0.1)), spine=(-20.0, 0.0, 0.0), neck=(-15.0, 0.0, 0.0)),
    PoseSpec("clap", l_arm=Limb((0.35, -0.55, 0.75), (-0.55, 0.15, 0.85))),
    PoseSpec("point", r_arm=Limb((-0.2, 0.3, 1.0), (-0.2, 0.3, 1.0)), neck=(0.0, 0.0, -20.0), spine=(0.0, 0.0, -10.0)),
    PoseSpec("stretch_up", l_arm=Limb((0.15, 1.0, 0.1), (-0.45, 0.9, 0.1)), collar_raise=12.0, foot_pitch=(25.0, 25.0)),
    PoseSpec("deep_crouch", l_arm=Limb((0.25, -0.6, 0.75), (0.0, -0.75, 0.6)), l_leg=Limb((0.35, 0.05, 0.95), (0.15, -0.8, -0.6)),
             spine=(35.0, 0.0, 0.0), root=(25.0, 0.0, 0.0)),
    PoseSpec("wide_stance", l_arm=Limb((0.4, -0.9, 0.2), (0.25, -0.9, 0.4)), l_leg=Limb((0.5, -0.86, 0.0), (0.45, -0.9, -0.02))),
)


def _unit(v: Sequence[float]) -> np.ndarray:
    a = np.asarray(v, np.float64)
    return a / np.linalg.norm(a)


def _axis_rot(axis: str, deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _bend(fwd: float, left: float, twist: float) -> np.ndarray:
    # Forward bend tips +y towards +z (x rotation), a bend to the body's left tips +y towards +x
    # (negative z rotation), a twist to the left turns +z towards +x (y rotation).
    return _axis_rot("y", twist) @ _axis_rot("x", fwd) @ _axis_rot("z", -left)


def _frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    a = _unit(primary)
    b = secondary - a * float(secondary @ a)
    b = b / np.linalg.norm(b)
    return np.stack([a, b, np.cross(a, b)], axis=1)


def _two_bone(rest_dir: np.ndarray, rest_flex: np.ndarray, limb: Limb) -> tuple[np.ndarray, float]:
    """Rotation of the upper bone (parent frame) that points it along limb.upper with the joint's
    flexion direction (rest_flex: where the lower bone goes when the joint bends, in the rest pose)
    towards limb.lower; and the flexion angle (degrees)."""
    u, f = _unit(limb.upper), _unit(limb.lower)
    angle = math.degrees(math.acos(float(np.clip(u @ f, -1.0, 1.0))))
    if angle < 2.0:  # straight limb: the smallest rotation onto u, whatever the twist
        r0 = _unit(rest_dir)
        axis = np.cross(r0, u)
        s, c = float(np.linalg.norm(axis)), float(r0 @ u)
        if s < 1e-8:
            return np.eye(3), angle
        k = axis / s
        kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        return np.eye(3) + s * kx + (1 - c) * kx @ kx, angle
    return _frame(u, f) @ _frame(rest_dir, rest_flex).T, angle


def pose_rotations(spec: PoseSpec, rest_joints: np.ndarray, rng: np.random.Generator | None = None,
                   jitter_deg: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """(root tilt (3, 3), body_pose (23, 3, 3)) for a PoseSpec on a rest skeleton (24, 3)."""
    rot = np.tile(np.eye(3), (24, 1, 1))
    root = _bend(*spec.root)
    sf, sl, st = spec.spine
    for j, share in ((3, 0.4), (6, 0.3), (9, 0.3)):
        rot[j] = _bend(sf * share, sl * share, st * share)
    nf, nl, nt = spec.neck
    rot[12], rot[15] = _bend(nf * 0.5, nl * 0.5, nt * 0.5), _bend(nf * 0.5, nl * 0.5, nt * 0.5)
    rot[13] = _axis_rot("z", spec.collar_raise)
    rot[14] = _axis_rot("z", -spec.collar_raise)
    r_arm = spec.r_arm or _mirror(spec.l_arm)
    r_leg = spec.r_leg or _mirror(spec.l_leg)
    j = rest_joints
    for side, (sho, elb, wri, col), limb, sign in (("l", (16, 18, 20, 13), spec.l_arm, -1.0), ("r", (17, 19, 21, 14), r_arm, 1.0)):
        upper, angle = _two_bone(j[elb] - j[sho], np.array([0.0, 0.0, 1.0]), limb)  # elbows bend forward
        rot[sho] = rot[col].T @ upper  # aim given in the upper-torso frame, the collar sits between
        rot[elb] = _axis_rot("y", sign * angle)
    for (hip, knee, ankle), limb, pitch in (((1, 4, 7), spec.l_leg, spec.foot_pitch[0]), ((2, 5, 8), r_leg, spec.foot_pitch[1])):
        in_pelvis = Limb(tuple(root.T @ _unit(limb.upper)), tuple(root.T @ _unit(limb.lower)))  # legs are given upright
        upper, angle = _two_bone(j[knee] - j[hip], np.array([0.0, 0.0, -1.0]), in_pelvis)  # knees bend backward
        rot[hip] = upper
        rot[knee] = _axis_rot("x", angle)
        # Feet level with the ground (plus the given pitch), whatever the leg and the root tilt do.
        rot[ankle] = (root @ rot[hip] @ rot[knee]).T @ _axis_rot("x", pitch)
    if rng is not None and jitter_deg > 0:
        for k in range(1, 24):
            w = rng.normal(0.0, math.radians(jitter_deg), 3)
            rot[k] = rot[k] @ _rotvec_to_matrix(w)
    return root, rot[1:]


def _rotvec_to_matrix(w: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(w))
    if theta < 1e-12:
        return np.eye(3)
    k = w / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(theta) * kx + (1 - math.cos(theta)) * kx @ kx


# --- scenes -------------------------------------------------------------------------------------

# View name -> (the body's yaw away from the camera, degrees; jitter sd). Three-quarter views sit
# inside the front/back classes (< 45 degrees from them), sides at 90.
VIEWS: dict[str, tuple[float, float]] = {
    "front": (0.0, 12.0),
    "three_quarter": (35.0, 6.0),
    "side": (90.0, 12.0),
    "back": (180.0, 12.0),
    "three_quarter_back": (145.0, 6.0),
}
DEFAULT_VIEWS = ("front", "three_quarter", "side", "back")
IMAGE_SIZES: tuple[tuple[int, int], ...] = ((512, 512), (640, 480), (480, 640))
VFOVS_DEG = (40.0, 55.0, 70.0)
PROCEDURAL = ("gradient", "noise", "shapes", "stripes", "room")
# Limb landmarks: well defined on both the body model and MediaPipe, used for matching and swaps.
LIMBS = tuple(MP33_INDEX[f"{s}_{p}"] for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle") for s in ("left", "right"))
PAIRS = tuple((MP33_INDEX[f"left_{p}"], MP33_INDEX[f"right_{p}"]) for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"))
FLIP = np.array(MP33_FLIP_INDEX)
L_HIP, R_HIP = MP33_INDEX["left_hip"], MP33_INDEX["right_hip"]
OUTLIER = 0.10  # an error beyond this share of the box height is an outlier
MATCH = 0.15  # a detection whose median limb error exceeds this share of the box is another object
FIGURE_POSES = frozenset({"walk_90", "arms_overhead", "squat", "lunge", "sit", "crossed_arms", "throw", "dance",
                          "pick_up", "boxing_guard", "kneel", "front_kick", "golf_twist", "phone_call"})


@dataclass
class Scene:
    index: int
    pose_name: str
    view_name: str
    betas: np.ndarray  # (10,)
    orient: np.ndarray  # (3, 3) global orientation, camera frame
    body_pose: np.ndarray  # (23, 3, 3)
    focal: float  # px
    image_wh: tuple[int, int]
    box_fraction: float  # body height / image height
    offset: tuple[float, float]  # body centre from the image centre, fractions of width/height
    background: str  # "grey", a procedural kind, or "photo"
    seed: int


def _rot(axis: str, deg: float) -> np.ndarray:
    return _axis_rot(axis, deg)


def make_scenes(num_poses: int, views: Sequence[str], rest_joints, rng: np.random.Generator,
                photo_fraction: float = 0.3) -> list[Scene]:
    """num_poses poses (cycling through the handmade library with fresh jitter and shapes), each
    seen from every view in `views`."""
    to_cam = np.diag([1.0, -1.0, -1.0])
    scenes: list[Scene] = []
    for i in range(num_poses):
        spec = HANDMADE_POSES[i % len(HANDMADE_POSES)]
        betas = rng.uniform(-1.5, 1.5, 10)
        root, body_pose = pose_rotations(spec, rest_joints(betas), rng)
        for view in views:
            base, jitter = VIEWS[view]
            yaw = base + rng.normal(0.0, jitter)
            if 0.0 < base < 180.0 and rng.random() < 0.5:
                yaw = -yaw  # either side of the body
            tilt = _rot("x", rng.normal(0.0, 5.0)) @ _rot("z", rng.normal(0.0, 3.0))
            pitch = _rot("x", rng.normal(0.0, 6.0))  # camera a little above or below
            orient = pitch @ to_cam @ tilt @ _rot("y", yaw) @ root
            wh = IMAGE_SIZES[int(rng.integers(len(IMAGE_SIZES)))]
            vfov = VFOVS_DEG[int(rng.integers(len(VFOVS_DEG)))] + rng.normal(0.0, 3.0)
            u = rng.random()
            background = "grey" if u < 0.25 else ("photo" if u < 0.25 + photo_fraction else PROCEDURAL[int(rng.integers(len(PROCEDURAL)))])
            scenes.append(Scene(
                index=len(scenes), pose_name=spec.name, view_name=view, betas=betas, orient=orient, body_pose=body_pose,
                focal=0.5 * wh[1] / math.tan(math.radians(vfov) / 2), image_wh=wh,
                box_fraction=float(rng.uniform(0.45, 0.85)),
                offset=(float(rng.uniform(-0.2, 0.2)), float(rng.uniform(-0.08, 0.08))),
                background=background, seed=int(rng.integers(2**31)),
            ))
    return scenes


def place(vertices: np.ndarray, scene: Scene) -> np.ndarray:
    """Translation (3,) that puts the body at the scene's size and place, wholly inside the image
    (truncation is a different effect from the ones calibrated here)."""
    w, h = scene.image_wh
    f = scene.focal
    lo, hi = vertices.min(0), vertices.max(0)
    centre = (lo + hi) / 2
    depth = f * (hi[1] - lo[1]) / (scene.box_fraction * h) + (hi[2] - lo[2]) / 2
    ox, oy = scene.offset
    for _ in range(30):
        uv = np.array([w / 2 + ox * w, h / 2 + oy * h])
        t = np.array([(uv[0] - w / 2) / f * depth, (uv[1] - h / 2) / f * depth, depth]) - centre
        v = vertices + t
        px = v[:, :2] / v[:, 2:3] * f + np.array([w / 2, h / 2])
        if (px.min(0) > [0.02 * w, 0.02 * h]).all() and (px.max(0) < [0.98 * w, 0.98 * h]).all():
            return t
        ox, oy = ox * 0.6, oy * 0.6
        depth *= 1.06
    return t


class PhotoBackgrounds:
    """Crops of the shared test photos without people in them. The photos are crowded: a scan of each
    whole photo (several people, low thresholds, generous margins) rules out most crops cheaply, and
    every crop used is checked once more by the detector on its own, since a person missed in the
    whole photo can fill a crop."""

    def __init__(self, folder: Path | None) -> None:
        self.photos: list[tuple[np.ndarray, list[tuple[float, float, float, float]]]] = []
        self._folder = folder
        self._scanned = False
        self._checker = None
        self.rejected = 0

    def close(self) -> None:
        if self._checker is not None:
            self._checker.close()
            self._checker = None

    def _scan(self) -> None:
        from genhmr_app.detection.detector import PoseDetector

        self._scanned = True
        if self._folder is None or not self._folder.is_dir():
            return
        files = sorted(p for p in self._folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        with PoseDetector(mode="image", num_poses=10, min_detection_confidence=0.2, min_presence_confidence=0.3,
                          retry_budget_ms=800.0) as det:
            for path in files:
                bgr = cv2.imread(str(path))
                if bgr is None:
                    continue
                if max(bgr.shape[:2]) > 1600:  # the 4K photo: smaller is plenty for a background
                    s = 1600 / max(bgr.shape[:2])
                    bgr = cv2.resize(bgr, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
                rgb = np.ascontiguousarray(bgr[..., ::-1])
                boxes = []
                for p in det.detect(rgb).people:
                    x0, y0, x1, y1 = p.bbox
                    mx, my = 0.35 * (x1 - x0) + 20, 0.25 * (y1 - y0) + 20
                    boxes.append((x0 - mx, y0 - my, x1 + mx, y1 + my))
                self.photos.append((rgb, boxes))
        self._checker = PoseDetector(mode="image", min_detection_confidence=0.3, min_presence_confidence=0.3, retry=False)
        log.info("photo backgrounds: %d photos, %d people masked", len(self.photos), sum(len(b) for _, b in self.photos))

    def sample(self, wh: tuple[int, int], rng: np.random.Generator) -> np.ndarray | None:
        if not self._scanned:
            self._scan()
        if not self.photos:
            return None
        for _ in range(8):
            rgb, boxes = self.photos[int(rng.integers(len(self.photos)))]
            img = rnd.photo_background(rgb, wh, rng, boxes)
            if img is None:
                continue
            if self._checker is not None and self._checker.detect(img).people:
                self.rejected += 1
                continue
            return img
        return None


# --- truth --------------------------------------------------------------------------------------

# Per MediaPipe landmark: the SMPL bones whose surface belongs to it (a hit on them in front of the
# landmark does not hide it) and how deep under its own surface the landmark can lie (m). Joints
# sit inside limbs; face, hand and foot points sit on or near the skin.
_FACE = (frozenset({12, 15}), 0.05)
_OWNERS: tuple[tuple[frozenset[int], float], ...] = (
    *([_FACE] * 11),
    (frozenset({9, 12, 13, 16}), 0.15), (frozenset({9, 12, 14, 17}), 0.15),  # shoulders
    (frozenset({16, 18}), 0.12), (frozenset({17, 19}), 0.12),  # elbows
    (frozenset({18, 20, 22}), 0.10), (frozenset({19, 21, 23}), 0.10),  # wrists
    *([(frozenset({18, 20, 22}), 0.08), (frozenset({19, 21, 23}), 0.08)] * 3),  # pinky, index, thumb
    (frozenset({0, 1, 3}), 0.16), (frozenset({0, 2, 3}), 0.16),  # hips
    (frozenset({1, 4}), 0.12), (frozenset({2, 5}), 0.12),  # knees
    (frozenset({4, 7, 10}), 0.10), (frozenset({5, 8, 11}), 0.10),  # ankles
    *([(frozenset({4, 7, 10}), 0.08), (frozenset({5, 8, 11}), 0.08)] * 2),  # heels, toes
)  # fmt: skip


def depth_occlusion(points: np.ndarray, px: np.ndarray, depth: np.ndarray, vertices: np.ndarray, bone: np.ndarray,
                    focal: float) -> np.ndarray:
    """(33,) True where the rendered surface in front of a landmark belongs to another body part,
    or lies further in front of it than the landmark can be deep under its own skin."""
    h, w = depth.shape
    occ = np.zeros(len(points), bool)
    for k in range(len(points)):
        iu, iv = int(math.floor(px[k, 0])), int(math.floor(px[k, 1]))
        if not (0 <= iu < w and 0 <= iv < h):
            continue
        z = float(depth[iv, iu])
        if not math.isfinite(z) or z >= points[k, 2] - 0.01:
            continue  # nothing drawn there, or the landmark is on the visible surface
        hit = np.array([(px[k, 0] - w / 2) / focal * z, (px[k, 1] - h / 2) / focal * z, z])
        label = int(bone[np.argmin(((vertices - hit) ** 2).sum(1))])
        owners, radius = _OWNERS[k]
        occ[k] = label not in owners or z < points[k, 2] - radius
    return occ


# A candidate for the synthesizer (sparse keypoints only, no mesh): limbs, torso and head as capsules
# around the 33 keypoints, radii for a 1.6-1.7 m body scaled by the torso length (which, unlike the
# keypoints' vertical extent, does not shrink when the person squats or bends). Reported beside the
# current rule so both can be judged against the z-buffer truth.
TORSO_LENGTH_M = 0.46  # shoulder to hip, embedded body with betas 0
_CAPSULES: tuple[tuple[int, int, float], ...] = (
    (11, 13, 0.055), (13, 15, 0.045), (12, 14, 0.055), (14, 16, 0.045),  # arms
    (23, 25, 0.08), (25, 27, 0.055), (24, 26, 0.08), (26, 28, 0.055),  # legs
    (-1, -2, 0.11),  # torso: mid-shoulder to mid-hip
    (11, 23, 0.07), (12, 24, 0.07),  # torso flanks
    (-3, -3, 0.10),  # head: a sphere around the ears' midpoint
)  # fmt: skip
_OWN_CAPSULES: dict[int, tuple[int, ...]] = {
    11: (0, 8, 9), 12: (2, 8, 10), 13: (0, 1), 14: (2, 3), 15: (1,), 16: (3,),
    17: (1,), 19: (1,), 21: (1,), 18: (3,), 20: (3,), 22: (3,),
    23: (4, 8, 9), 24: (6, 8, 10), 25: (4, 5), 26: (6, 7), 27: (5,), 28: (7,), 29: (5,), 30: (7,), 31: (5,), 32: (7,),
    **{k: (11,) for k in range(11)},
}  # fmt: skip


_OWN_MASK = torch.zeros(33, len(_CAPSULES), dtype=torch.bool)
for _k, _own in _OWN_CAPSULES.items():
    _OWN_MASK[_k, list(_own)] = True


def _segment_distance(p0: torch.Tensor, p1: torch.Tensor, q0: torch.Tensor, q1: torch.Tensor) -> torch.Tensor:
    """Closest distance between segments p0-p1 and q0-q1 (broadcasting (..., 3))."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e = (d1 * d1).sum(-1), (d2 * d2).sum(-1)
    b, c, f = (d1 * d2).sum(-1), (d1 * r).sum(-1), (d2 * r).sum(-1)
    s = ((b * f - c * e) / (a * e - b * b).clamp_min(1e-12)).clamp(0.0, 1.0)
    t = ((b * s + f) / e.clamp_min(1e-12)).clamp(0.0, 1.0)
    s = ((b * t - c) / a.clamp_min(1e-12)).clamp(0.0, 1.0)
    return (p0 + d1 * s[..., None] - q0 - d2 * t[..., None]).norm(dim=-1)


def capsule_occlusion(points: torch.Tensor) -> torch.Tensor:
    """(B, 33) True where the camera ray to a landmark passes through another part's capsule, or a
    face point lies behind the head's centre (the face turned away). points (B, 33, 3) camera
    frame, metres. Batched and keypoints-only, so it can replace the synthesizer's torso rule."""
    torso = ((points[:, 11] - points[:, 23]).norm(dim=-1) + (points[:, 12] - points[:, 24]).norm(dim=-1)) / 2
    scale = (torso / TORSO_LENGTH_M)[:, None]
    ends = {-1: points[:, [11, 12]].mean(1), -2: points[:, [23, 24]].mean(1), -3: points[:, [7, 8]].mean(1)}
    a = torch.stack([ends[i] if i < 0 else points[:, i] for i, _, _ in _CAPSULES], 1)  # (B, C, 3)
    b = torch.stack([ends[j] if j < 0 else points[:, j] for _, j, _ in _CAPSULES], 1)
    radius = torch.tensor([r for _, _, r in _CAPSULES], dtype=points.dtype)[None] * scale  # (B, C)
    # The ray from the camera stops 3 cm short of the landmark, which must not hide itself.
    shorten = (1.0 - 0.03 * scale / points.norm(dim=-1).clamp_min(1e-6)).clamp_min(0.0)
    end = points * shorten[..., None]
    d = _segment_distance(torch.zeros_like(end)[:, :, None], end[:, :, None], a[:, None], b[:, None])  # (B, 33, C)
    occ = ((d < radius[:, None]) & ~_OWN_MASK[None]).any(-1)
    head = ends[-3]
    ray = head / head.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    occ[:, :11] |= ((points[:, :11] - head[:, None]) * ray[:, None]).sum(-1) > 0.02 * scale
    return occ


# --- one rendered scene, detected ---------------------------------------------------------------


@dataclass
class Observation:
    scene: Scene
    truth_cam: np.ndarray  # (33, 3) body keypoints, camera frame, metres
    truth_px: np.ndarray  # (33, 2)
    extent: float  # vertical extent of the keypoints, m (the synthesizer's body height)
    stature: float  # rest-pose height of this shape, m
    box_h: float  # px, vertical extent of the projected keypoints
    view: int  # VIEW_FRONT / VIEW_SIDE / VIEW_BACK, from the ray to the body
    view_yaw_deg: float
    occluded_depth: np.ndarray  # (33,) bool, from the z-buffer
    occluded_rule: np.ndarray  # (33,) bool, the synthesizer's rule (torso quad; face in back views)
    occluded_capsule: np.ndarray  # (33,) bool, the capsule rule proposed for the synthesizer
    render_ms: float
    detect_ms: float
    found: bool = False
    matched: bool = False
    swapped: bool = False  # whole-body left/right swap (undone in det_px etc.)
    pair_swaps: np.ndarray = field(default_factory=lambda: np.zeros(len(PAIRS), bool))
    pair_decidable: np.ndarray = field(default_factory=lambda: np.zeros(len(PAIRS), bool))
    det_px: np.ndarray | None = None  # (33, 2)
    visibility: np.ndarray | None = None  # (33,)
    presence: np.ndarray | None = None
    world: np.ndarray | None = None  # (33, 3)
    image: np.ndarray | None = None  # kept for the figure only


def _pair_swaps(det: np.ndarray, truth: np.ndarray, box_h: float) -> tuple[np.ndarray, np.ndarray]:
    swaps, decidable = np.zeros(len(PAIRS), bool), np.zeros(len(PAIRS), bool)
    for i, (a, b) in enumerate(PAIRS):
        if np.linalg.norm(truth[a] - truth[b]) < 0.04 * box_h:
            continue  # the two sides overlap in the image: a swap would not be visible
        decidable[i] = True
        same = np.linalg.norm(det[a] - truth[a]) + np.linalg.norm(det[b] - truth[b])
        cross = np.linalg.norm(det[a] - truth[b]) + np.linalg.norm(det[b] - truth[a])
        swaps[i] = cross < 0.6 * same and same - cross > 0.03 * box_h
    return swaps, decidable


def score_detection(obs: Observation, det_px: np.ndarray, vis: np.ndarray, pres: np.ndarray, world: np.ndarray) -> None:
    """Fill in the detection: undo a whole-body left/right swap, then accept it as this person when
    its median limb error is below MATCH (else it locked onto something else)."""
    obs.found = True
    swaps, decidable = _pair_swaps(det_px, obs.truth_px, obs.box_h)
    obs.pair_swaps, obs.pair_decidable = swaps, decidable
    obs.swapped = decidable.sum() >= 3 and swaps.sum() >= 0.6 * decidable.sum()
    if obs.swapped:
        det_px, vis, pres, world = det_px[FLIP], vis[FLIP], pres[FLIP], world[FLIP]
        obs.pair_swaps = decidable & ~swaps  # pairs still crossed after undoing the whole-body swap
    err = np.linalg.norm(det_px - obs.truth_px, axis=1)[list(LIMBS)] / obs.box_h
    obs.matched = bool(np.median(err) < MATCH)
    obs.det_px, obs.visibility, obs.presence, obs.world = det_px, vis, pres, world


class SceneRunner:
    """Poses, renders and detects scenes with one body model, renderer set and detector."""

    def __init__(self, photo_dir: Path | None, keep_images: int = 3) -> None:
        from genhmr_app.body.model import load_body_model

        self.body = load_body_model()
        self.regions = rnd.body_regions(self.body)
        self.photos = PhotoBackgrounds(photo_dir)
        self._renderers: dict[tuple[int, int], rnd.PersonRenderer] = {}
        self._keep = keep_images
        self._kept: dict[int, int] = {}
        self._kept_poses: set[str] = set()

    def rest_joints(self, betas: np.ndarray) -> np.ndarray:
        return self.body.rest_joints(torch.as_tensor(betas, dtype=torch.float32)[None])[0].numpy()

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
        self.photos.close()

    def _renderer(self, wh: tuple[int, int]) -> rnd.PersonRenderer:
        if wh not in self._renderers:
            self._renderers[wh] = rnd.PersonRenderer(self.body.faces, wh)
        return self._renderers[wh]

    def pose(self, scene: Scene) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Camera-frame vertices, MediaPipe-33 keypoints, keypoint extent and stature."""
        betas = torch.as_tensor(scene.betas, dtype=torch.float32)[None]
        with torch.no_grad():
            out = self.body(torch.as_tensor(scene.orient, dtype=torch.float32)[None],
                            torch.as_tensor(scene.body_pose, dtype=torch.float32)[None], betas)
            rest = self.body.rest_vertices(betas)[0]
        v, kp = out.vertices[0].numpy(), out.keypoints_mediapipe33[0].numpy()
        t = place(v, scene)
        stature = float(rest[:, 1].max() - rest[:, 1].min())
        return v + t, kp + t, float(np.ptp(kp[:, 1])), stature

    def background(self, scene: Scene, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        if scene.background == "photo":
            img = self.photos.sample(scene.image_wh, rng)
            if img is not None:
                return img, "photo"
            kind = PROCEDURAL[int(rng.integers(len(PROCEDURAL)))]
            return rnd.make_background(kind, scene.image_wh, rng), kind
        return rnd.make_background(scene.background, scene.image_wh, rng), scene.background

    def run(self, scene: Scene, detector) -> Observation:
        rng = np.random.default_rng(scene.seed)
        vertices, kp, extent, stature = self.pose(scene)
        w, h = scene.image_wh
        bg, scene.background = self.background(scene, rng)
        outfit = rnd.random_outfit(rng)
        res = self._renderer(scene.image_wh).render(vertices, scene.focal, self.regions.colours(outfit), bg,
                                                    rnd.random_lighting(rng))
        image = rnd.degrade(res.image, rng)
        f = torch.tensor([scene.focal], dtype=torch.float32)
        whs = torch.tensor([[w, h]], dtype=torch.float32)
        px = project(torch.as_tensor(kp, dtype=torch.float32)[None], f, whs)[0].numpy().astype(np.float64)
        orient_t = torch.as_tensor(scene.orient, dtype=torch.float32)[None]
        kp_t = torch.as_tensor(kp, dtype=torch.float32)[None]
        rule = _torso_occlusion(kp_t, torch.as_tensor(px, dtype=torch.float32)[None])[0].numpy()
        view = int(view_class(orient_t, kp_t.mean(1))[0])
        if view == VIEW_BACK:
            rule[:11] = True  # the synthesizer also hides the face in back views
        obs = Observation(
            scene=scene, truth_cam=kp.astype(np.float64), truth_px=px, extent=extent, stature=stature,
            box_h=float(np.ptp(px[:, 1])), view=view,
            view_yaw_deg=math.degrees(float(viewing_yaw(orient_t, kp_t.mean(1))[0])),
            occluded_depth=depth_occlusion(kp, px, res.depth, vertices, self.regions.bone, scene.focal),
            occluded_rule=rule, occluded_capsule=capsule_occlusion(kp_t)[0].numpy(), render_ms=res.render_ms, detect_ms=0.0,
        )
        t0 = time.perf_counter()
        result = detector.detect(image)
        obs.detect_ms = (time.perf_counter() - t0) * 1000.0
        if result.people:
            p = result.people[0]
            score_detection(obs, p.landmarks_px.astype(np.float64), p.visibility.astype(np.float64),
                            p.presence.astype(np.float64), p.world_landmarks.astype(np.float64))
        # The figure: a few good detections per view in varied poses, plus the first swap and the first miss.
        key = (-2 if obs.swapped else view) if obs.matched else -1
        varied = key < 0 or (scene.pose_name in FIGURE_POSES and scene.pose_name not in self._kept_poses)
        if varied and self._kept.get(key, 0) < (self._keep if key >= 0 else 1):
            self._kept[key] = self._kept.get(key, 0) + 1
            self._kept_poses.add(scene.pose_name)
            obs.image = image
        return obs


# --- statistics ---------------------------------------------------------------------------------

MAD_TO_SIGMA = 1.0 / 0.6745  # median |x| of a zero-mean Gaussian is 0.6745 sigma


def _robust_sigma(components: np.ndarray) -> float:
    c = np.abs(np.asarray(components, np.float64).ravel())
    return float(np.median(c) * MAD_TO_SIGMA) if c.size else float("nan")


@dataclass
class ErrorData:
    """Matched detections stacked: normalised 2D errors and per-landmark flags."""

    err: np.ndarray  # (N, 33, 2) (detected - truth) / box height, truth with MediaPipe-like hips
    view: np.ndarray  # (N,)
    occ_rule: np.ndarray  # (N, 33)
    occ_depth: np.ndarray  # (N, 33)
    occ_capsule: np.ndarray  # (N, 33)
    visibility: np.ndarray  # (N, 33)
    up: np.ndarray  # (N, 2) unit image direction of the body's up axis at the hips

    @property
    def radial(self) -> np.ndarray:
        return np.linalg.norm(self.err, axis=-1)


def adjusted_truth_px(observations: Sequence[Observation], nm: NoiseModel) -> list[np.ndarray]:
    """Truth projections with the hips moved as `nm` says MediaPipe places them."""
    out = []
    for o in observations:
        pts = torch.as_tensor(o.truth_cam, dtype=torch.float32)[None]
        adj = mediapipe_like_hips(pts, torch.as_tensor(o.scene.orient, dtype=torch.float32)[None],
                                  torch.tensor([o.extent]), nm)
        wh = torch.tensor([o.scene.image_wh], dtype=torch.float32)
        out.append(project(adj, torch.tensor([o.scene.focal]), wh)[0].numpy().astype(np.float64))
    return out


def error_data(observations: Sequence[Observation], nm: NoiseModel) -> ErrorData:
    obs = [o for o in observations if o.matched]
    truth = adjusted_truth_px(obs, nm)
    return ErrorData(
        err=np.stack([(o.det_px - t) / o.box_h for o, t in zip(obs, truth, strict=True)]),
        view=np.array([o.view for o in obs]),
        occ_rule=np.stack([o.occluded_rule for o in obs]),
        occ_depth=np.stack([o.occluded_depth for o in obs]),
        occ_capsule=np.stack([o.occluded_capsule for o in obs]),
        visibility=np.stack([o.visibility for o in obs]),
        up=np.stack([_image_up(o) for o in obs]),
    )


def _image_up(o: Observation) -> np.ndarray:
    mid = o.truth_cam[[L_HIP, R_HIP]].mean(0)
    top = mid + o.scene.orient[:, 1] * 0.1
    d = top[:2] / top[2] - mid[:2] / mid[2]
    return d / max(float(np.linalg.norm(d)), 1e-9)


@dataclass
class HipFit:
    offset_up: float  # fraction of the keypoint extent, + = MediaPipe's hips higher
    width_factor: float
    n_offset: int
    n_width: int


def fit_hips(observations: Sequence[Observation]) -> HipFit:
    """MediaPipe's mid-hip shift along the body's up axis (in units of the keypoint extent, as
    mediapipe_like_hips applies it) and its hip width over the body's, from the 2D detections."""
    offsets, widths = [], []
    for o in observations:
        if not o.matched:
            continue
        mid = o.truth_cam[[L_HIP, R_HIP]].mean(0)
        up = o.scene.orient[:, 1]
        f, (w, h) = o.scene.focal, o.scene.image_wh

        def proj(p: np.ndarray, f: float = f, w: int = w, h: int = h) -> np.ndarray:
            return p[:2] / p[2] * f + np.array([w / 2, h / 2])

        jac = (proj(mid + up * o.extent * 1e-3) - proj(mid)) / 1e-3  # px per unit of offset
        d = o.det_px[[L_HIP, R_HIP]].mean(0) - o.truth_px[[L_HIP, R_HIP]].mean(0)
        offsets.append(float(d @ jac / (jac @ jac)))
        true_w = np.linalg.norm(o.truth_px[L_HIP] - o.truth_px[R_HIP])
        if true_w > 0.08 * o.box_h:  # side views foreshorten the hips to nothing
            widths.append(float(np.linalg.norm(o.det_px[L_HIP] - o.det_px[R_HIP]) / true_w))
    return HipFit(float(np.median(offsets)), float(np.median(widths)), len(offsets), len(widths))


@dataclass
class SigmaFit:
    sigma: np.ndarray  # (33,) fraction of box height, front view, visible
    side_factor: float
    back_factor: float
    occluded_factor: float
    outlier_rate: float
    outlier_sigma: float
    observed_outlier_rate: float
    expected_gaussian_rate: float


def _effective_sigma(sigma: np.ndarray, data: ErrorData, occ: np.ndarray, side: float, back: float, occf: float) -> np.ndarray:
    vf = np.where(data.view == VIEW_SIDE, side, np.where(data.view == VIEW_BACK, back, 1.0))
    return sigma[None] * vf[:, None] * np.where(occ, occf, 1.0)


def _median_or(x: np.ndarray, default: float) -> float:
    """Median, or `default` when a view or occlusion class has no samples in this run."""
    return float(np.median(x)) if x.size else default


def fit_sigmas(data: ErrorData, occ: np.ndarray) -> SigmaFit:
    """Per-landmark base sigma (front view, not occluded) with multiplicative view and occlusion
    factors, fitted robustly by alternating medians; `occ` (N, 33) is the occlusion the factor will
    be applied to."""
    a = np.abs(data.err)  # (N, 33, 2)
    side = back = occf = 1.0
    sigma = np.array([_robust_sigma(a[:, k]) for k in range(33)])
    vis = ~occ
    for _ in range(4):
        r = a / sigma[None, :, None]  # errors in units of each landmark's sigma, (N, 33, 2)
        front = vis & (data.view == VIEW_FRONT)[:, None]
        base = _median_or(r[front], 1.0)
        side = _median_or(r[vis & (data.view == VIEW_SIDE)[:, None]], base) / base
        back = _median_or(r[vis & (data.view == VIEW_BACK)[:, None]], base) / base
        vf = np.where(data.view == VIEW_SIDE, side, np.where(data.view == VIEW_BACK, back, 1.0))[:, None, None]
        rv = r / vf
        occf = _median_or(rv[occ], 1.0) / _median_or(rv[vis], 1.0)
        scale = _effective_sigma(np.ones(33), data, occ, side, back, occf)
        sigma = np.array([_robust_sigma(a[:, k] / scale[:, k, None]) for k in range(33)])
        for i, j in MP33_FLIP_PAIRS:  # the two sides behave alike: pool them for a steadier estimate
            sigma[i] = sigma[j] = 0.5 * (sigma[i] + sigma[j])
    eff = _effective_sigma(sigma, data, occ, side, back, occf)
    radial = data.radial
    observed = float((radial > OUTLIER).mean())
    expected = float(np.exp(-(OUTLIER**2) / (2 * eff**2)).mean())  # Rayleigh tail of the Gaussian part
    tail = radial[radial > OUTLIER]
    # For a 2D Gaussian, E[r^2 | r > c] = c^2 + 2 s^2 (r^2 is exponential, memoryless). Outliers are
    # gross errors: a spread below the threshold itself would be a second "normal" noise level and
    # makes the rate ill-determined (a few errors just past 10% then need a huge rate).
    outlier_sigma = float(math.sqrt(max(0.0, (np.mean(tail**2) - OUTLIER**2) / 2))) if tail.size else 0.15
    outlier_sigma = max(outlier_sigma, OUTLIER)
    beyond = math.exp(-(OUTLIER**2) / (2 * outlier_sigma**2))
    rate = min(0.2, max(0.0, observed - expected) / beyond)
    return SigmaFit(sigma, side, back, occf, rate, outlier_sigma, observed, expected)


@dataclass
class WorldFit:
    sigma_camera: tuple[float, float, float]  # per axis, m, world truth in camera axes
    sigma_ray: tuple[float, float, float]  # per axis, m, world truth turned so the view ray is +z
    scale_median: float
    scale_sigma: float  # robust sd of scale / median
    scale_stature_corr: float
    mean_err_mm_by_view: dict[str, float]
    limb_sigma_camera: tuple[float, float, float]
    n: int

    def ray_alignment_verdict(self) -> str:
        ratio = sum(self.sigma_ray) / sum(self.sigma_camera)
        if ratio < 0.95:
            return "better: MediaPipe's world frame follows the ray to the person"
        if ratio > 1.05:
            return "worse: MediaPipe's world frame follows the camera axes"
        return "no clear difference"


def _ray_rotation(d: np.ndarray) -> np.ndarray:
    """Rotation taking the unit ray d onto +z by the shortest arc."""
    z = np.array([0.0, 0.0, 1.0])
    d = d / np.linalg.norm(d)
    axis = np.cross(d, z)
    s, c = float(np.linalg.norm(axis)), float(d @ z)
    if s < 1e-9:
        return np.eye(3)
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def fit_world(observations: Sequence[Observation], nm: NoiseModel) -> WorldFit:
    res_cam, res_ray, res_limb, scales, statures, by_view = [], [], [], [], [], {v: [] for v in range(3)}
    limbs = list(LIMBS)
    for o in observations:
        if not o.matched or o.world is None:
            continue
        pts = torch.as_tensor(o.truth_cam, dtype=torch.float32)[None]
        adj = mediapipe_like_hips(pts, torch.as_tensor(o.scene.orient, dtype=torch.float32)[None],
                                  torch.tensor([o.extent]), nm)[0].numpy().astype(np.float64)
        mid = adj[[L_HIP, R_HIP]].mean(0)
        truth = adj - mid
        w = o.world - o.world[[L_HIP, R_HIP]].mean(0)
        s = float((w[limbs] * truth[limbs]).sum() / (truth[limbs] ** 2).sum())
        scales.append(s)
        statures.append(o.stature)
        r_cam = w - s * truth
        res_cam.append(r_cam)
        res_limb.append(r_cam[limbs])
        truth_ray = truth @ _ray_rotation(mid).T
        s_ray = float((w[limbs] * truth_ray[limbs]).sum() / (truth_ray[limbs] ** 2).sum())
        res_ray.append(w - s_ray * truth_ray)
        by_view[o.view].append(float(np.linalg.norm(r_cam[limbs], axis=1).mean() * 1000))
    rc, rr, rl = np.stack(res_cam), np.stack(res_ray), np.stack(res_limb)
    sc = np.array(scales)
    med = float(np.median(sc))
    return WorldFit(
        sigma_camera=tuple(_robust_sigma(rc[..., i]) for i in range(3)),
        sigma_ray=tuple(_robust_sigma(rr[..., i]) for i in range(3)),
        scale_median=med,
        scale_sigma=float(np.median(np.abs(sc / med - 1)) * 1.4826),
        scale_stature_corr=float(np.corrcoef(sc, statures)[0, 1]) if len(sc) > 2 else float("nan"),
        mean_err_mm_by_view={VIEW_NAMES[v]: float(np.mean(x)) if x else float("nan") for v, x in by_view.items()},
        limb_sigma_camera=tuple(_robust_sigma(rl[..., i]) for i in range(3)),
        n=len(sc),
    )


@dataclass
class VisStats:
    mean: float
    sd: float
    p10: float
    p50: float
    p90: float
    n: int


def fit_clamped_gaussian(values: np.ndarray) -> tuple[float, float]:
    """(mean, sd) of the Gaussian that, clamped to [0, 1] as the synthesizer does, best matches the
    values' quantiles. MediaPipe's visibility piles up just below 1 with a long tail towards 0, so
    the sample mean and sd would give a clamped Gaussian with too low a median."""
    from statistics import NormalDist

    v = np.asarray(values, np.float64).ravel()
    if v.size < 10:
        return float(np.mean(v)) if v.size else 0.5, float(np.std(v)) if v.size else 0.2
    q = np.linspace(0.05, 0.95, 19)
    target = np.quantile(v, q)
    z = np.array([NormalDist().inv_cdf(x) for x in q])
    mu = np.linspace(0.0, 1.6, 161)[:, None, None]
    sd = np.linspace(0.01, 1.0, 100)[None, :, None]
    loss = ((np.clip(mu + sd * z, 0.0, 1.0) - target) ** 2).sum(-1)
    i, j = np.unravel_index(np.argmin(loss), loss.shape)
    return float(mu[i, 0, 0]), float(sd[0, j, 0])


def vis_stats(values: np.ndarray) -> VisStats:
    v = np.asarray(values, np.float64).ravel()
    if not v.size:
        return VisStats(*(float("nan"),) * 5, 0)
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    return VisStats(float(v.mean()), float(v.std()), float(p10), float(p50), float(p90), int(v.size))


@dataclass
class Summary:
    """The figures compared between MediaPipe and the simulation (same scenes)."""

    median_err: float  # % of box height, all landmarks
    median_err_view: tuple[float, float, float]
    median_err_visible: float  # by the z-buffer truth
    median_err_occluded: float
    median_err_rule_visible: float  # by the synthesizer's rule
    median_err_rule_occluded: float
    median_err_limbs: float
    outlier_rate: float  # %
    swap_rate_view: tuple[float, float, float]  # % whole-body swaps
    vis_visible: float  # mean visibility, z-buffer truth
    vis_occluded: float
    n: int


def _pct_median(x: np.ndarray) -> float:
    return float(np.median(x) * 100) if x.size else float("nan")


def summarise(radial: np.ndarray, view: np.ndarray, occ_depth: np.ndarray, occ_rule: np.ndarray, swapped: np.ndarray,
              swap_view: np.ndarray, visibility: np.ndarray) -> Summary:
    limbs = list(LIMBS)
    return Summary(
        median_err=_pct_median(radial),
        median_err_view=tuple(_pct_median(radial[view == v]) for v in range(3)),
        median_err_visible=_pct_median(radial[~occ_depth]),
        median_err_occluded=_pct_median(radial[occ_depth]),
        median_err_rule_visible=_pct_median(radial[~occ_rule]),
        median_err_rule_occluded=_pct_median(radial[occ_rule]),
        median_err_limbs=_pct_median(radial[:, limbs]),
        outlier_rate=float((radial > OUTLIER).mean() * 100),
        swap_rate_view=tuple(float(swapped[swap_view == v].mean() * 100) if (swap_view == v).any() else float("nan") for v in range(3)),
        vis_visible=float(visibility[~occ_depth].mean()),
        vis_occluded=float(visibility[occ_depth].mean()) if occ_depth.any() else float("nan"),
        n=int(radial.shape[0]),
    )


def simulate_on_scenes(observations: Sequence[Observation], synth: Synthesizer, truth_nm: NoiseModel, repeats: int,
                       seed: int) -> Summary:
    """Run the Synthesizer's detector simulation on the scenes MediaPipe saw (those it matched, so
    that misses do not bias the comparison) and summarise its output the same way."""
    obs = [o for o in observations if o.matched]
    gen = torch.Generator().manual_seed(seed)
    pts = torch.as_tensor(np.stack([o.truth_cam for o in obs]), dtype=torch.float32)
    orient = torch.as_tensor(np.stack([o.scene.orient for o in obs]), dtype=torch.float32)
    extent = torch.tensor([o.extent for o in obs], dtype=torch.float32)
    focal = torch.tensor([o.scene.focal for o in obs], dtype=torch.float32)
    wh = torch.tensor([o.scene.image_wh for o in obs], dtype=torch.float32)
    truth = np.stack(adjusted_truth_px(obs, truth_nm))
    box = np.array([o.box_h for o in obs])[:, None]
    occ_d = np.stack([o.occluded_depth for o in obs])
    radial, views, occ_ds, occ_rs, swapped, vis = [], [], [], [], [], []
    for _ in range(repeats):
        sim = synth.simulate(pts, orient, extent, focal, wh, gen)
        det = sim.detected.numpy().astype(np.float64)
        sw = sim.swapped.numpy()
        det[sw] = det[sw][:, FLIP]
        v = sim.visibility.numpy().astype(np.float64)
        v[sw] = v[sw][:, FLIP]
        radial.append(np.linalg.norm(det - truth, axis=-1) / box)
        views.append(sim.view.numpy())
        occ_ds.append(occ_d)
        occ_rs.append(sim.occluded.numpy())
        swapped.append(sw)
        vis.append(v)
    view = np.concatenate(views)
    return summarise(np.concatenate(radial), view, np.concatenate(occ_ds), np.concatenate(occ_rs),
                     np.concatenate(swapped), view, np.concatenate(vis))


def mediapipe_summary(observations: Sequence[Observation], data: ErrorData) -> Summary:
    obs = [o for o in observations if o.matched]
    view = np.array([o.view for o in obs])
    return summarise(data.radial, data.view, data.occ_depth, data.occ_rule, np.array([o.swapped for o in obs]), view,
                     data.visibility)


# --- report -------------------------------------------------------------------------------------


def _f(x: float, nd: int = 2) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def _rate(num: int, den: int) -> str:
    return f"{num}/{den} ({100 * num / den:.0f}%)" if den else "–"


def draw_figure(observations: Sequence[Observation], out_path: Path, tile: int = 240, cols: int = 4) -> Path | None:
    kept = [o for o in observations if o.image is not None]
    if not kept:
        return None
    kept.sort(key=lambda o: (not o.matched, o.swapped, o.view))
    tiles = []
    for o in kept[: 3 * cols]:
        img = np.ascontiguousarray(o.image.copy())
        thick = max(1, round(img.shape[0] / 300))
        for pts, colour in ((o.truth_px, (40, 220, 60)), (o.det_px, (240, 40, 40))):
            if pts is None:
                continue
            for a, b in MP33_EDGES:
                cv2.line(img, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]), colour, thick, cv2.LINE_AA)
            for q in pts:
                cv2.circle(img, (int(q[0]), int(q[1])), thick + 1, colour, -1, cv2.LINE_AA)
        s = tile / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        dy, dx = tile - img.shape[0], tile - img.shape[1]
        img = cv2.copyMakeBorder(img, dy // 2, dy - dy // 2, dx // 2, dx - dx // 2, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        label = f"{VIEW_NAMES[o.view]}, {o.scene.pose_name}, {o.scene.background}" + ("" if o.matched else " (missed)")
        label += " (L/R swapped)" if o.swapped else ""
        cv2.rectangle(img, (0, 0), (tile, 16), (255, 255, 255), -1)
        cv2.putText(img, label, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(img)
    while len(tiles) % cols:
        tiles.append(np.full_like(tiles[0], 255))
    grid = np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_path), grid[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return out_path


@dataclass
class Calibration:
    noise: NoiseModel
    hips: HipFit
    sigmas: SigmaFit  # occlusion by the synthesizer's rule (what the model applies)
    sigmas_depth: SigmaFit  # occlusion by the z-buffer truth
    sigmas_capsule: SigmaFit  # occlusion by the proposed capsule rule
    world: WorldFit
    vis_visible: VisStats  # rule
    vis_occluded: VisStats
    vis_visible_depth: VisStats
    vis_occluded_depth: VisStats
    data: ErrorData


def _succession(events: np.ndarray) -> float:
    """(k + 1) / (n + 2): swaps are rare, and a run with none must not teach the model they never happen."""
    return (float(np.sum(events)) + 1.0) / (len(events) + 2.0)


def calibrate(observations: Sequence[Observation], source: str) -> Calibration:
    prior = NoiseModel()
    hips = fit_hips(observations)
    base = NoiseModel(hip_offset_up=hips.offset_up, hip_width_factor=hips.width_factor)
    data = error_data(observations, base)
    sig = fit_sigmas(data, data.occ_rule)
    sig_depth = fit_sigmas(data, data.occ_depth)
    sig_capsule = fit_sigmas(data, data.occ_capsule)
    world = fit_world(observations, base)
    matched = [o for o in observations if o.matched]
    swapped = np.array([o.swapped for o in matched])
    back = np.array([o.view == VIEW_BACK for o in matched])
    nm = NoiseModel(
        sigma_visible=[round(float(x), 5) for x in sig.sigma],
        occluded_factor=round(sig.occluded_factor, 3),
        # A view class missing from this run keeps the previous value rather than a made-up 1.0.
        side_view_factor=round(sig.side_factor, 3) if (data.view == VIEW_SIDE).any() else prior.side_view_factor,
        back_view_factor=round(sig.back_factor, 3) if (data.view == VIEW_BACK).any() else prior.back_view_factor,
        outlier_rate=round(sig.outlier_rate, 4),
        outlier_sigma=round(sig.outlier_sigma, 4),
        swap_rate_front=round(_succession(swapped[~back]), 4) if (~back).any() else prior.swap_rate_front,
        swap_rate_back=round(_succession(swapped[back]), 4) if back.any() else prior.swap_rate_back,
        visibility_visible=tuple(round(x, 3) for x in fit_clamped_gaussian(data.visibility[~data.occ_rule])),
        visibility_occluded=tuple(round(x, 3) for x in fit_clamped_gaussian(data.visibility[data.occ_rule])),
        hip_offset_up=round(hips.offset_up, 4),
        hip_width_factor=round(hips.width_factor, 3),
        world_sigma_m=tuple(round(float(x), 4) for x in world.sigma_camera),
        world_scale_sigma=round(world.scale_sigma, 4),
        source=source,
    )
    return Calibration(nm, hips, sig, sig_depth, sig_capsule, world,
                       vis_stats(data.visibility[~data.occ_rule]), vis_stats(data.visibility[data.occ_rule]),
                       vis_stats(data.visibility[~data.occ_depth]), vis_stats(data.visibility[data.occ_depth]), data)


def write_report(path: Path, figure: Path | None, observations: Sequence[Observation], cal: Calibration,
                 summaries: dict[str, Summary], timing: dict[str, float], command: str) -> None:
    obs = list(observations)
    nm, d = cal.noise, NoiseModel()
    lines = [
        "# Detector noise calibration (MediaPipe on rendered bodies)",
        "",
        f"Generated by `{command}` on {date.today().isoformat()} (`genhmr_app/training/calibrate_noise.py`). "
        "The fitted model is in `weights/genhmr/noise_model.json`; `Synthesizer` loads it by default.",
        "",
        "Renders: the embedded body model with random betas (uniform ±1.5), handmade poses with joint jitter, "
        "views front / three-quarter / side / back, vertical FOV 40/55/70°, the body filling 45-85% of the "
        "image height (512-640 px), clothing-like colours, random lights, grey / procedural / photo backgrounds, "
        "camera-like blur, noise and JPEG. Errors are fractions of the true keypoints' box height; MediaPipe's "
        "hips are compared with the body's hips moved by the fitted hip model. Views are classed by the "
        "ray from the camera to the body (front < 45° < side < 135° < back).",
        "",
    ]
    if figure is not None:
        lines += [f"![renders: truth green, MediaPipe red]({figure.name})", "",
                  "Truth (green) and MediaPipe (red, left/right swaps undone) on a few renders.", ""]
    # Detection.
    lines += ["## Detection", "", "| | renders | found | matched to the body | wrong object | whole-body L/R swap |", "|---|---|---|---|---|---|"]

    def det_row(label: str, sel: list[Observation]) -> str:
        n = len(sel)
        found = sum(o.found for o in sel)
        matched = sum(o.matched for o in sel)
        swaps = sum(o.swapped for o in sel if o.matched)
        return f"| {label} | {n} | {_rate(found, n)} | {_rate(matched, n)} | {found - matched} | {_rate(swaps, matched)} |"

    lines.append(det_row("all", obs))
    for v in range(3):
        lines.append(det_row(VIEW_NAMES[v], [o for o in obs if o.view == v]))
    for kind in ("grey", *PROCEDURAL, "photo"):
        sel = [o for o in obs if o.scene.background == kind]
        if sel:
            lines.append(det_row(f"background: {kind}", sel))
    pair_dec = np.stack([o.pair_decidable for o in obs if o.matched])
    pair_sw = np.stack([o.pair_swaps for o in obs if o.matched])
    lines += ["", f"Single left/right pairs still crossed after undoing whole-body swaps: "
              f"{_rate(int(pair_sw.sum()), int(pair_dec.sum()))} of the pairs far enough apart to tell "
              "(shoulders, elbows, wrists, hips, knees, ankles); these stay in the error statistics as outliers.", ""]
    # Comparison.
    lines += ["## MediaPipe vs the simulation on the same scenes", "",
              "The `Synthesizer`'s detector simulation (`Synthesizer.simulate`) run on the matched scenes "
              f"(same keypoints, orientations and cameras; {timing['repeats']:.0f} noise draws each), "
              "summarised the same way. Median radial error, % of box height.", "",
              "| | " + " | ".join(summaries) + " |", "|---" * (len(summaries) + 1) + "|"]
    rows = [
        ("median error, all landmarks", lambda s: _f(s.median_err)),
        ("median error, 12 limb joints", lambda s: _f(s.median_err_limbs)),
        ("median error, front view", lambda s: _f(s.median_err_view[0])),
        ("median error, side view", lambda s: _f(s.median_err_view[1])),
        ("median error, back view", lambda s: _f(s.median_err_view[2])),
        ("median error, visible (z-buffer)", lambda s: _f(s.median_err_visible)),
        ("median error, self-occluded (z-buffer)", lambda s: _f(s.median_err_occluded)),
        ("occluded / visible (z-buffer)", lambda s: _f(s.median_err_occluded / s.median_err_visible)),
        ("median error, occluded by the synthesizer's rule", lambda s: _f(s.median_err_rule_occluded)),
        ("occluded / visible (rule)", lambda s: _f(s.median_err_rule_occluded / s.median_err_rule_visible)),
        ("errors > 10% of box, %", lambda s: _f(s.outlier_rate)),
        ("whole-body swaps, front / side / back, %", lambda s: " / ".join(_f(x, 1) for x in s.swap_rate_view)),
        ("mean visibility, visible (z-buffer)", lambda s: _f(s.vis_visible)),
        ("mean visibility, occluded (z-buffer)", lambda s: _f(s.vis_occluded)),
        ("samples", lambda s: str(s.n)),
    ]
    for label, fn in rows:
        lines.append(f"| {label} | " + " | ".join(fn(s) for s in summaries.values()) + " |")
    # Fitted model.
    sf, sd = cal.sigmas, cal.sigmas_depth
    lines += ["", "## Fitted noise model", "",
              "| parameter | previous default | fitted | notes |", "|---|---|---|---|",
              f"| sigma_visible (median over 33) | {_f(np.median(d.sigma_visible), 4)} | {_f(np.median(nm.sigma_visible), 4)} | "
              f"per landmark below; robust (median/0.6745 of the x and y errors), left/right averaged |",
              f"| occluded_factor | {d.occluded_factor} | {nm.occluded_factor} | against the synthesizer's own occlusion rule; "
              f"{_f(sd.occluded_factor)} against the z-buffer truth |",
              f"| side_view_factor | {d.side_view_factor} | {nm.side_view_factor} | {_f(sd.side_factor)} with z-buffer occlusion |",
              f"| back_view_factor | {d.back_view_factor} | {nm.back_view_factor} | {_f(sd.back_factor)} with z-buffer occlusion |",
              f"| outlier_rate | {d.outlier_rate} | {nm.outlier_rate} | observed {_f(100 * sf.observed_outlier_rate)}% beyond 10% of box, "
              f"the fitted Gaussian alone gives {_f(100 * sf.expected_gaussian_rate)}% |",
              f"| outlier_sigma | {d.outlier_sigma} | {nm.outlier_sigma} | from E[r² given r > 0.1] = 0.01 + 2s² |",
              f"| swap_rate_front | {d.swap_rate_front} | {nm.swap_rate_front} | front and side views; (swaps + 1) / (n + 2) |",
              f"| swap_rate_back | {d.swap_rate_back} | {nm.swap_rate_back} | (swaps + 1) / (n + 2) |",
              f"| visibility_visible | {d.visibility_visible} | {nm.visibility_visible} | mean, sd before clamping to [0, 1], "
              "fitted to MediaPipe's quantiles (landmarks the rule calls visible) |",
              f"| visibility_occluded | {d.visibility_occluded} | {nm.visibility_occluded} | same, landmarks the rule calls occluded |",
              f"| hip_offset_up | {d.hip_offset_up} | {nm.hip_offset_up} | × keypoint extent along the body's up axis, "
              f"+ = MediaPipe higher; {cal.hips.n_offset} detections |",
              f"| hip_width_factor | {d.hip_width_factor} | {nm.hip_width_factor} | 2D, {cal.hips.n_width} detections with hips ≥ 8% of box apart |",
              f"| world_sigma_m (x, y, depth) | {d.world_sigma_m} | {nm.world_sigma_m} | after mid-hip and scale alignment, all 33 |",
              f"| world_scale_sigma | {d.world_scale_sigma} | {nm.world_scale_sigma} | robust sd of the world scale ratio |",
              ""]
    # Visibility.
    lines += ["## Visibility MediaPipe reports", "", "| landmarks | n | mean | sd | p10 | median | p90 |", "|---|---|---|---|---|---|---|"]
    for label, v in (("visible (rule)", cal.vis_visible), ("occluded (rule)", cal.vis_occluded),
                     ("visible (z-buffer)", cal.vis_visible_depth), ("self-occluded (z-buffer)", cal.vis_occluded_depth)):
        lines.append(f"| {label} | {v.n} | {_f(v.mean)} | {_f(v.sd)} | {_f(v.p10)} | {_f(v.p50)} | {_f(v.p90)} |")
    data = cal.data
    lines += ["", "## Self-occlusion rules vs the z-buffer", "",
              "The synthesizer decides occlusion from the keypoints alone. Its rule (a landmark inside the shoulder-hip "
              "quad and 4 cm behind it; the face in back views) and a capsule rule tried here (`capsule_occlusion`: "
              "the camera ray to a landmark crosses another limb's, the torso's or the head's capsule; face points "
              "behind the head's centre), against the rendered z-buffer:", "",
              "| rule | flags | recall | precision | agreement | occluded_factor fitted with it |", "|---|---|---|---|---|---|",
              f"| z-buffer truth | {100 * data.occ_depth.mean():.0f}% | | | | {_f(cal.sigmas_depth.occluded_factor)} |"]
    for label, occ, fit in (("synthesizer (torso quad)", data.occ_rule, cal.sigmas),
                            ("capsules (proposed)", data.occ_capsule, cal.sigmas_capsule)):
        both = (occ & data.occ_depth).sum()
        lines.append(f"| {label} | {100 * occ.mean():.0f}% | {100 * both / max(1, data.occ_depth.sum()):.0f}% | "
                     f"{100 * both / max(1, occ.sum()):.0f}% | {100 * (occ == data.occ_depth).mean():.0f}% | "
                     f"{_f(fit.occluded_factor)} |")
    lines.append("")
    # Hips and world.
    w = cal.world
    lines += ["## Hips and world landmarks", "",
              f"- MediaPipe's mid-hip sits {100 * cal.hips.offset_up:+.1f}% of the keypoint extent along the body's up axis "
              f"from the body model's, and its hips are {cal.hips.width_factor:.2f}× as far apart (2D).",
              f"- World landmarks (matched detections, n = {w.n}), residual sigma per axis after aligning the mid-hip and a scale "
              f"(mm): camera axes {', '.join(f'{1000 * x:.0f}' for x in w.sigma_camera)} (x, y, depth); 12 limb joints only "
              f"{', '.join(f'{1000 * x:.0f}' for x in w.limb_sigma_camera)}; with the truth turned so that the camera ray to the "
              f"hips is the depth axis {', '.join(f'{1000 * x:.0f}' for x in w.sigma_ray)}"
              + f" ({w.ray_alignment_verdict()}).",
              f"- World scale (MediaPipe / body, least squares over limb joints): median {w.scale_median:.3f}, robust sd "
              f"{w.scale_sigma:.3f}; correlation with the body's stature {w.scale_stature_corr:+.2f}"
              + (" (MediaPipe tends towards an average-sized person)." if w.scale_stature_corr < -0.3 else "."),
              "- Mean limb-joint world error by view (mm, after alignment): "
              + ", ".join(f"{k} {_f(v, 0)}" for k, v in w.mean_err_mm_by_view.items()) + ".",
              ""]
    # Per landmark.
    rad = data.radial
    lines += ["## Per landmark", "", "2D errors as % of box height over matched detections; sigma is the fitted "
              "front-view, not-occluded Gaussian sigma per axis; bias up is the mean error along the body's up axis "
              "in the image (+ = MediaPipe places the point higher on the body than the body model does).", "",
              "| landmark | median error | p90 error | > 10% | sigma | bias up | self-occluded (z-buffer) | mean visibility |",
              "|---|---|---|---|---|---|---|---|"]
    for k, name in enumerate(MP33_NAMES):
        bias_up = float((data.err[:, k] * data.up).sum(-1).mean() * 100)
        lines.append(f"| {name} | {_f(100 * np.median(rad[:, k]))} | {_f(100 * np.percentile(rad[:, k], 90))} | "
                     f"{100 * (rad[:, k] > OUTLIER).mean():.1f}% | {_f(100 * nm.sigma_visible[k])} | {bias_up:+.2f} | "
                     f"{100 * data.occ_depth[:, k].mean():.0f}% | {_f(data.visibility[:, k].mean())} |")
    lines += ["", "## Run", "",
              f"- {len(obs)} renders in {timing['total_s']:.0f} s on this CPU "
              f"(render {timing['render_ms']:.0f} ms median per image incl. 2x supersampling and the z-buffer read, "
              f"detection {timing['detect_ms']:.0f} ms median).",
              f"- Command: `{command}`", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


# --- command line -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="calibrate-noise", description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-poses", type=int, default=48, help="poses (each seen from every view)")
    parser.add_argument("--views", default=",".join(DEFAULT_VIEWS), help=f"comma list of {', '.join(VIEWS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=NOISE_MODEL_PATH, help="noise model JSON to write")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="markdown report (a .png goes beside it)")
    parser.add_argument("--photo-fraction", type=float, default=0.3, help="share of scenes on photo backgrounds")
    parser.add_argument("--no-photos", action="store_true", help="procedural and grey backgrounds only")
    parser.add_argument("--repeats", type=int, default=10, help="simulation draws per scene for the comparison")
    args = parser.parse_args(argv)
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    bad = [v for v in views if v not in VIEWS]
    if bad or not views:
        parser.error(f"unknown views {bad}; choose from {', '.join(VIEWS)}")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Two shared cores: one thread each for torch and OpenCV leaves room for VTK and MediaPipe.
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    command = "python main.py calibrate-noise " + shlex.join(sys.argv[1:] if argv is None else argv)

    from genhmr_app.body.sparse import SparseBody
    from genhmr_app.detection.detector import PoseDetector

    t_start = time.perf_counter()
    photo_dir = None if args.no_photos else paths.shared_data_dir() / "images" / "photos"
    runner = SceneRunner(photo_dir)
    rng = np.random.default_rng(args.seed)
    scenes = make_scenes(args.num_poses, views, runner.rest_joints, rng, 0.0 if args.no_photos else args.photo_fraction)
    observations: list[Observation] = []
    try:
        with PoseDetector(mode="image") as detector:
            for i, scene in enumerate(scenes):
                observations.append(runner.run(scene, detector))
                if (i + 1) % 25 == 0 or i + 1 == len(scenes):
                    n_ok = sum(o.matched for o in observations)
                    log.info("%d/%d scenes, %d matched, %.0f s", i + 1, len(scenes), n_ok, time.perf_counter() - t_start)
    finally:
        runner.close()
    log.info("photo crops rejected because the detector found someone in them: %d", runner.photos.rejected)
    matched = sum(o.matched for o in observations)
    if matched < 10:
        log.error("only %d of %d renders were detected and matched; not fitting", matched, len(observations))
        return 1

    source = f"calibrate-noise {date.today().isoformat()}: MediaPipe on {len(observations)} renders ({matched} matched); `{command}`"
    cal = calibrate(observations, source)
    cal.noise.save(args.out)
    log.info("noise model written to %s", args.out)

    sparse = SparseBody(runner.body)
    truth_nm = cal.noise
    summaries = {
        "MediaPipe": mediapipe_summary(observations, cal.data),
        "simulation, previous defaults": simulate_on_scenes(observations, Synthesizer(sparse, NoiseModel()), truth_nm, args.repeats, args.seed),
        "simulation, calibrated": simulate_on_scenes(observations, Synthesizer(sparse, cal.noise), truth_nm, args.repeats, args.seed),
    }
    figure = draw_figure(observations, args.report.with_suffix(".png"))
    timing = {
        "total_s": time.perf_counter() - t_start,
        "render_ms": float(np.median([o.render_ms for o in observations])),
        "detect_ms": float(np.median([o.detect_ms for o in observations])),
        "repeats": float(args.repeats),
    }
    write_report(args.report, figure, observations, cal, summaries, timing, command)
    log.info("report written to %s (%.0f s in all)", args.report, timing["total_s"])
    s = summaries
    print(f"median 2D error (% box): MediaPipe {s['MediaPipe'].median_err:.2f}, simulated {s['simulation, calibrated'].median_err:.2f}; "
          f"renders {len(observations)}, matched {matched}; {timing['total_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
