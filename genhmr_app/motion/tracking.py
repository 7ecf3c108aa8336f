"""Stable person ids across a video's frames.

Each frame gives a list of people (box and camera-frame translation). A track predicts where its
person is next with a constant velocity in the image (so two people who cross keep their ids), and
frames are matched to tracks by the Hungarian algorithm on a cost that mixes:
- the distance between the predicted and the observed box centre, in units of the person's height;
- the change of apparent size (log of the box heights), which separates a near person from a far one.
A track that finds no match keeps predicting for up to `max_gap_frames` (a short occlusion), then ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass(frozen=True)
class TrackerSettings:
    max_gap_frames: int = 8  # a person unseen for longer ends their track
    max_cost: float = 0.9  # no match above this (≈ one body height away)
    size_weight: float = 1.0  # weight of |log(height ratio)| against the centre distance
    velocity_smoothing: float = 0.5  # share of the newest displacement in the velocity estimate


@dataclass
class _Live:
    members: list[tuple[int, int]] = field(default_factory=list)  # (frame, index into that frame's people)
    centre: np.ndarray = field(default_factory=lambda: np.zeros(2))
    height: float = 1.0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # px per frame
    last_frame: int = 0

    def predict(self, frame: int) -> np.ndarray:
        return self.centre + self.velocity * (frame - self.last_frame)

    def update(self, frame: int, index: int, box: np.ndarray, alpha: float) -> None:
        centre, height = _centre(box), _height(box)
        if self.members:
            step = (centre - self.centre) / max(1, frame - self.last_frame)
            self.velocity = alpha * step + (1 - alpha) * self.velocity if len(self.members) > 1 else step
        self.members.append((frame, index))
        self.centre, self.height, self.last_frame = centre, height, frame


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float64)


def _height(box: np.ndarray) -> float:
    return max(float(box[3] - box[1]), 1.0)


def associate(boxes_per_frame: list[list[np.ndarray]], settings: TrackerSettings = TrackerSettings()
              ) -> list[list[tuple[int, int]]]:
    """Boxes (x0, y0, x1, y1) per frame → tracks, each a list of (frame, person index in that frame),
    ordered by first appearance."""
    live: list[_Live] = []
    ended: list[_Live] = []
    for frame, boxes in enumerate(boxes_per_frame):
        still = []
        for t in live:  # drop tracks unseen for too long before they can steal a newcomer
            (still if frame - t.last_frame <= settings.max_gap_frames + 1 else ended).append(t)
        live = still
        matched_tracks: set[int] = set()
        matched_boxes: set[int] = set()
        if live and boxes:
            cost = np.empty((len(live), len(boxes)))
            for i, t in enumerate(live):
                pred = t.predict(frame)
                for j, box in enumerate(boxes):
                    h = _height(box)
                    cost[i, j] = (np.linalg.norm(pred - _centre(box)) / max(t.height, h)
                                  + settings.size_weight * abs(np.log(h / t.height)))
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols):
                if cost[i, j] <= settings.max_cost:
                    live[i].update(frame, int(j), np.asarray(boxes[j], np.float64), settings.velocity_smoothing)
                    matched_tracks.add(i)
                    matched_boxes.add(int(j))
        for j, box in enumerate(boxes):
            if j not in matched_boxes:
                t = _Live()
                t.update(frame, j, np.asarray(box, np.float64), settings.velocity_smoothing)
                live.append(t)
    tracks = sorted(ended + live, key=lambda t: t.members[0])
    return [t.members for t in tracks]
