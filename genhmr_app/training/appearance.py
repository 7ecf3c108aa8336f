"""A dressed look for rendered people: garment patterns, a face, and clothes that stand off the skin.

The plain renders (render.py: one flat colour per garment on the bare body) are mannequins: skin-tight
clothes, no eyes or mouth, no pattern. MediaPipe's habits (where it puts a landmark relative to the true
joint) depend on how an image looks (the twenty-second session measured them change with the background
alone), and a corrector that learnt them on mannequins made real photos worse. This look adds what real
people have and mannequins lack, as far as per-vertex colours and a normal offset can:
- garment patterns laid out in the body's rest frame, so they follow the body: stripes, checks, mottled
  cloth and a chest print, with soft fold-like shading;
- eyes, brows and lips painted around the body's own face keypoints;
- clothes and hair that stand off the skin by a few centimetres (a loose shirt, baggy trousers, hair
  with volume), so the outline is the garment's, not the limb's.

Only training data and diagnostics use it; nothing at run time renders people.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from genhmr_app.training.render import HAIR, SHIRT, SHOES, TROUSERS, BodyRegions, Outfit, hsv_colour

if TYPE_CHECKING:
    from genhmr_app.body.model import BodyModel

LOOKS = ("flat", "dressed")
SHIRT_PATTERNS = ("plain", "stripes", "vertical stripes", "checks", "mottled", "print")
TROUSER_PATTERNS = ("plain", "mottled", "stripes", "checks")
# MediaPipe's face points on the body model (detection/landmarks.py order).
_LEFT_EYE, _RIGHT_EYE, _MOUTH_LEFT, _MOUTH_RIGHT = 2, 5, 9, 10


@dataclass(frozen=True)
class RestFrame:
    """What a look needs from one body topology, in its rest frame (Y up, facing +Z, metres)."""

    vertices: np.ndarray  # (V, 3)
    face_points: np.ndarray  # (33, 3) MediaPipe's keypoints on the rest body
    faces: np.ndarray  # (F, 3) triangles


def rest_frame(body: BodyModel) -> RestFrame:
    import torch

    with torch.no_grad():
        out = body.forward(torch.zeros(1, 3), torch.zeros(1, 69))
    return RestFrame(out.vertices[0].cpu().numpy().astype(np.float32),
                     out.keypoints_mediapipe33[0].cpu().numpy().astype(np.float32),
                     np.asarray(body.faces, np.int64))


@dataclass(frozen=True)
class Appearance:
    colours: np.ndarray  # (V, 3) float32 RGB in [0, 1]
    offsets: np.ndarray  # (V,) metres: how far each vertex stands off the skin, along its normal


def _lattice_noise(points: np.ndarray, cell: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth value noise in [0, 1] at 3D points (N, 3): trilinear interpolation of random values on a
    lattice of `cell` metres, at a random offset."""
    p = points / cell + rng.uniform(0, 100, 3)
    i = np.floor(p).astype(np.int64)
    f = p - i
    f = f * f * (3 - 2 * f)  # smoothstep: no lattice creases
    table = rng.random(4096).astype(np.float32)

    def value(di: int, dj: int, dk: int) -> np.ndarray:
        h = (i[:, 0] + di) * 73856093 ^ (i[:, 1] + dj) * 19349663 ^ (i[:, 2] + dk) * 83492791
        return table[np.abs(h) % len(table)]

    out = np.zeros(len(points), np.float32)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                w = (f[:, 0] if di else 1 - f[:, 0]) * (f[:, 1] if dj else 1 - f[:, 1]) * (f[:, 2] if dk else 1 - f[:, 2])
                out += w * value(di, dj, dk)
    return out


def _second_colour(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A pattern's other colour: white, black, or another hue, never too close to the base."""
    kind = rng.random()
    if kind < 0.3:
        other = np.full(3, rng.uniform(0.8, 0.97), np.float32)
    elif kind < 0.55:
        other = np.full(3, rng.uniform(0.05, 0.2), np.float32)
    else:
        other = np.asarray(hsv_colour(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.2, 0.95)), np.float32)
    if np.abs(other - base).sum() < 0.3:
        other = 1.0 - base
    return other


