"""Live smoothing: the One-Euro filter (Casiez et al., CHI 2012) on rotations and translation.

motion/smoothing.py smooths a whole recorded sequence and may look ahead; live frames cannot, so each
value is an exponential average of the past whose cut-off frequency rises with the speed: at rest the
jitter is averaged away, in a fast move the filter follows with little lag.

- translation: the filter on each coordinate, as in the paper;
- rotations: on the rotation manifold, never on axis-angle components (which jump at ±π and blur
  unevenly). The velocity is the rotation vector per second from the last output to the new value
  (low-passed as a vector), and the step is a slerp towards the new value by the filter's alpha.
- a constant-velocity prediction before each step (sixteenth session): the last output is first
  carried forward by the filtered velocity, then pulled towards the new value. A plain exponential
  average trails any steady motion by its time constant; the prediction removes most of that lag, so
  the same calm at rest costs less accuracy in motion. It is faded in with the speed, and out with
  the strength, so jitter at rest is not extrapolated. Chosen on five rendered validation-split clips
  (dash, wave, slash, walk, raised hand; 150 frames each, not the benchmark's walk): live PA-MPJPE over
  the still path's, and the mean joint acceleration (jitter) in motion and of the same bodies held
  still (with image noise). At strength 0.4 (the new default) against the former filter at 0.3: less
  lag (1.019x against 1.026x the still path's error) at the same calm in motion (19.0 mm/frame² both)
  and at rest (5.8 against 5.9); on the benchmark's walk (checked after choosing) 1.035x against
  1.058x over 60 frames, 1.093x against 1.119x over 150. The default is 0.3 since the thirty-first
  session, whose live decoding is calmer by itself (settings.DEFAULT_LIVE_SMOOTHING says why).
- the detector's evidence of motion (forty-first session): the filter's own speed estimate is a
  low-passed difference of noisy poses, so it opens late in a real move and a little on jitter. The
  keypoints the pose was fitted to say directly whether the body moved: `body_moved` (how far they went
  since the last frame, in body heights) raises the cut-off too, above a floor that image noise at rest
  stays under. With it the window's default rose from 0.3 to 0.5 (calmer at rest) while following
  motion more closely; settings.DEFAULT_LIVE_SMOOTHING gives the figures.

`strength` in [0, 1] is the window's control: 0 is off; 1 averages over about a quarter second.
`delay_ms(strength)` is the lag the filter adds at rest (its time constant), shown beside the control.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import roma
import torch
from torch import nn

from genhmr_app.frozen_graphs import FrozenGraphs
from genhmr_app.settings import DEFAULT_LIVE_SMOOTHING as DEFAULT_STRENGTH

MIN_CUTOFF_OFF_HZ = 8.0  # cut-off at rest for the lightest smoothing (strength → 0)
MIN_CUTOFF_FULL_HZ = 0.6  # ... and for the strongest (strength 1)
# Cut-off gain per rad/s of angular velocity (a limb in motion: 2-5 rad/s), also set by the strength:
# light smoothing follows motion closely (a limb swinging at 3 rad/s lags 1/(2π·β) rad at most, ~1.2° at
# the default), strong smoothing holds still through jitter (whose velocity, however averaged, would
# open the filter). Log-interpolated like the cut-off.
BETA_ROTATION_LIGHT = 16.0
BETA_ROTATION_STRONG = 1.5
BETA_TRANSLATION = 2.0  # per m/s
# The velocity estimate's own low-pass (the paper's d_cutoff, 1 Hz there), also set by the strength: the
# prediction needs a velocity that keeps up with a limb's swing (light smoothing), while strong smoothing
# must not let white jitter, read fast, open the cut-off. Log-interpolated like the others.
DERIVATIVE_CUTOFF_LIGHT_HZ = 3.0
DERIVATIVE_CUTOFF_STRONG_HZ = 0.8
# The prediction is faded in with the speed (`_motion_share`): half of it at these speeds. Jitter at rest,
# its velocity low-passed at ~2 Hz, still reads as ~0.5 rad/s; a limb in motion turns at 2-5 rad/s. Strong
# smoothing asks for calm first, so it predicts only faster moves (log-interpolated with the strength;
# without that, strength 0.8 cut white jitter by 0.44 instead of the former filter's 0.53).
PREDICT_FROM_LIGHT_RAD_S = 1.0
PREDICT_FROM_STRONG_RAD_S = 8.0
PREDICT_FROM_M_S = 0.1
# The detector's evidence of motion: the mean keypoint speed, in body heights per second, raises every
# cut-off by this many Hz per unit above the floor. Image noise at rest moves the keypoints 0.006-0.017
# heights/s (median, three validation clips); a bow or a wave 0.1-0.5, a dash 0.5-0.9. Chosen with the
# default strength on the 18 validation clips (settings.DEFAULT_LIVE_SMOOTHING).
EVIDENCE_GAIN_HZ = 100.0
EVIDENCE_FLOOR_HEIGHTS_S = 0.03


def _by_strength(light: float, strong: float, strength: float) -> float:
    """Log-interpolated between the light end (strength 0) and the strong end (strength 1)."""
    s = min(max(strength, 0.0), 1.0)
    return light ** (1 - s) * strong ** s


def min_cutoff_hz(strength: float) -> float:
    return _by_strength(MIN_CUTOFF_OFF_HZ, MIN_CUTOFF_FULL_HZ, strength)


def beta_rotation(strength: float) -> float:
    return _by_strength(BETA_ROTATION_LIGHT, BETA_ROTATION_STRONG, strength)


def derivative_cutoff_hz(strength: float) -> float:
    return _by_strength(DERIVATIVE_CUTOFF_LIGHT_HZ, DERIVATIVE_CUTOFF_STRONG_HZ, strength)


def predict_from_rad_s(strength: float) -> float:
    return _by_strength(PREDICT_FROM_LIGHT_RAD_S, PREDICT_FROM_STRONG_RAD_S, strength)


def delay_ms(strength: float) -> float:
    """The lag at rest: the low-pass's time constant 1 / (2π f_c); 0 when off."""
    return 0.0 if strength <= 0 else 1000.0 / (2 * math.pi * min_cutoff_hz(strength))


