"""Image checks and the crop/resize geometry between the caller's image and what the model sees.

Coordinates are continuous pixels with the origin at the top-left corner of the top-left pixel
(pixel i spans [i, i+1)), which is what MediaPipe's normalised coordinates times the image size
give. In that convention a crop-and-resize is an exact affine map, so landmarks found on a crop
of a downscaled image land back on the right original pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def check_image(image: np.ndarray) -> np.ndarray:
    """Validate an (H,W), (H,W,1), (H,W,3) RGB or (H,W,4) RGBA uint8 array; returns it unchanged.

    Channel conversion happens later, on the (usually much smaller) crop we actually feed the model,
    so a 12000x12000 RGBA input never gets a full-size RGB copy.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (0-255), got dtype {image.dtype}; "
                         "convert with np.clip(x * 255, 0, 255).astype(np.uint8) or similar")
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        pass
    elif image.ndim != 2:
        raise ValueError(f"image must be (H,W), (H,W,3) RGB or (H,W,4) RGBA, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty: shape {image.shape}")
    return image


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Greyscale/RGBA -> contiguous RGB uint8 (the layout mediapipe.Image(SRGB) needs)."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    if channels == 4:
        # Alpha is dropped, not composited: what is under transparent pixels is the caller's business.
        return np.ascontiguousarray(image[:, :, :3])
    return np.ascontiguousarray(image)


@dataclass(frozen=True)
class Region:
    """A crop of the original image (integer px, x1/y1 exclusive) and the size it is resized to."""

    x0: int
    y0: int
    x1: int
    y1: int
    out_w: int
    out_h: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def scale(self) -> float:
        """Model pixels per original pixel (< 1 means the crop was shrunk)."""
        return self.out_w / self.width

    def to_original(self, x_norm: np.ndarray, y_norm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.x0 + x_norm * self.width, self.y0 + y_norm * self.height

    def extract(self, image: np.ndarray) -> np.ndarray:
        """Crop, resize and convert to contiguous RGB uint8."""
        crop = image[self.y0:self.y1, self.x0:self.x1]
        if (self.out_w, self.out_h) != (self.width, self.height):
            # INTER_AREA avoids aliasing when shrinking huge photos; LINEAR is the sane upscaler.
            shrinking = self.out_w < self.width
            crop = cv2.resize(crop, (self.out_w, self.out_h),
                              interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        return to_rgb(crop)


def fit_region(x0: int, y0: int, x1: int, y1: int, max_side: int, min_side: int = 0) -> Region:
    """Region for the crop [x0,x1)x[y0,y1) resized so its long side is within [min_side, max_side]."""
    w, h = x1 - x0, y1 - y0
    long_side = max(w, h)
    s = 1.0
    if long_side > max_side:
        s = max_side / long_side
    elif min_side and long_side < min_side:
        s = min(min_side, max_side) / long_side
    out_w = max(1, int(round(w * s)))
    out_h = max(1, int(round(h * s)))
    return Region(x0, y0, x1, y1, out_w, out_h)


def square_crop(cx: float, cy: float, side: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Square around (cx, cy) shifted (not shrunk) to stay inside the image where it fits."""
    side = int(round(min(side, max(width, height))))
    sw, sh = min(side, width), min(side, height)
    x0 = int(round(cx - sw / 2))
    y0 = int(round(cy - sh / 2))
    x0 = min(max(x0, 0), width - sw)
    y0 = min(max(y0, 0), height - sh)
    return x0, y0, x0 + sw, y0 + sh


def tile_crops(width: int, height: int, fraction: float = 2 / 3, overlap: float = 0.25
               ) -> list[tuple[int, int, int, int]]:
    """Overlapping square-ish tiles with sides `fraction` of the image's short side.

    A tile makes a small person a bigger share of the detector's square input than the letterboxed
    full image does: 2/3 tiles grow them ~1.5x, 1/3 tiles ~3x. Overlap lets any person that fits
    in `overlap` of a tile appear whole in at least one tile.
    """
    short = min(width, height)
    side = max(1, int(round(short * fraction)))
    step = max(1, int(round(side * (1 - overlap))))

    def starts(extent: int) -> list[int]:
        if extent <= side:
            return [0]
        out = list(range(0, extent - side, step))
        out.append(extent - side)
        return sorted(set(out))

    tw, th = min(side, width), min(side, height)
    return [(x, y, x + tw, y + th) for y in starts(height) for x in starts(width)]


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