def _pattern(kind: str, rest: np.ndarray, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) colours of one garment's vertices (rest positions (N, 3)) in pattern `kind`."""
    colours = np.repeat(base[None], len(rest), 0)
    if kind == "plain":
        return colours
    other = _second_colour(base, rng)
    x, y, z = rest[:, 0], rest[:, 1], rest[:, 2]
    if kind in ("stripes", "vertical stripes"):
        period = rng.uniform(0.02, 0.12)
        # Vertical stripes run around the limb: the angle about the body's long axis.
        coord = y if kind == "stripes" else np.arctan2(z, x) * 0.15
        on = (coord / period + rng.uniform(0, 1)) % 1.0 < rng.uniform(0.3, 0.6)
    elif kind == "checks":
        period = rng.uniform(0.03, 0.1)
        on = ((np.floor(y / period) + np.floor((x + z) / period)) % 2) == 0
    elif kind == "mottled":
        t = _lattice_noise(rest, rng.uniform(0.01, 0.04), rng)[:, None]
        return (colours * (1 - 0.5 * t) + other * 0.5 * t).astype(np.float32)
    elif kind == "print":  # a patch on the chest (front, upper torso)
        centre_y = np.percentile(y, 70)
        on = (z > np.median(z)) & (np.abs(x) < rng.uniform(0.05, 0.12)) & (np.abs(y - centre_y) < rng.uniform(0.04, 0.1))
    else:
        raise ValueError(f"unknown pattern {kind!r}")
    colours[on] = other
    return colours


def _paint_near(colours: np.ndarray, rest: np.ndarray, centre: np.ndarray, radius: float, colour: np.ndarray) -> None:
    """Paint the vertices within `radius` of a face point, on the face's side of the head only."""
    near = (np.linalg.norm(rest - centre, axis=1) < radius) & (rest[:, 2] > centre[2] - radius)
    colours[near] = colour


def dressed_appearance(regions: BodyRegions, rest: RestFrame, outfit: Outfit, rng: np.random.Generator) -> Appearance:
    """Colours and offsets for one person: `outfit`'s colours as patterns, a face, loose clothes."""
    region = regions.regions(outfit)
    colours = regions.colours(outfit).copy()
    v = rest.vertices
    for reg, base, kinds, weights in ((SHIRT, outfit.shirt, SHIRT_PATTERNS, (0.3, 0.2, 0.1, 0.15, 0.15, 0.1)),
                                      (TROUSERS, outfit.trousers, TROUSER_PATTERNS, (0.5, 0.3, 0.1, 0.1))):
        idx = np.flatnonzero(region == reg)
        if len(idx):
            kind = kinds[int(rng.choice(len(kinds), p=weights))]
            colours[idx] = _pattern(kind, v[idx], np.asarray(base, np.float32), rng)
    # Fold-like shading on cloth: soft darker creases.
    cloth = np.isin(region, (SHIRT, TROUSERS))
    folds = _lattice_noise(v[cloth], rng.uniform(0.04, 0.08), rng)
    colours[cloth] *= (1.0 - rng.uniform(0.1, 0.35) * folds)[:, None]
    # The face: eyes, brows above them, lips between the mouth corners.
    skin = np.asarray(outfit.skin, np.float32)
    fp = rest.face_points
    eye_gap = float(np.linalg.norm(fp[_LEFT_EYE] - fp[_RIGHT_EYE]))
    for eye in (fp[_LEFT_EYE], fp[_RIGHT_EYE]):
        _paint_near(colours, v, eye + [0, 0.22 * eye_gap, 0], 0.2 * eye_gap, np.asarray(outfit.hair, np.float32) * 0.8)
        _paint_near(colours, v, eye, 0.16 * eye_gap, np.array([0.92, 0.9, 0.88], np.float32))
        _paint_near(colours, v, eye, 0.08 * eye_gap, np.array([0.08, 0.06, 0.05], np.float32))
    mouth = (fp[_MOUTH_LEFT] + fp[_MOUTH_RIGHT]) / 2
    _paint_near(colours, v, mouth, 0.25 * eye_gap, skin * np.array([0.8, 0.5, 0.5], np.float32))
    # Loose clothes and hair stand off the skin; each garment by its own amount, uneven along it.
    offsets = np.zeros(len(v), np.float32)
    for reg, top in ((SHIRT, 0.03), (TROUSERS, 0.04), (HAIR, 0.03), (SHOES, 0.012)):
        idx = np.flatnonzero(region == reg)
        if len(idx):
            amount = rng.uniform(0.0, top)
            offsets[idx] = amount * (0.5 + _lattice_noise(v[idx], 0.1, rng))  # bare skin stays at 0
    return Appearance(np.clip(colours, 0, 1).astype(np.float32), offsets)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit normals: each vertex's adjacent face normals, area-weighted."""
    tri = vertices[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    out = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(out, faces[:, k], n)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def dress(vertices: np.ndarray, faces: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The posed vertices (V, 3) moved off the skin along their normals by `offsets` (V,)."""
    if not offsets.any():
        return vertices
    return (vertices + vertex_normals(vertices, faces) * offsets[:, None]).astype(vertices.dtype)
