"""The live One-Euro filter on rotations and translation (motion/live_smoothing.py)."""

from __future__ import annotations

import math

import pytest
import roma
import torch

from genhmr_app.motion.live_smoothing import LiveSmoother, delay_ms


def _angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return roma.rotmat_to_rotvec(a.transpose(-1, -2) @ b).norm(dim=-1)


def test_off_passes_values_through():
    smoother = LiveSmoother(0.0)
    r = roma.random_rotmat(5)
    out_r, out_t = smoother(0.0, r, torch.ones(3))
    out_r2, _ = smoother(0.04, r.flip(0), torch.zeros(3))
    assert torch.equal(out_r, r) and torch.equal(out_r2, r.flip(0)) and torch.equal(out_t, torch.ones(3))


def test_jitter_at_rest_is_averaged_away():
    torch.manual_seed(0)
    base = roma.random_rotmat(24)
    smoother = LiveSmoother(0.8)
    raw_err, smooth_err = [], []
    for i in range(100):
        noisy = base @ roma.rotvec_to_rotmat(torch.randn(24, 3) * 0.05)
        out, _ = smoother(i / 30, noisy, torch.randn(3) * 0.01)
        if i > 20:
            raw_err.append(_angle(base, noisy).mean())
            smooth_err.append(_angle(base, out).mean())
    assert sum(smooth_err) < 0.5 * sum(raw_err)


def test_a_fast_turn_is_followed_with_little_lag_and_through_pi():
    """A joint spinning at 3 rad/s passes through ±π (where axis-angle components jump) every second."""
    smoother = LiveSmoother(0.5)
    axis = torch.tensor([0.0, 1.0, 0.0])
    lags = []
    for i in range(90):
        t = i / 30
        truth = roma.rotvec_to_rotmat((axis * 3.0 * t)[None])
        out, _ = smoother(t, truth, torch.zeros(3))
        if i > 15:
            lags.append(float(_angle(truth, out)[0]))
    # The speed raises the cut-off: the lag stays a small share of one frame's 0.1 rad turn times the
    # rest delay (0.1 rad x 2 frames at strength 0.5 with no speed term).
    assert max(lags) < 0.15, max(lags)
    assert all(math.isfinite(x) for x in lags)


@pytest.mark.parametrize("strength, body_moved", [(0.3, None), ("default", 0.3 / 30)])
def test_a_steady_move_is_predicted_so_the_filter_does_not_trail_it(strength, body_moved):
    """A joint turning at a steady 2 rad/s: an exponential average trails it by its time constant (at
    0.3 about 0.05 s x 2 rad/s = 0.1 rad); the constant-velocity prediction removes that lag, by itself
    at 0.3 and, at the (stronger) default, with the keypoints' evidence of the move (0.3 body heights/s,
    a brisk turn)."""
    from genhmr_app.settings import DEFAULT_LIVE_SMOOTHING

    strength = DEFAULT_LIVE_SMOOTHING if strength == "default" else strength
    smoother, axis, lags, trails = LiveSmoother(strength), torch.tensor([0.0, 0.0, 1.0]), [], []
    for i in range(60):
        t = i / 30
        truth = roma.rotvec_to_rotmat((axis * 2.0 * t)[None])
        position = torch.tensor([0.5 * t, 0.0, 3.0])  # and walking sideways at 0.5 m/s
        out, out_t = smoother(t, truth, position, body_moved)
        if i > 30:
            lags.append(float(_angle(truth, out)[0]))
            trails.append(float((position - out_t).norm()))
    assert max(lags) < 0.01, max(lags)  # the former filter (no prediction, at 0.3) trailed by 0.014 rad here
    assert max(trails) < 0.01, max(trails)


def test_stronger_smoothing_means_more_delay():
    assert delay_ms(0) == 0
    assert 0 < delay_ms(0.1) < delay_ms(0.5) < delay_ms(1.0) < 300


def test_a_cut_in_time_restarts_the_filter():
    smoother = LiveSmoother(0.8)
    a, b = roma.random_rotmat(2)
    smoother(1.0, a[None], torch.zeros(3))
    out, t = smoother(0.5, b[None], torch.ones(3))  # time went back: a new stream
    assert torch.allclose(out, b[None]) and torch.equal(t, torch.ones(3))


