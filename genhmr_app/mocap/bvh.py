"""A small vectorised BVH reader with forward kinematics.

Our own parser rather than bvhio for the bulk work: bvhio poses one frame at a time in Python, which is
minutes for the ~120k Bandai frames, while FK over all frames at once in numpy is a fraction of a
second. tests/test_mocap.py checks that both agree on a Bandai clip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .clip import MocapClip, MocapFormatError
from .rotations import euler_to_matrix

_VALID_CHANNELS = {"Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation"}


@dataclass
class _Joint:
    name: str
    parent: int
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)
    is_end: bool = False


def _parse_hierarchy(tokens: list[str], path: Path) -> tuple[list[_Joint], int]:
    """Returns the joints in file order (parents before children) and the index after HIERARCHY."""
    joints: list[_Joint] = []
    stack: list[int] = []
    i = 0
    if not tokens or tokens[0] != "HIERARCHY":
        raise MocapFormatError(f"{path.name}: no HIERARCHY header")
    i = 1
    pending: _Joint | None = None
    try:
        while i < len(tokens):
            tok = tokens[i]
            if tok in ("ROOT", "JOINT"):
                name = tokens[i + 1]
                pending = _Joint(name=name, parent=stack[-1] if stack else -1, offset=np.zeros(3))
                i += 2
            elif tok == "End":
                # "End Site": a leaf point with an offset but no channels; named after its parent.
                parent = stack[-1]
                pending = _Joint(name=f"{joints[parent].name}_End", parent=parent, offset=np.zeros(3), is_end=True)
                i += 2
            elif tok == "{":
                if pending is None:
                    raise MocapFormatError(f"{path.name}: '{{' without a joint")
                joints.append(pending)
                stack.append(len(joints) - 1)
                pending = None
                i += 1
            elif tok == "}":
                stack.pop()
                i += 1
            elif tok == "OFFSET":
                joints[stack[-1]].offset = np.array([float(t) for t in tokens[i + 1 : i + 4]])
                i += 4
            elif tok == "CHANNELS":
                n = int(tokens[i + 1])
                chans = tokens[i + 2 : i + 2 + n]
                bad = [c for c in chans if c not in _VALID_CHANNELS]
                if bad or len(chans) != n:
                    raise MocapFormatError(f"{path.name}: joint {joints[stack[-1]].name}: bad CHANNELS {chans}")
                joints[stack[-1]].channels = chans
                i += 2 + n
            elif tok == "MOTION":
                if stack:
                    raise MocapFormatError(f"{path.name}: unbalanced braces in HIERARCHY")
                return joints, i + 1
            else:
                raise MocapFormatError(f"{path.name}: unexpected token {tok!r} in HIERARCHY")
    except (IndexError, ValueError) as exc:
        if isinstance(exc, MocapFormatError):
            raise
        raise MocapFormatError(f"{path.name}: malformed HIERARCHY ({exc})") from exc
    raise MocapFormatError(f"{path.name}: no MOTION section (truncated?)")


@dataclass
class BvhData:
    joints: list[_Joint]
    fps: float
    motion: np.ndarray  # (T, C) raw channel values


def parse_bvh(path: str | Path) -> BvhData:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise MocapFormatError(f"{path.name}: cannot read ({exc})") from exc
    head, sep, body = text.partition("MOTION")
    if not sep:
        raise MocapFormatError(f"{path.name}: no MOTION section (truncated?)")
    joints, _ = _parse_hierarchy(head.split() + ["MOTION"], path)
    if not joints:
        raise MocapFormatError(f"{path.name}: no joints")
    lines = body.strip().splitlines()
    if len(lines) < 2 or not lines[0].startswith("Frames:") or not lines[1].startswith("Frame Time:"):
        raise MocapFormatError(f"{path.name}: missing 'Frames:'/'Frame Time:' lines")
    try:
        n_frames = int(lines[0].split(":")[1])
        frame_time = float(lines[1].split(":")[1])
    except ValueError as exc:
        raise MocapFormatError(f"{path.name}: bad frame header ({exc})") from exc
    if not (frame_time > 0 and math.isfinite(frame_time)):
        raise MocapFormatError(f"{path.name}: bad frame time {frame_time}")
    n_chan = sum(len(j.channels) for j in joints)
    rows = [ln for ln in lines[2:] if ln.strip()]
    if len(rows) < n_frames:
        raise MocapFormatError(f"{path.name}: truncated: header says {n_frames} frames, file has {len(rows)}")
    rows = rows[:n_frames]
    counts = {len(r.split()) for r in rows}
    if counts != {n_chan}:
        raise MocapFormatError(
            f"{path.name}: frames have {sorted(counts)} values but the hierarchy declares {n_chan} channels"
        )
    try:
        motion = np.array(" ".join(rows).split(), dtype=np.float64).reshape(n_frames, n_chan)
    except ValueError as exc:
        raise MocapFormatError(f"{path.name}: non-numeric motion data ({exc})") from exc
    if not np.all(np.isfinite(motion)):
        bad = int(np.argmax(~np.all(np.isfinite(motion), axis=1)))
        raise MocapFormatError(f"{path.name}: NaN/inf in motion data (first at frame {bad})")
    if n_frames == 0:
        raise MocapFormatError(f"{path.name}: no frames")
    return BvhData(joints=joints, fps=1.0 / frame_time, motion=motion)


def bvh_forward_kinematics(data: BvhData, frames: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """World positions (T, J, 3) and orientations (T, J, 3, 3) in file units.

    Position channels replace the OFFSET (Bandai writes them on every joint with values equal to
    the offset, so adding both would double every bone).
    """
    motion = data.motion if frames is None else data.motion[frames]
    t = motion.shape[0]
    n = len(data.joints)
    pos = np.zeros((t, n, 3))
    rot = np.zeros((t, n, 3, 3))
    col = 0
    for j, joint in enumerate(data.joints):
        vals = motion[:, col : col + len(joint.channels)]
        col += len(joint.channels)
        trans = np.broadcast_to(joint.offset, (t, 3)).copy()
        rot_order = ""
        rot_idx = []
        for k, ch in enumerate(joint.channels):
            if ch.endswith("position"):
                trans[:, "XYZ".index(ch[0])] = vals[:, k]
            else:
                rot_order += ch[0]
                rot_idx.append(k)
        local = euler_to_matrix(rot_order, vals[:, rot_idx]) if rot_order else np.broadcast_to(np.eye(3), (t, 3, 3))
        if joint.parent < 0:
            pos[:, j] = trans
            rot[:, j] = local
        else:
            rp = rot[:, joint.parent]
            pos[:, j] = pos[:, joint.parent] + np.einsum("tij,tj->ti", rp, trans)
            rot[:, j] = rp @ local
    return pos, rot


def read_bvh(path: str | Path, dataset: str, scale: float, name: str | None = None) -> MocapClip:
    """Read a BVH into a MocapClip in metres (`scale` converts file units to metres)."""
    path = Path(path)
    data = parse_bvh(path)
    pos, rot = bvh_forward_kinematics(data)
    zero = BvhData(joints=data.joints, fps=data.fps, motion=np.zeros((1, data.motion.shape[1])))
    rest_pos, rest_rot = bvh_forward_kinematics(zero)
    return MocapClip(
        name=name or path.stem,
        dataset=dataset,
        joint_names=[j.name for j in data.joints],
        parents=[j.parent for j in data.joints],
        fps=data.fps,
        positions=pos * scale,
        rotations=rot,
        rest_positions=rest_pos[0] * scale,
        rest_rotations=rest_rot[0],
        source_path=path,
    )
