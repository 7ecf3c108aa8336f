"""The common in-memory form every mocap reader produces, independent of the file format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class MocapFormatError(ValueError):
    """A mocap file that cannot be read as a whole (truncated, bad channel count, NaN, ...).

    Readers raise it so that dataset loops can skip one bad file with a logged reason and keep going.
    """


@dataclass
class MocapClip:
    """World-space skeleton motion in metres, in the source file's own world axes.

    `rotations` are the joints' global orientations from forward kinematics (local joint frame → world);
    they carry the twist that positions alone cannot, so retargeting prefers them when present.
    `rest_positions`/`rest_rotations` are the skeleton with every channel at zero, which for some
    sources (CMU ASF) is a T-pose and for others (Bandai) is not.
    """

    name: str
    dataset: str
    joint_names: list[str]
    parents: list[int]
    fps: float
    positions: np.ndarray  # (T, J, 3) metres
    rotations: np.ndarray | None = None  # (T, J, 3, 3)
    rest_positions: np.ndarray | None = None  # (J, 3) metres
    rest_rotations: np.ndarray | None = None  # (J, 3, 3)
    source_path: Path | None = None
    label: dict = field(default_factory=dict)
    frames: np.ndarray | None = None  # (T,) frame numbers in the source file; None = 0..T-1

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    def index(self, name: str) -> int:
        return self.joint_names.index(name)

    def frame_numbers(self) -> np.ndarray:
        return np.arange(self.num_frames) if self.frames is None else self.frames

    def take(self, frames: np.ndarray) -> "MocapClip":
        """A copy restricted to the given frame indices (or boolean mask)."""
        return MocapClip(
            name=self.name,
            dataset=self.dataset,
            joint_names=list(self.joint_names),
            parents=list(self.parents),
            fps=self.fps,
            positions=self.positions[frames],
            rotations=None if self.rotations is None else self.rotations[frames],
            rest_positions=self.rest_positions,
            rest_rotations=self.rest_rotations,
            source_path=self.source_path,
            label=dict(self.label),
            frames=self.frame_numbers()[frames],
        )
