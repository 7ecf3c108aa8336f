"""Offline 2D pose detection (MediaPipe Pose Landmarker, full model, bundled in `weights/detector/`).

`PoseDetector` is the entry point; `bundle` rebuilds the .task file from the Apache-2.0 MediaPipe
wheel. This package imports no Qt so the core and the tests can use it headless.
"""

from genhmr_app.detection.detector import (
    DEFAULT_TASK_PATH,
    DetectedPerson,
    DetectionResult,
    DetectorError,
    PoseDetector,
)

__all__ = [
    "DEFAULT_TASK_PATH",
    "DetectedPerson",
    "DetectionResult",
    "DetectorError",
    "PoseDetector",
]
