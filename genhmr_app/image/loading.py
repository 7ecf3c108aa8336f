"""Decode any image a user may drop on the app into an 8-bit RGB array, or fail with a clear message.

Pillow does the decoding because it honours EXIF orientation and understands 16-bit, palette,
greyscale and alpha modes; OpenCV's imread silently drops or mangles several of these.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

# Photos from modern cameras and stitched panoramas can exceed Pillow's default bomb limit
# (~179 MP raises); 400 MP still fits comfortably in memory as uint8 RGB (1.2 GB).
MAX_PIXELS = 400_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class ImageLoadError(Exception):
    """An image that cannot be used; the message is meant for the user."""


@dataclass(frozen=True)
class LoadedImage:
    rgb: np.ndarray  # (H, W, 3) uint8, EXIF orientation already applied
    path: Path | None
    source_mode: str  # Pillow mode before conversion, e.g. "I;16", "RGBA", "L"
    exif_transposed: bool

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def _to_rgb8(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # Scale high bit depth by its real range: a 16-bit PNG that only uses 0..4095 would
        # otherwise come out nearly black.
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        grey = np.clip(arr, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Composite on white rather than dropping alpha: transparent pixels often hold junk colours.
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(canvas, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def load_image(path: str | Path) -> LoadedImage:
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(f"File not found: {path}")
    if path.is_dir():
        raise ImageLoadError(f"{path} is a folder, not an image")
    if path.stat().st_size == 0:
        raise ImageLoadError(f"{path.name} is empty (0 bytes)")
    try:
        with Image.open(path) as img:
            source_mode = img.mode
            orientation = img.getexif().get(0x0112, 1)
            img.load()  # force a full decode here so truncation is caught now, not later
            img = ImageOps.exif_transpose(img) or img
            rgb = _to_rgb8(img)
    except UnidentifiedImageError:
        raise ImageLoadError(f"{path.name} is not an image Pillow can read") from None
    except Image.DecompressionBombError:
        raise ImageLoadError(f"{path.name} is larger than {MAX_PIXELS // 1_000_000} megapixels") from None
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports truncated/corrupt data as OSError ("image file is truncated") or SyntaxError.
        raise ImageLoadError(f"{path.name} is damaged or truncated ({exc})") from None
    except MemoryError:
        raise ImageLoadError(f"{path.name} is too large to decode in memory") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 8:
        raise ImageLoadError(f"{path.name} has an unusable size {rgb.shape[:2]}")
    log.debug("loaded %s (%s, %dx%d)", path, source_mode, rgb.shape[1], rgb.shape[0])
    return LoadedImage(np.ascontiguousarray(rgb), path, source_mode, orientation not in (0, 1))


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
