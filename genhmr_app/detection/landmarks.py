"""Landmark sets: MediaPipe Pose's 33 points, COCO-17, and the index map between them.

Kept free of MediaPipe imports so that drawing and evaluation code can use the constants cheaply.
"Left"/"right" are the person's own sides, as in both MediaPipe and COCO.
"""

from __future__ import annotations

import numpy as np

MP33_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye_inner", "left_eye", "left_eye_outer",
    "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear",
    "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
    "left_pinky", "right_pinky",
    "left_index", "right_index",
    "left_thumb", "right_thumb",
    "left_hip", "right_hip",
    "left_knee", "right_knee",
    "left_ankle", "right_ankle",
    "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)
MP33_INDEX: dict[str, int] = {n: i for i, n in enumerate(MP33_NAMES)}

# Same list as mediapipe's PoseLandmarksConnections.POSE_LANDMARKS (checked in the tests).
MP33_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 7), (0, 4), (4, 5), (5, 6), (6, 8), (9, 10),
    (11, 12), (11, 13), (13, 15), (15, 17), (15, 19), (15, 21), (17, 19),
    (12, 14), (14, 16), (16, 18), (16, 20), (16, 22), (18, 20),
    (11, 23), (12, 24), (23, 24), (23, 25), (24, 26), (25, 27), (26, 28),
    (27, 29), (28, 30), (29, 31), (30, 32), (27, 31), (28, 32),
)

COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)

# COCO-17 joint k is MediaPipe landmark COCO17_FROM_MP33[k]. Note MediaPipe's hips sit slightly
# higher and wider apart than COCO annotators place them (FACTS), so hips carry a small bias.
COCO17_FROM_MP33: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)

# The usual COCO drawing skeleton, 0-based.
COCO17_EDGES: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
    (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)


def _side_indices(names: tuple[str, ...], prefix: str) -> tuple[int, ...]:
    return tuple(i for i, n in enumerate(names) if n.startswith(prefix))


# For colouring a skeleton by side.
MP33_LEFT = _side_indices(MP33_NAMES, "left_")
MP33_RIGHT = _side_indices(MP33_NAMES, "right_")
COCO17_LEFT = _side_indices(COCO17_NAMES, "left_")
COCO17_RIGHT = _side_indices(COCO17_NAMES, "right_")

# Index pairs swapped when an image is mirrored (test-time flip, augmentation).
MP33_FLIP_PAIRS: tuple[tuple[int, int], ...] = tuple(
    (i, MP33_INDEX["right_" + n[5:]]) for i, n in enumerate(MP33_NAMES) if n.startswith("left_")
) + ((MP33_INDEX["mouth_left"], MP33_INDEX["mouth_right"]),)


def _flip_index() -> tuple[int, ...]:
    index = list(range(len(MP33_NAMES)))
    for a, b in MP33_FLIP_PAIRS:
        index[a], index[b] = b, a
    return tuple(index)


# The same as a permutation: points[..., MP33_FLIP_INDEX, :] are the mirrored image's landmarks.
MP33_FLIP_INDEX: tuple[int, ...] = _flip_index()


def mp33_to_coco17(points: np.ndarray) -> np.ndarray:
    """Select the COCO-17 subset of a (..., 33, C) array, keeping leading and trailing axes."""
    points = np.asarray(points)
    if points.ndim < 2 or points.shape[-2] != 33:
        raise ValueError(f"expected (..., 33, C) landmarks, got shape {points.shape}")
    return points[..., COCO17_FROM_MP33, :]
