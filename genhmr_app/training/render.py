"""Off-screen renders of a posed body seen through our pinhole camera, for calibrating and testing
the detector simulation against the real detector.

The camera is the app's (conditioning/camera.py): OpenCV axes, the principal point at the image
centre, focal length in px. VTK is set up to match it exactly (camera at the origin looking down +z,
up = -y, vertical view angle 2·atan(H/2/f)), so `project()` of any body point lands on the pixel the
renderer draws it at. The z-buffer comes back as metric camera depth, which gives true
self-occlusion for every landmark.

Only calibration, benchmarks and tests use this; nothing at run time renders people.
"""

from __future__ import annotations

import atexit
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import pyvista as pv

    from genhmr_app.body.model import BodyModel

RGB = tuple[float, float, float]

# Vertex regions for clothing-like colouring.
SKIN, HAIR, SHIRT, TROUSERS, SHOES = range(5)
REGION_NAMES = ("skin", "hair", "shirt", "trousers", "shoes")

# SMPL joints whose bone carries each garment (the joint a vertex is mostly skinned to).
_TORSO = (3, 6, 9, 13, 14)  # spine1-3, collars
_UPPER_ARM = (16, 17)
_FOREARM = (18, 19)
_PELVIS_THIGH = (0, 1, 2)
_SHIN = (4, 5)
_FOOT = (7, 8, 10, 11)
_HEAD = 15

_SKIN_TONES: tuple[RGB, ...] = (
    (0.96, 0.80, 0.69), (0.90, 0.72, 0.58), (0.80, 0.60, 0.45), (0.67, 0.47, 0.32),
    (0.55, 0.37, 0.25), (0.40, 0.27, 0.18), (0.30, 0.20, 0.14),
)  # fmt: skip
_HAIR_TONES: tuple[RGB, ...] = (
    (0.08, 0.06, 0.05), (0.25, 0.16, 0.09), (0.45, 0.30, 0.16), (0.75, 0.62, 0.38), (0.55, 0.55, 0.55),
)  # fmt: skip


@dataclass(frozen=True)
class Outfit:
    skin: RGB
    hair: RGB
    shirt: RGB
    trousers: RGB
    shoes: RGB
    long_sleeves: bool
    long_trousers: bool

    def palette(self) -> np.ndarray:
        """(5, 3) colours indexed by region (SKIN, HAIR, SHIRT, TROUSERS, SHOES)."""
        return np.asarray([self.skin, self.hair, self.shirt, self.trousers, self.shoes], np.float32)


def hsv_colour(h: float, s: float, v: float) -> RGB:
    px = cv2.cvtColor(np.uint8([[[h * 180 % 180, s * 255, v * 255]]]), cv2.COLOR_HSV2RGB)[0, 0] / 255.0
    return (float(px[0]), float(px[1]), float(px[2]))


def random_outfit(rng: np.random.Generator) -> Outfit:
    # Garments: anything from saturated to dull; trousers mostly dark/denim like real ones. Shirt and
    # trousers are kept apart in brightness or hue so the waist is visible, as on most people.
    shirt = hsv_colour(rng.random(), rng.uniform(0.1, 0.9), rng.uniform(0.25, 0.95))
    if rng.random() < 0.5:
        trousers = hsv_colour(rng.uniform(0.58, 0.66), rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.55))  # denim
    else:
        trousers = hsv_colour(rng.random(), rng.uniform(0.0, 0.6), rng.uniform(0.1, 0.8))
    shoes = hsv_colour(rng.random(), rng.uniform(0.0, 0.4), rng.choice([0.12, 0.3, 0.9]))
    return Outfit(
        skin=_SKIN_TONES[rng.integers(len(_SKIN_TONES))],
        hair=_HAIR_TONES[rng.integers(len(_HAIR_TONES))],
        shirt=shirt,
        trousers=trousers,
        shoes=shoes,
        long_sleeves=bool(rng.random() < 0.5),
        long_trousers=bool(rng.random() < 0.75),
    )


