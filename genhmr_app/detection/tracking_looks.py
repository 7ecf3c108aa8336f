"""More looks at one still: MediaPipe's tracking passes on the same image.

Why: in IMAGE mode MediaPipe crops the person where its person detector boxes them; in VIDEO mode,
from the second frame on, it crops where the last frame's landmarks put them, which fits the body
better. Shown the same still again, the tracker's crop converges onto the person and its 2D landmarks
get closer to the truth. Twenty-fifth session (scripts/analysis/tracking_pass.py), two tracking passes,
the joint fit pulling onto their landmarks: the annotated real photos' keypoints 7.15 → 6.15% of the
person's height from the annotation (MediaPipe's own 7.06 → 5.91%, better for 8 of 8 people), rendered
validation scenes −1.29 mm (−2.24 to −0.34), MPI-INF-3DHP 111.2 → 112.5 mm. The cost, about 90 ms a
still (a reset, the tracker's own first look, two passes), is why it is an option (ReconstructionSettings.tracking_passes)
for stills that are not timed, off at the defaults.
"""

from __future__ import annotations

import threading

import numpy as np

from genhmr_app.detection.detector import DetectedPerson, PoseDetector

# A tracking pass whose median landmark lies further than this share of the person's height from the
# first look found someone else (or lost them): its landmarks are not used.
SAME_PERSON_SHARE = 0.1


class StillTracker:
    """A VIDEO-mode landmarker that looks at a still again, `passes` times, for the one person in it."""

    def __init__(self) -> None:
        self._detector: PoseDetector | None = None
        self._timestamp = 0
        self._lock = threading.Lock()

    def _next(self, rgb: np.ndarray, gap_ms: int):
        self._timestamp += gap_ms
        return self._detector.detect(rgb, timestamp_ms=self._timestamp)

    def landmarks(self, rgb: np.ndarray, person: DetectedPerson, passes: int) -> np.ndarray | None:
        """(33, 2) px of the last tracking pass on `rgb` for `person` (the IMAGE-mode look at it), or
        None when the tracker lost them or found someone else."""
        if passes < 1:
            return None
        with self._lock:
            if self._detector is None:
                self._detector = PoseDetector(mode="video")
            # A blank frame makes the tracker drop whoever it followed, so the first frame below is
            # found afresh by the person detector, as in IMAGE mode.
            self._next(np.zeros((32, 32, 3), np.uint8), 1000)
            out = self._next(rgb, 33)
            for _ in range(passes):
                out = self._next(rgb, 33)
        if not out.people:
            return None
        tracked = out.people[0].landmarks_px
        height = float(np.ptp(person.landmarks_px[:, 1]))
        if np.median(np.linalg.norm(tracked - person.landmarks_px, axis=-1)) > SAME_PERSON_SHARE * height:
            return None
        return tracked.astype(np.float32)

    def close(self) -> None:
        with self._lock:
            if self._detector is not None:
                self._detector.close()
                self._detector = None
