"""Small grey image patches around each of MediaPipe's 33 landmarks.

Why: the landmark corrector (detection/landmark_correction.py) reads only what MediaPipe reports, so it
cannot tell a loose sleeve's end from the wrist inside it: on the dressed renders its correction gains
least (thirty-fourth session: (a) − 0.85 × (e) +0.46 mm flat, +1.88 dressed on validation). The image
around each landmark is what could tell them apart. Detector data made with `--patches` keeps these
patches beside the landmarks, so a corrector that reads them can be trained; the same function cuts
them at inference, so training and use see identical patches.

Each patch is a square of PATCH_BOX_SHARE × the person's box's larger side, centred on the landmark,
resampled to PATCH_SIZE² grey pixels (uint8); outside the image it is black.
"""

from __future__ import annotations

import cv2
import numpy as np

PATCH_SIZE = 24  # pixels a side, after resampling
PATCH_BOX_SHARE = 0.16  # the patch's side as a share of the person's box's larger side


def grey_image(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB → (H, W) uint8 grey, the image patches are cut from."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got {rgb.shape}")
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def landmark_patches(image: np.ndarray, landmarks_px: np.ndarray, bbox: tuple[float, float, float, float] | np.ndarray,
                     size: int = PATCH_SIZE, box_share: float = PATCH_BOX_SHARE) -> np.ndarray:
    """image (H, W, 3) uint8 RGB or (H, W) grey (grey_image: convert once to cut several looks);
    landmarks_px (L, 2) px; bbox (x0, y0, x1, y1) px → (L, size, size) uint8.

    One affine warp per landmark (scale and shift only), so a patch covers the same share of the body
    at any image size; non-finite landmarks give black patches."""
    grey = image if image.ndim == 2 else grey_image(image)
    x0, y0, x1, y1 = (float(v) for v in bbox)
    side = max(box_share * max(x1 - x0, y1 - y0), 1.0)
    scale = size / side
    out = np.zeros((len(landmarks_px), size, size), np.uint8)
    for i, (x, y) in enumerate(np.asarray(landmarks_px, np.float64)):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        # Maps the source square centred on (x, y) onto the patch: dst = scale · (src − centre) + size / 2.
        warp = np.array([[scale, 0.0, size / 2 - scale * x], [0.0, scale, size / 2 - scale * y]])
        out[i] = cv2.warpAffine(grey, warp, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out