@dataclass(frozen=True)
class BodyRegions:
    """Per-vertex garment regions of one mesh topology (see `body_regions`)."""

    bone: np.ndarray  # (V,) the SMPL joint each vertex is mostly skinned to
    hair: np.ndarray  # (V,) bool, scalp and back of the head

    def regions(self, outfit: Outfit) -> np.ndarray:
        r = np.full(len(self.bone), SKIN, np.int64)
        r[np.isin(self.bone, _TORSO + _UPPER_ARM + ((_FOREARM) if outfit.long_sleeves else ()))] = SHIRT
        r[np.isin(self.bone, _PELVIS_THIGH + ((_SHIN) if outfit.long_trousers else ()))] = TROUSERS
        r[np.isin(self.bone, _FOOT)] = SHOES
        r[self.hair] = HAIR
        return r

    def colours(self, outfit: Outfit) -> np.ndarray:
        """(V, 3) float32 RGB in [0, 1]."""
        return outfit.palette()[self.regions(outfit)]


def body_regions(body: BodyModel) -> BodyRegions:
    """Garment regions from the skinning weights (which bone moves a vertex) and, for hair, the rest
    pose (head vertices above the eyes or behind the ears)."""
    weights = body.smpl.lbs_weights.detach().cpu().numpy()
    bone = weights.argmax(1)
    rest = body.rest_vertices()[0].detach().cpu().numpy()
    joints = body.rest_joints()[0].detach().cpu().numpy()
    head = joints[_HEAD]
    top = rest[bone == _HEAD, 1].max()
    # Rest frame: Y up, facing +Z. Hair covers the top of the skull and the back of the head.
    crown = rest[:, 1] > head[1] + 0.45 * (top - head[1])
    back = (rest[:, 2] < head[2] - 0.02) & (rest[:, 1] > head[1] - 0.02)
    hair = (bone == _HEAD) & (crown | back)
    return BodyRegions(bone=bone, hair=hair)


@dataclass(frozen=True)
class Lighting:
    key_direction: tuple[float, float, float]  # camera frame, from the light towards the scene
    key_intensity: float
    fill_intensity: float
    ambient: float
    specular: float


def random_lighting(rng: np.random.Generator) -> Lighting:
    # Key light from somewhere in front of the person, above more often than below.
    az = rng.uniform(-1.2, 1.2)
    el = rng.uniform(-0.2, 1.0)
    d = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])  # +y is down
    return Lighting(
        key_direction=tuple(float(x) for x in d),
        key_intensity=float(rng.uniform(0.55, 1.0)),
        fill_intensity=float(rng.uniform(0.15, 0.45)),
        ambient=float(rng.uniform(0.1, 0.3)),
        specular=float(rng.uniform(0.0, 0.3)),
    )


DEFAULT_LIGHTING = Lighting((0.3, 0.5, 0.81), 0.85, 0.35, 0.2, 0.15)


@dataclass
class RenderOutput:
    image: np.ndarray  # (H, W, 3) uint8 RGB, the person composited over the background
    depth: np.ndarray  # (H, W) float32 camera-frame z in metres, inf where there is no body
    alpha: np.ndarray  # (H, W) float32 coverage of the body, anti-aliased edges
    render_ms: float

    @property
    def mask(self) -> np.ndarray:
        return np.isfinite(self.depth)


def vertical_view_angle(focal: float, image_height: int) -> float:
    """VTK's view angle (vertical field of view, degrees) for a focal length in px."""
    return math.degrees(2.0 * math.atan(0.5 * image_height / focal))


