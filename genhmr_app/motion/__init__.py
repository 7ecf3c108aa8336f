"""Video → motion: tracks, offline smoothing, world placement, foot contacts (no Qt)."""
