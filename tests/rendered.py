"""A rendered person with a known pose, for tests that need a body the detector surely sees."""

from __future__ import annotations

import pytest


def render_walker(wh: tuple[int, int] = (480, 480), frame: int = 40, seed: int = 5, distance_m: float = 3.2):
    from genhmr_app.bench.scenes import render_walker as render

    try:
        return render(wh, frame, seed, distance_m)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def walk_clip():
    """The shared walk retargeted to the embedded body: (body, betas, rest joints, clip)."""
    from genhmr_app.bench.scenes import load_walk_clip

    try:
        return load_walk_clip()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