class PersonRenderer:
    """One off-screen VTK window reused across renders: only the mesh points, colours, lights and
    camera change per image (creating a window costs ~1 s, a render ~50 ms at 512 px)."""

    def __init__(self, faces: np.ndarray, image_wh: tuple[int, int], supersample: int = 2) -> None:
        import pyvista as pv  # heavy; only calibration and tests render

        self.image_wh = (int(image_wh[0]), int(image_wh[1]))
        # Rendering at 2x and averaging gives anti-aliased edges and alpha without relying on the
        # GL driver's MSAA (llvmpipe's is unreliable off-screen).
        self.supersample = int(supersample)
        w, h = self.image_wh
        faces = np.asarray(faces, np.int64)
        self._n_vertices = int(faces.max()) + 1
        cells = np.hstack([np.full((len(faces), 1), 3, np.int64), faces]).ravel()
        self._mesh = pv.PolyData(np.zeros((self._n_vertices, 3), np.float32), cells)
        self._mesh.point_data["rgb"] = np.full((self._n_vertices, 3), 200, np.uint8)
        self._plotter = pv.Plotter(off_screen=True, window_size=[w * self.supersample, h * self.supersample])
        self._plotter.set_background((0.0, 0.0, 0.0))
        # smooth_shading puts a normals filter between the mesh and the mapper, so changing the
        # mesh's points re-computes normals on the next render.
        self._actor = self._plotter.add_mesh(self._mesh, scalars="rgb", rgb=True, smooth_shading=True,
                                             split_sharp_edges=False, show_scalar_bar=False)
        self._plotter.remove_all_lights()
        self._key = pv.Light(light_type="camera light")
        self._fill = pv.Light(light_type="headlight")
        self._plotter.add_light(self._key)
        self._plotter.add_light(self._fill)
        self._closed = False

    @property
    def plotter(self) -> pv.Plotter:
        return self._plotter

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._plotter.close()

    def __enter__(self) -> PersonRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _set_camera(self, focal: float, vertices: np.ndarray) -> tuple[float, float]:
        # VTK's own setters: pyvista's reset the clipping range on each, which updates the whole
        # pipeline (the normals filter included) four times a render, ~13% of data generation.
        cam = self._plotter.camera
        cam.SetPosition(0.0, 0.0, 0.0)
        cam.SetFocalPoint(0.0, 0.0, 1.0)
        cam.SetViewUp(0.0, -1.0, 0.0)  # OpenCV: image y grows downwards
        cam.SetViewAngle(vertical_view_angle(focal, self.image_wh[1]))
        z = vertices[:, 2]
        near = max(0.02, float(z.min()) * 0.8)
        far = float(z.max()) * 1.25 + 0.1
        cam.SetClippingRange(near, far)
        return near, far

    def _set_lights(self, light: Lighting) -> None:
        # Camera lights are given in camera coordinates where VTK's camera looks down -z with +y up,
        # i.e. (x, -y, -z) of ours; the position is where the light comes from.
        d = np.asarray(light.key_direction, np.float64)
        self._key.position = (float(-d[0]), float(d[1]), float(d[2]))
        self._key.focal_point = (0.0, 0.0, 0.0)
        self._key.intensity = light.key_intensity
        self._fill.intensity = light.fill_intensity
        prop = self._actor.prop
        prop.ambient = light.ambient
        prop.diffuse = 0.9
        prop.specular = light.specular
        prop.specular_power = 12.0

    def _read_depth(self, near: float, far: float) -> np.ndarray:
        """Camera z (metres) per rendered pixel, inf where nothing was drawn. Reads the z-buffer
        directly (pyvista's get_image_depth goes through an image filter, ~8x slower, and resets
        the clipping range unless told not to)."""
        from vtkmodules.util.numpy_support import vtk_to_numpy
        from vtkmodules.vtkCommonCore import vtkFloatArray

        cam_near, cam_far = self._plotter.camera.clipping_range
        if abs(cam_near - near) > 1e-6 or abs(cam_far - far) > 1e-6:
            raise RuntimeError("VTK changed the clipping range; depth would be wrong")
        rw = self._plotter.render_window
        w, h = rw.GetSize()
        buf = vtkFloatArray()
        rw.GetZbufferData(0, 0, w - 1, h - 1, buf)
        z = vtk_to_numpy(buf).reshape(h, w)[::-1]  # OpenGL rows run bottom-up
        # Perspective z-buffer in [0, 1] back to eye-space distance along the optical axis.
        depth = 2.0 * near * far / (far + near - (2.0 * z - 1.0) * (far - near))
        return np.where(z < 1.0, depth, np.inf).astype(np.float32)

    def render(self, vertices: np.ndarray, focal: float, colours: np.ndarray | None = None,
               background: np.ndarray | None = None, lighting: Lighting = DEFAULT_LIGHTING,
               with_depth: bool = True) -> RenderOutput:
        """vertices (V, 3) camera frame, metres, all in front of the camera (z > 0); colours (V, 3)
        RGB in [0, 1] (or uint8); background (H, W, 3) uint8 or None for mid grey. Without depth the
        returned depth is inf everywhere (reading the z-buffer costs about a quarter of a render)."""
        if self._closed:
            raise RuntimeError("renderer is closed")
        t0 = time.perf_counter()
        w, h = self.image_wh
        v = np.asarray(vertices, np.float32)
        if v.shape != (self._n_vertices, 3):
            raise ValueError(f"expected ({self._n_vertices}, 3) vertices, got {v.shape}")
        if float(v[:, 2].min()) <= 0:
            raise ValueError("the body must lie in front of the camera (z > 0)")
        self._mesh.points = v
        if colours is not None:
            c = np.asarray(colours)
            c = (np.clip(c, 0, 1) * 255).round().astype(np.uint8) if c.dtype != np.uint8 else c
            self._mesh.point_data["rgb"] = c
        self._mesh.Modified()
        near, far = self._set_camera(float(focal), v)
        self._set_lights(lighting)
        self._plotter.render()
        rgba = np.asarray(self._plotter.screenshot(transparent_background=True, return_img=True))
        depth_hi = self._read_depth(near, far) if with_depth else None

        s = self.supersample
        rgb = rgba[..., :3].astype(np.float32)
        alpha = rgba[..., 3].astype(np.float32) / 255.0
        if s > 1:
            # Average premultiplied colour and coverage; depth takes the nearest sample so the mask
            # covers every pixel the body touches.
            rgb = cv2.resize(rgb * alpha[..., None], (w, h), interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)
            rgb = rgb / np.maximum(alpha[..., None], 1e-6)
            depth = (np.minimum.reduce([depth_hi[i::s, j::s] for i in range(s) for j in range(s)])
                     if depth_hi is not None else np.full((h, w), np.inf, np.float32))
        else:
            depth = depth_hi if depth_hi is not None else np.full((h, w), np.inf, np.float32)
        if background is None:
            background = np.full((h, w, 3), 128, np.uint8)
        if background.shape != (h, w, 3):
            raise ValueError(f"background must be ({h}, {w}, 3), got {background.shape}")
        out = rgb * alpha[..., None] + background.astype(np.float32) * (1.0 - alpha[..., None])
        image = np.clip(out, 0, 255).round().astype(np.uint8)
        return RenderOutput(image=image, depth=depth.astype(np.float32), alpha=alpha.astype(np.float32),
                            render_ms=(time.perf_counter() - t0) * 1000.0)


