"""More looks at one still: MediaPipe's tracking pass, run on the same image.

Why: in IMAGE mode MediaPipe crops the person where its person detector boxes them; in VIDEO mode,
from the second frame on, it crops where the last frame's landmarks put them, which fits the body
better, and it smooths each landmark over the frames. Shown the same still again, the crop converges
onto the person and the 2D landmarks get closer to the truth.

The twenty-fifth session ran that through MediaPipe's VIDEO-mode landmarker (a blank frame to drop
whoever it tracked, the still, the still again: about 90 ms a still). The twenty-sixth does the same
steps directly (detection/landmark_pass.py: the landmark network on the tracker's region) with
MediaPipe's landmark filter, with no reset and no second detection: one pass is one network forward
(~18 ms, one thread). Rendered validation scenes (298, paired, fit only): one pass −1.61 mm (−2.59 to
−0.64), two −1.54 (−2.26 to −0.82); the VIDEO-mode route with two passes gave −1.29. Annotated photos,
our keypoints placed as the detector places them: 7.15 → 7.06% (one) / 6.13% (two) of the person's
height; MPI-INF-3DHP 111.2 → 111.5 / 119.4 mm.
"""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from genhmr_app.detection.detector import DetectedPerson, DetectorError
from genhmr_app.detection.landmark_pass import LandmarkPass, region_from_landmarks33, region_from_points

# A tracking pass whose median landmark lies further than this share of the person's height from the
# first look found someone else (or lost them): its landmarks are not used.
SAME_PERSON_SHARE = 0.1
# Below this pose score the network says nobody is in its region: MediaPipe's tracker drops the person
# there (min_tracking_confidence's default), and so do we.
MIN_POSE_SCORE = 0.5
# MediaPipe's pose landmark filters in VIDEO mode (pose_landmark_filtering): One-Euro on the landmarks
# (min cutoff Hz, beta, derivative cutoff Hz) and a slower one on the two auxiliary points that place
# the next region. Its frames are a video's; ours are the same still, fed at 30 frames a second.
LANDMARK_FILTER = (0.05, 80.0, 1.0)
AUXILIARY_FILTER = (0.01, 10.0, 1.0)
FRAME_S = 1 / 30


class LandmarkFilter:
    """MediaPipe's OneEuroFilter (landmarks_smoothing_calculator), on an array of pixel coordinates.

    Velocities are taken relative to the object's scale (the mean of the landmarks' box width and
    height), as MediaPipe does, so the filter behaves the same for a small and a large person."""

    def __init__(self, min_cutoff: float, beta: float, derivative_cutoff: float) -> None:
        self.min_cutoff, self.beta, self.derivative_cutoff = min_cutoff, beta, derivative_cutoff
        self._time: float | None = None
        self._rate = 1 / FRAME_S
        self._value: np.ndarray | None = None
        self._raw: np.ndarray | None = None
        self._speed: np.ndarray | None = None

    def _alpha(self, cutoff: np.ndarray | float) -> np.ndarray | float:
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau * self._rate)

    def __call__(self, time_s: float, value: np.ndarray, object_scale: float) -> np.ndarray:
        value = np.asarray(value, np.float64)
        if self._time is not None:
            self._rate = 1.0 / (time_s - self._time)
        self._time = time_s
        speed = (np.zeros_like(value) if self._raw is None
                 else (value - self._raw) / max(object_scale, 1e-6) * self._rate)
        a = self._alpha(self.derivative_cutoff)
        self._speed = speed if self._speed is None else a * speed + (1 - a) * self._speed
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._speed))
        self._value = value if self._value is None else a * value + (1 - a) * self._value
        self._raw = value
        return self._value


@dataclass(frozen=True)
class TrackedLook:
    landmarks_px: np.ndarray  # (33, 2) float32 px, filtered over the passes as in VIDEO mode
    confidence: np.ndarray  # (33,) float32 the last pass's heatmap peak for each landmark


def object_scale(points_px: np.ndarray) -> float:
    return float(np.ptp(points_px[:, 0]) + np.ptp(points_px[:, 1])) / 2


class StillTracker:
    """MediaPipe's tracking passes on a still, for the one person of its first look."""

    def __init__(self, network: LandmarkPass | None = None) -> None:
        self._network = network
        self._failure: DetectorError | None = None  # why the network could not be loaded: not retried
        self._lock = threading.Lock()

    def network(self) -> LandmarkPass:
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._network is None:
                try:
                    self._network = LandmarkPass()
                except ImportError as exc:  # ai-edge-litert is a runtime dependency (requirements.txt)
                    self._failure = DetectorError(f"the tracking pass needs ai-edge-litert ({exc})")
                except (OSError, ValueError, KeyError, RuntimeError, zipfile.BadZipFile) as exc:
                    self._failure = DetectorError(f"the pose landmark network could not be loaded for the tracking pass: {exc}")
                if self._failure is not None:
                    raise self._failure
            return self._network

    def look(self, rgb: np.ndarray, person: DetectedPerson, passes: int,
             on_pass: Callable[[int, TrackedLook], None] | None = None) -> TrackedLook | None:
        """The landmarks after `passes` tracking passes on `rgb` for `person` (MediaPipe's IMAGE-mode look
        at it, the first frame), or None when a pass found someone else or nobody. `on_pass(k, look)`
        hears each earlier pass's look (k = 1 .. passes - 1) as soon as it is made, so a caller can start
        on it while the next pass runs."""
        if passes < 1:
            return None
        network = self.network()
        first = person.landmarks_px.astype(np.float64)
        points = LandmarkFilter(*LANDMARK_FILTER)
        auxiliary = LandmarkFilter(*AUXILIARY_FILTER)
        height = float(np.ptp(first[:, 1]))
        time_s = 0.0
        smoothed = points(time_s, first, object_scale(first))
        # The Tasks API reports no auxiliary points, so the first pass's region comes from the 33.
        region = region_from_landmarks33(first)
        for done in range(passes):
            time_s += FRAME_S
            look = network.run(rgb, region)
            lost = look.pose_score < MIN_POSE_SCORE or not np.isfinite(look.landmarks_px).all()
            if lost or np.median(np.linalg.norm(look.landmarks_px - first, axis=-1)) > SAME_PERSON_SHARE * height:
                return None
            scale = object_scale(look.landmarks_px)
            smoothed = points(time_s, look.landmarks_px, scale)
            region = region_from_points(*auxiliary(time_s, look.auxiliary_px, scale))
            if on_pass is not None and done + 1 < passes:
                on_pass(done + 1, TrackedLook(smoothed.astype(np.float32), look.confidence))
        return TrackedLook(smoothed.astype(np.float32), look.confidence)

    def close(self) -> None:
        with self._lock:
            if self._network is not None:
                self._network.close()
                self._network = None
