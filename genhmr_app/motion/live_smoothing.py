"""Live smoothing: the One-Euro filter (Casiez et al., CHI 2012) on rotations and translation.

motion/smoothing.py smooths a whole recorded sequence and may look ahead; live frames cannot, so each
value is an exponential average of the past whose cut-off frequency rises with the speed: at rest the
jitter is averaged away, in a fast move the filter follows with little lag.

- translation: the filter on each coordinate, as in the paper;
- rotations: on the rotation manifold, never on axis-angle components (which jump at ±π and blur
  unevenly). The velocity is the rotation vector per second from the last output to the new value
  (low-passed as a vector), and the step is a slerp from the last output towards the new value by the
  filter's alpha.

`strength` in [0, 1] is the window's control: 0 is off; 1 averages over about a quarter second.
`delay_ms(strength)` is the lag the filter adds at rest (its time constant), shown beside the control.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import roma
import torch

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
DERIVATIVE_CUTOFF_HZ = 1.0  # the velocity estimate's own low-pass (the paper's d_cutoff)


def min_cutoff_hz(strength: float) -> float:
    """Log-interpolated between the light and the strong end."""
    s = min(max(strength, 0.0), 1.0)
    return MIN_CUTOFF_OFF_HZ ** (1 - s) * MIN_CUTOFF_FULL_HZ ** s


def beta_rotation(strength: float) -> float:
    s = min(max(strength, 0.0), 1.0)
    return BETA_ROTATION_LIGHT ** (1 - s) * BETA_ROTATION_STRONG ** s


def delay_ms(strength: float) -> float:
    """The lag at rest: the low-pass's time constant 1 / (2π f_c); 0 when off."""
    return 0.0 if strength <= 0 else 1000.0 / (2 * math.pi * min_cutoff_hz(strength))


def _alpha(cutoff_hz: torch.Tensor | float, dt: float) -> torch.Tensor | float:
    tau = 1.0 / (2 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


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

    def __call__(self, t_s: float, rotations: torch.Tensor, transl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """rotations (N, 3, 3) (global orientation and body joints together), transl (3,), at time
        `t_s` seconds → the smoothed pair. Strength 0 passes the values through (and restarts)."""
        rotations, transl = rotations.detach(), transl.detach()
        st = self._state
        if self.strength <= 0 or st is None or t_s <= st.t:
            self._state = None if self.strength <= 0 else _State(
                t_s, rotations.clone(), torch.zeros(len(rotations), 3), transl.clone(), torch.zeros(3))
            return rotations, transl
        dt = t_s - st.t
        f_min, a_d = min_cutoff_hz(self.strength), _alpha(DERIVATIVE_CUTOFF_HZ, dt)
        # Rotations: speed from the geodesic angle, then a slerp by the speed-dependent alpha.
        relative = st.rotations.transpose(-1, -2) @ rotations
        rotvec = roma.rotmat_to_rotvec(relative)
        # The angular velocity is low-passed as a vector, as the paper low-passes a signed derivative:
        # jitter points every way and averages out, a real turn does not. (Low-passing the angle, which
        # is never negative, made jitter look like motion and switched the smoothing off.)
        st.rot_velocity = st.rot_velocity + a_d * (rotvec / dt - st.rot_velocity)
        a = _alpha(f_min + beta_rotation(self.strength) * st.rot_velocity.norm(dim=-1), dt)
        step = roma.rotvec_to_rotmat(rotvec * a[:, None])
        st.rotations = st.rotations @ step
        # Translation: the plain One-Euro filter per coordinate.
        speed = (transl - st.transl) / dt
        st.transl_speed = st.transl_speed + a_d * (speed - st.transl_speed)
        a_t = _alpha(f_min + BETA_TRANSLATION * st.transl_speed.abs(), dt)
        st.transl = st.transl + a_t * (transl - st.transl)
        st.t = t_s
        return st.rotations.clone(), st.transl.clone()


__all__ = ["DEFAULT_STRENGTH", "LiveSmoother", "delay_ms", "min_cutoff_hz"]