def test_the_default_follows_a_swinging_limb_and_still_calms_jitter():
    """The default strength trades both ways: a limb swinging ±0.5 rad at 1 Hz (3 rad/s at its fastest)
    is followed within ~1° on average, and jitter at rest is cut by a third or more."""

    from genhmr_app.settings import DEFAULT_LIVE_SMOOTHING

    smoother, errors = LiveSmoother(DEFAULT_LIVE_SMOOTHING), []
    axis = torch.tensor([1.0, 0.0, 0.0])
    for i in range(120):
        t = i / 30
        rot = roma.rotvec_to_rotmat((axis * 0.5 * math.sin(2 * math.pi * t))[None].repeat(24, 1))
        out, _ = smoother(t, rot, torch.zeros(3))
        if i > 30:
            errors.append(float(_angle(rot, out).mean()))
    assert math.degrees(sum(errors) / len(errors)) < 1.5

    torch.manual_seed(1)
    base, smoother, raw, smooth = roma.random_rotmat(24), LiveSmoother(DEFAULT_LIVE_SMOOTHING), [], []
    for i in range(100):
        noisy = base @ roma.rotvec_to_rotmat(torch.randn(24, 3) * 0.02)
        out, _ = smoother(i / 30, noisy, torch.zeros(3))
        if i > 20:
            raw.append(float(_angle(base, noisy).mean()))
            smooth.append(float(_angle(base, out).mean()))
    assert sum(smooth) < 0.67 * sum(raw)


def test_the_detectors_evidence_of_motion_opens_the_filter_and_noise_does_not():
    """A limb swinging ±0.5 rad at 1 Hz: told that the keypoints move (0.5 body heights/s, a wave), the
    filter follows more closely than by its own speed estimate; keypoint noise at rest (under the floor)
    changes nothing."""
    from genhmr_app.motion.live_smoothing import EVIDENCE_FLOOR_HEIGHTS_S
    from genhmr_app.settings import DEFAULT_LIVE_SMOOTHING

    axis = torch.tensor([1.0, 0.0, 0.0])

    def mean_lag(moved: float | None) -> float:
        smoother, errors = LiveSmoother(DEFAULT_LIVE_SMOOTHING), []
        for i in range(120):
            t = i / 30
            rot = roma.rotvec_to_rotmat((axis * 0.5 * math.sin(2 * math.pi * t))[None].repeat(24, 1))
            out, _ = smoother(t, rot, torch.zeros(3), moved)
            if i > 30:
                errors.append(float(_angle(rot, out).mean()))
        return sum(errors) / len(errors)

    assert mean_lag(0.5 / 30) < 0.5 * mean_lag(None)
    assert mean_lag(0.9 * EVIDENCE_FLOOR_HEIGHTS_S / 30) == mean_lag(None)


def test_the_frozen_step_gives_what_the_eager_maths_gives():
    """Outside autograd on a CPU the filter runs a traced and frozen copy of its step (per-operation
    overhead is most of its cost); it must give what the eager step gives, frame after frame."""
    torch.manual_seed(2)
    base = roma.random_rotmat(24)
    frozen, eager = LiveSmoother(0.5), LiveSmoother(0.5)
    for i in range(40):
        rot = base @ roma.rotvec_to_rotmat(torch.randn(24, 3) * 0.05 + 0.02 * i)
        transl = torch.tensor([0.01 * i, 0.0, 3.0]) + torch.randn(3) * 0.005
        moved = None if i % 3 == 0 else 0.002 * (i % 5)
        with torch.no_grad():
            out_f, t_f = frozen(i / 30, rot, transl, moved)
        with torch.enable_grad():
            out_e, t_e = eager(i / 30, rot, transl, moved)
        assert torch.allclose(out_f, out_e, atol=1e-6) and torch.allclose(t_f, t_e, atol=1e-6), i
    from genhmr_app.motion import live_smoothing

    assert live_smoothing._FROZEN_STEP.graphs, "the frozen graph was made and used"
