"""A frame reduced to the size it is shown at, made off the UI thread.

A live frame (1280x720 from a webcam or a video) is usually shown at half that size or less. Handing
the window the full frame made its UI thread convert 0.9 M pixels to a pixmap and scale them down on
every repaint; a copy at the shown size costs a worker ~1 ms and the window a plain blit.

cv2's area filter is fast only at power-of-two factors: at 0.42 it took 5 ms a 1280x720 frame (14% of
a core at 30 fps). So the copy is made in two steps: the area filter by the largest power-of-two
factor (0.3 ms), then bilinear for the rest, which is under 2x and so does not alias (0.7 ms; a mean
difference of 0.3-0.7 grey levels from the one-step area filter).
"""

from __future__ import annotations

import numpy as np

MIN_REDUCTION = 0.9  # shown at 90% of its size or more: the full frame is drawn as it is


def reduced_for_display(rgb: np.ndarray, shown_scale: float) -> np.ndarray | None:
    """`rgb` at `shown_scale` (screen pixels per image pixel), or None when it is shown about full size."""
    if not 0.0 < shown_scale < MIN_REDUCTION:
        return None
    import cv2

    h, w = rgb.shape[:2]
    size = (max(1, int(np.ceil(w * shown_scale))), max(1, int(np.ceil(h * shown_scale))))
    factor = 1 << int(np.log2(1.0 / shown_scale))  # a power of two: cv2's fast area paths
    if factor >= 2:
        rgb = cv2.resize(rgb, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
        if rgb.shape[1] == size[0] and rgb.shape[0] == size[1]:
            return rgb
    return cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)


__all__ = ["MIN_REDUCTION", "reduced_for_display"]
