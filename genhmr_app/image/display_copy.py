"""A frame reduced to the size it is shown at, made off the UI thread.

A live frame (1280x720 from a webcam or a video) is usually shown at half that size or less. Handing
the window the full frame made its UI thread convert 0.9 M pixels to a pixmap and scale them down on
every repaint; a copy at the shown size costs a worker ~1 ms (cv2's area filter, GIL released) and
the window a plain blit.
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
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


__all__ = ["MIN_REDUCTION", "reduced_for_display"]