# A shared renderer per (topology, size) so that `render_person` calls stay cheap.
_SHARED: dict[tuple[int, int, int, int], PersonRenderer] = {}


def _close_shared() -> None:
    while _SHARED:
        _SHARED.popitem()[1].close()


atexit.register(_close_shared)


def shared_renderer(faces: np.ndarray, image_wh: tuple[int, int]) -> PersonRenderer:
    faces = np.asarray(faces)
    key = (len(faces), int(faces.max()) + 1, int(image_wh[0]), int(image_wh[1]))
    if key not in _SHARED:
        _SHARED[key] = PersonRenderer(faces, image_wh)
    return _SHARED[key]


def render_person(vertices: np.ndarray, faces: np.ndarray, focal: float, image_wh: tuple[int, int],
                  background: np.ndarray | None = None, colours: np.ndarray | None = None,
                  seed: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 picture of the body through our pinhole camera. Without colours, a clay
    colour; with a seed, random lighting (reproducible)."""
    renderer = shared_renderer(faces, image_wh)
    if colours is None:
        colours = np.tile(np.float32([0.78, 0.66, 0.58]), (len(vertices), 1))
    lighting = DEFAULT_LIGHTING if seed is None else random_lighting(np.random.default_rng(seed))
    return renderer.render(vertices, focal, colours, background, lighting).image


# --- backgrounds ----------------------------------------------------------------------------------

BACKGROUND_KINDS = ("grey", "gradient", "noise", "shapes", "stripes", "room")


def _random_colour(rng: np.random.Generator, sat: tuple[float, float] = (0.0, 0.7),
                   val: tuple[float, float] = (0.2, 0.95)) -> np.ndarray:
    return np.asarray(hsv_colour(rng.random(), rng.uniform(*sat), rng.uniform(*val)), np.float32) * 255


def _gradient(wh: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    w, h = wh
    a, b = _random_colour(rng), _random_colour(rng)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        ang = rng.uniform(0, 2 * math.pi)
        t = (xx * math.cos(ang) + yy * math.sin(ang))
    else:  # radial (a vignette or a lamp)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = np.hypot(xx - cx, yy - cy)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    return a * (1 - t[..., None]) + b * t[..., None]


def _value_noise(wh: tuple[int, int], rng: np.random.Generator, octaves: int = 4) -> np.ndarray:
    w, h = wh
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    cells = int(rng.integers(2, 6))
    for _ in range(octaves):
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
        cells *= 2
    return np.clip(out / total, 0, 1)


def normal_grain(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of standard deviation `sigma`, float32, one fresh draw per value. The rendered
    benchmark scenes (bench, bench-live-accuracy) and the noise calibration use this stream, so their
    images stay the ones their published figures were measured on."""
    return rng.normal(0, sigma, shape).astype(np.float32)


_GRAIN_BANK_SIZE = 1 << 22
_grain_bank: np.ndarray | None = None


def banked_grain(shape: tuple[int, ...], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The same noise for bulk data: a window of a fixed bank of 4 M standard normals at an offset
    drawn from `rng` (so still fixed by `rng`). A fresh draw per pixel took a sixth of the
    detector-data generator's time; within one image the values are still independent, and images
    share stretches of the bank only at random offsets."""
    global _grain_bank
    n = int(np.prod(shape))
    if n > _GRAIN_BANK_SIZE // 2:
        return normal_grain(shape, sigma, rng)
    if _grain_bank is None:
        _grain_bank = np.random.default_rng(20261201).standard_normal(_GRAIN_BANK_SIZE, dtype=np.float32)
    start = int(rng.integers(0, _GRAIN_BANK_SIZE - n))
    return _grain_bank[start:start + n].reshape(shape) * np.float32(sigma)


def make_background(kind: str, wh: tuple[int, int], rng: np.random.Generator,
                    grain=normal_grain) -> np.ndarray:
    """(H, W, 3) uint8 synthetic background: plain grey, gradients, smooth noise, random shapes,
    stripes, or a crude room (floor, wall and a few boxes)."""
    w, h = int(wh[0]), int(wh[1])
    if kind == "grey":
        img = np.full((h, w, 3), rng.uniform(70, 200), np.float32)
    elif kind == "gradient":
        img = _gradient((w, h), rng)
    elif kind == "noise":
        n = _value_noise((w, h), rng)[..., None]
        img = _random_colour(rng) * (1 - n) + _random_colour(rng) * n
    elif kind == "shapes":
        img = np.ascontiguousarray(_gradient((w, h), rng))
        for _ in range(int(rng.integers(5, 25))):
            c = tuple(float(x) for x in _random_colour(rng))
            p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            r = int(rng.integers(10, max(11, h // 3)))
            pick = rng.random()
            if pick < 0.4:
                q = (p[0] + int(rng.integers(-r, r)) * 2, p[1] + int(rng.integers(-r, r)) * 2)
                cv2.rectangle(img, p, q, c, -1)
            elif pick < 0.75:
                cv2.circle(img, p, r, c, -1, lineType=cv2.LINE_AA)
            else:
                q = (int(rng.integers(0, w)), int(rng.integers(0, h)))
                cv2.line(img, p, q, c, int(rng.integers(2, 12)), lineType=cv2.LINE_AA)
    elif kind == "stripes":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ang = rng.uniform(0, math.pi)
        period = rng.uniform(8, h / 3)
        t = (xx * math.cos(ang) + yy * math.sin(ang)) / period
        s = (np.sin(2 * math.pi * t) > 0).astype(np.float32) if rng.random() < 0.6 else 0.5 + 0.5 * np.sin(2 * math.pi * t)
        img = _random_colour(rng) * (1 - s[..., None]) + _random_colour(rng) * s[..., None]
    elif kind == "room":
        horizon = int(h * rng.uniform(0.45, 0.85))
        wall = _random_colour(rng, (0.0, 0.3), (0.5, 0.95))
        floor = _random_colour(rng, (0.0, 0.5), (0.2, 0.7))
        img = np.empty((h, w, 3), np.float32)
        img[:horizon] = wall
        shade = np.linspace(0.75, 1.1, h - horizon, dtype=np.float32)[:, None, None]
        img[horizon:] = floor * shade
        img *= 0.85 + 0.3 * _value_noise((w, h), rng, 3)[..., None]
        for _ in range(int(rng.integers(0, 5))):  # furniture, frames, doors
            x0, bw = int(rng.integers(0, w)), int(rng.integers(w // 12, w // 3))
            y1 = horizon + int(rng.integers(-h // 10, h // 10))
            y0 = y1 - int(rng.integers(h // 10, h // 2))
            cv2.rectangle(img, (x0, y0), (x0 + bw, y1), tuple(float(x) for x in _random_colour(rng)), -1)
    else:
        raise ValueError(f"unknown background kind {kind!r}; one of {BACKGROUND_KINDS}")
    img = img + grain(img.shape, rng.uniform(1, 6), rng)  # sensor grain
    if kind != "grey":
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 2.5))  # out of focus
    return np.clip(img, 0, 255).astype(np.uint8)


def photo_background(photo: np.ndarray, wh: tuple[int, int], rng: np.random.Generator,
                     avoid: list[tuple[float, float, float, float]] = (), tries: int = 30) -> np.ndarray | None:
    """A random crop of a photo, resized to wh, that overlaps none of the `avoid` boxes (people
    already in the photo) by more than 5% of its area; None when no such crop is found."""
    w, h = int(wh[0]), int(wh[1])
    ph, pw = photo.shape[:2]
    for _ in range(tries):
        scale = rng.uniform(0.25, 1.0) * min(pw / w, ph / h)
        cw, ch = int(w * scale), int(h * scale)
        if cw < 32 or ch < 32:
            continue
        x0, y0 = int(rng.integers(0, pw - cw + 1)), int(rng.integers(0, ph - ch + 1))
        overlap = 0.0
        for bx0, by0, bx1, by1 in avoid:
            ix = max(0.0, min(x0 + cw, bx1) - max(x0, bx0))
            iy = max(0.0, min(y0 + ch, by1) - max(y0, by0))
            overlap += ix * iy
        if overlap > 0.05 * cw * ch:
            continue
        crop = photo[y0:y0 + ch, x0:x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_AREA if scale > 1 else cv2.INTER_LINEAR)
    return None


def degrade(image: np.ndarray, rng: np.random.Generator, grain=normal_grain) -> np.ndarray:
    """Camera-like imperfections: slight blur, sensor noise, JPEG compression."""
    img = image.astype(np.float32)
    if rng.random() < 0.7:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
    img += grain(img.shape, rng.uniform(0.5, 4.0), rng)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 95))])
        if ok:
            out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out

