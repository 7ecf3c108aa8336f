"""Where MediaPipe puts its landmarks on a body: one fixed offset per landmark, in the frames of the
body's own bones.

Why: the body model's keypoints (body/keypoints.py) are its joints, bone centres, while MediaPipe was
taught where people annotate joints. On renders of the training poses (the detector data) MediaPipe's
shoulders sit about 3 cm above and inside the shoulder joints, its ankles 3 cm up the shin, its hips
inside and above the hip joints, its ears 6 cm out from the head's centre line. A fit that pulls the
body's own keypoints onto the detector's carries those offsets into the pose: shrugged collars, bent
knees. Fitting the detector-placed keypoints instead (the body's keypoint plus these offsets) leaves the
joints where they belong. Seventeenth session, rendered validation scenes (not the bench's): MPJPE
92.9 → 90.1 mm (590 scenes), 101.7 → 99.3 (118), 2D error 13.9 → 13.2 px.

Each landmark's offset is expressed in two frames, its own joint's and that joint's parent's (for the
knee: the shin's and the thigh's), because which bone carries the detector's habit differs by
landmark; both are rest-pose vectors in metres, so they turn with the bones. Fitted by least squares on
the training detector data (training/calibrate_placement.py); the numbers live in
weights/detector/landmark_placement.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genhmr_app.body.keypoints import SMPL_JOINT_NAMES
from genhmr_app.body.model import BodyModel
from genhmr_app.body.sparse import SparseBody
from genhmr_app.checkpoints import read_optional_json, save_json_atomically
from genhmr_app.detection.landmarks import MP33_NAMES
from genhmr_app.paths import WEIGHTS_DIR

PLACEMENT_FORMAT = "genhmr-landmark-placement/1"
PLACEMENT_PATH = WEIGHTS_DIR / "detector" / "landmark_placement.json"
_JOINT = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


class PlacementError(ValueError):
    """A landmark-placement file that cannot be used (unreadable, wrong format, unknown names)."""


Matrix = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
NO_VIEW: Matrix = ((0.0, 0.0, 0.0),) * 3


@dataclass(frozen=True)
class LandmarkOffset:
    joint: str  # the SMPL joint whose frame carries `offset_m`
    offset_m: tuple[float, float, float]
    parent: str  # the SMPL joint whose frame carries `parent_offset_m`
    parent_offset_m: tuple[float, float, float]
    # The view-dependent part, in metres per unit of the direction to the camera in the same frames:
    # offset = offset_m + view_m @ to_camera (the side of the limb the detector sees moves its point).
    view_m: Matrix = NO_VIEW
    parent_view_m: Matrix = NO_VIEW


@dataclass(frozen=True)
class LandmarkPlacement:
    """Per MediaPipe landmark (by its MP33 name): where the detector puts it relative to the body's keypoint."""

    landmarks: dict[str, LandmarkOffset]
    source: str = ""
    metrics: dict = field(default_factory=dict)  # what the fit measured (written by the calibration)

    def rest_offsets(self, num_joints: int = len(SMPL_JOINT_NAMES)) -> torch.Tensor:
        """(33, num_joints, 3): offset of landmark k in the rest frame of joint j (body/sparse.py folds it
        into the keypoints' per-joint rest vectors, so keypoints and their Jacobian both carry it)."""
        return self._per_joint(num_joints, "offset_m", "parent_offset_m", (3,))

    def keypoint_body(self, body: BodyModel, **kwargs) -> SparseBody:
        """A SparseBody of `body` (SparseBody's options) whose MediaPipe keypoints carry this placement."""
        joints = len(body.parents)
        return SparseBody(body, landmark_offsets=self.rest_offsets(joints), landmark_view_offsets=self.view_offsets(joints),
                          **kwargs)

    def view_offsets(self, num_joints: int = len(SMPL_JOINT_NAMES)) -> torch.Tensor | None:
        """(33, num_joints, 3, 3): the view-dependent offsets' matrices per joint frame; None when all are zero."""
        out = self._per_joint(num_joints, "view_m", "parent_view_m", (3, 3))
        return out if bool(out.any()) else None

    def _per_joint(self, num_joints: int, own: str, parent: str, shape: tuple[int, ...]) -> torch.Tensor:
        """(33, num_joints, *shape): each landmark's `own` field at its joint, its `parent` field at the parent."""
        out = torch.zeros(len(MP33_NAMES), num_joints, *shape)
        for k, name in enumerate(MP33_NAMES):
            entry = self.landmarks.get(name)
            if entry is not None:
                out[k, _JOINT[entry.joint]] += torch.tensor(getattr(entry, own))
                out[k, _JOINT[entry.parent]] += torch.tensor(getattr(entry, parent))
        return out

    def to_json(self) -> dict:
        def rounded(values) -> list:
            return [rounded(v) for v in values] if isinstance(values, (tuple, list)) else round(values, 5)

        return {"format": PLACEMENT_FORMAT, "source": self.source, "metrics": self.metrics,
                "landmarks": {name: {"joint": o.joint, "offset_m": rounded(o.offset_m), "view_m": rounded(o.view_m),
                                     "parent": o.parent, "parent_offset_m": rounded(o.parent_offset_m),
                                     "parent_view_m": rounded(o.parent_view_m)}
                              for name, o in self.landmarks.items()}}

    def save(self, path: Path = PLACEMENT_PATH) -> None:
        save_json_atomically(path, self.to_json(), indent=1)

    @classmethod
    def from_json(cls, data: dict, origin: str = "landmark placement") -> LandmarkPlacement:
        if not isinstance(data, dict) or data.get("format") != PLACEMENT_FORMAT:
            raise PlacementError(f"{origin}: not a {PLACEMENT_FORMAT} file")
        landmarks = {}
        for name, entry in (data.get("landmarks") or {}).items():
            try:
                offset = LandmarkOffset(str(entry["joint"]), _vector(entry["offset_m"]), str(entry["parent"]),
                                        _vector(entry["parent_offset_m"]), _matrix(entry.get("view_m", NO_VIEW)),
                                        _matrix(entry.get("parent_view_m", NO_VIEW)))
            except (KeyError, TypeError, ValueError) as exc:
                raise PlacementError(f"{origin}: landmark {name!r} is malformed ({exc})") from exc
            unknown = [j for j in (offset.joint, offset.parent) if j not in _JOINT]
            if name not in MP33_NAMES or unknown:
                raise PlacementError(f"{origin}: unknown landmark {name!r} or joint(s) {unknown}")
            sizes = offset.offset_m + offset.parent_offset_m + sum(offset.view_m + offset.parent_view_m, ())
            if max(abs(v) for v in sizes) > 0.3:
                raise PlacementError(f"{origin}: landmark {name!r} is moved by more than 30 cm; not a placement")
            landmarks[name] = offset
        return cls(landmarks, str(data.get("source", "")), dict(data.get("metrics") or {}))

    @classmethod
    def load(cls, path: Path = PLACEMENT_PATH) -> LandmarkPlacement | None:
        """The placement in `path`, or None (with a warning) when there is none: the keypoints are then
        the body's own, with only the hips shifted (detection/error_model.py)."""
        data = read_optional_json(path, PlacementError, "no landmark placement at %s: fitting the body's own "
                                  "keypoints to the detector's (run `python main.py calibrate-placement` to measure it)")
        return None if data is None else cls.from_json(data, str(path))


def _vector(value) -> tuple[float, float, float]:
    out = tuple(float(v) for v in value)
    if len(out) != 3 or any(not math.isfinite(v) for v in out):
        raise ValueError("expected three finite numbers")
    return out  # type: ignore[return-value]


def _matrix(value) -> Matrix:
    rows = tuple(_vector(row) for row in value)
    if len(rows) != 3:
        raise ValueError("expected a 3 x 3 matrix")
    return rows  # type: ignore[return-value]