def _motion_share(velocity: torch.Tensor, from_speed: float) -> torch.Tensor:
    """(N, k) velocities → (N, 1) how much of each to predict with: |v|² / (|v|² + v0²), near 0 at rest
    (where the filtered velocity is mostly jitter, and extrapolating it would add jitter) and near 1
    in a real move."""
    v2 = velocity.pow(2).sum(-1, keepdim=True)
    return v2 / (v2 + from_speed ** 2)


def _alpha(cutoff_hz: torch.Tensor | float, dt: float) -> torch.Tensor | float:
    tau = 1.0 / (2 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


class _FilterStep(nn.Module):
    """One step of the filter on tensors (the scalars as 0-dim tensors), so that it can be traced: for
    24 joints the eager step is ~0.8 ms here, nearly all PyTorch's per-operation overhead; frozen
    (frozen_graphs.py) ~0.45 ms, with the same results."""

    def forward(self, rotations: torch.Tensor, transl: torch.Tensor, last_rotations: torch.Tensor,
                rot_velocity: torch.Tensor, last_transl: torch.Tensor, transl_speed: torch.Tensor, dt: torch.Tensor,
                f_min: torch.Tensor, a_d: torch.Tensor, beta: torch.Tensor, predict_from: torch.Tensor):
        # Rotations: the last output carried forward by the filtered angular velocity (the prediction),
        # then a slerp from there towards the new value by the speed-dependent alpha.
        share = _motion_share(rot_velocity, predict_from)  # (N, 1)
        predicted = last_rotations @ roma.rotvec_to_rotmat(rot_velocity * share * dt)
        # The angular velocity is low-passed as a vector, as the paper low-passes a signed derivative:
        # jitter points every way and averages out, a real turn does not. (Low-passing the angle, which
        # is never negative, made jitter look like motion and switched the smoothing off.)
        moved = roma.rotmat_to_rotvec(last_rotations.transpose(-1, -2) @ rotations)
        rot_velocity = rot_velocity + a_d * (moved / dt - rot_velocity)
        a = _alpha(f_min + beta * rot_velocity.norm(dim=-1), dt)
        innovation = roma.rotmat_to_rotvec(predicted.transpose(-1, -2) @ rotations)
        smoothed = predicted @ roma.rotvec_to_rotmat(innovation * a[:, None])
        # Translation: the One-Euro filter per coordinate, with the same prediction.
        speed = (transl - last_transl) / dt
        share_t = _motion_share(transl_speed[:, None], PREDICT_FROM_M_S)[:, 0]  # per coordinate
        predicted_t = last_transl + transl_speed * share_t * dt
        transl_speed = transl_speed + a_d * (speed - transl_speed)
        a_t = _alpha(f_min + BETA_TRANSLATION * transl_speed.abs(), dt)
        return smoothed, rot_velocity, predicted_t + a_t * (transl - predicted_t), transl_speed


# One set of graphs for the process (tracing costs ~0.1 s, once), eager off the CPU or under autograd.
_FROZEN_STEP = FrozenGraphs(_FilterStep())


@dataclass
class _State:
    t: float
    rotations: torch.Tensor  # (N, 3, 3) last output
    rot_velocity: torch.Tensor  # (N, 3) filtered angular velocity, rad/s, in each joint's output frame
    transl: torch.Tensor  # (3,)
    transl_speed: torch.Tensor  # (3,)


class LiveSmoother:
    """Filters one person's pose frame by frame. `reset()` after a cut or a lost track."""

    def __init__(self, strength: float = DEFAULT_STRENGTH) -> None:
        self.strength = strength
        self._state: _State | None = None

    def reset(self) -> None:
        self._state = None

    def __call__(self, t_s: float, rotations: torch.Tensor, transl: torch.Tensor,
                 body_moved: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """rotations (N, 3, 3) (global orientation and body joints together), transl (3,), at time
        `t_s` seconds → the smoothed pair. `body_moved`: how far the detected keypoints moved since the
        last call, in body heights (None: unknown; the filter then goes by its own speed estimate alone).
        Strength 0 passes the values through (and restarts)."""
        rotations, transl = rotations.detach(), transl.detach()
        st = self._state
        if self.strength <= 0 or st is None or t_s <= st.t:
            self._state = None if self.strength <= 0 else _State(
                t_s, rotations.clone(), rotations.new_zeros(len(rotations), 3), transl.clone(), transl.new_zeros(3))
            return rotations, transl
        if st.rotations.device != rotations.device:  # the values moved (e.g. CPU → GPU): the state follows
            st.rotations, st.rot_velocity = st.rotations.to(rotations.device), st.rot_velocity.to(rotations.device)
            st.transl, st.transl_speed = st.transl.to(transl.device), st.transl_speed.to(transl.device)
        dt = t_s - st.t
        f_min, a_d = min_cutoff_hz(self.strength), _alpha(derivative_cutoff_hz(self.strength), dt)
        if body_moved is not None:  # the keypoints moved: open the filter now, not when its speed catches up
            f_min = f_min + EVIDENCE_GAIN_HZ * max(body_moved / dt - EVIDENCE_FLOOR_HEIGHTS_S, 0.0)
        scalars = [torch.tensor(v, dtype=rotations.dtype, device=rotations.device)
                   for v in (dt, f_min, a_d, beta_rotation(self.strength), predict_from_rad_s(self.strength))]
        st.rotations, st.rot_velocity, st.transl, st.transl_speed = _FROZEN_STEP(
            rotations, transl, st.rotations, st.rot_velocity, st.transl, st.transl_speed, *scalars)
        st.t = t_s
        return st.rotations.clone(), st.transl.clone()


__all__ = ["DEFAULT_STRENGTH", "LiveSmoother", "delay_ms", "min_cutoff_hz"]
