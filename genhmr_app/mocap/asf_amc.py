"""Acclaim ASF/AMC (CMU) reader with forward kinematics.

Written here instead of using fairmotion: fairmotion pins old numpy/torch, and the Acclaim FK is
short. Semantics follow the Acclaim spec: a bone rotates about its start; its global rotation is
parent @ C @ M @ C⁻¹ with C from the bone's `axis` line and M from the AMC dof values (both composed
X, then Y, then Z about fixed axes: M = Rz Ry Rx); its end is start + length · R @ direction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .clip import MocapClip, MocapFormatError
from .rotations import euler_to_matrix

INCH = 0.0254


@dataclass
class AsfBone:
    name: str
    direction: np.ndarray
    length: float
    axis_deg: np.ndarray
    axis_order: str
    dof: list[str] = field(default_factory=list)
    parent: str = "root"


@dataclass
class AsfSkeleton:
    bones: dict[str, AsfBone]
    order: list[str]  # bones with each parent before its children
    length_unit_m: float  # metres per ASF length unit
    angle_in_degrees: bool
    root_order: list[str]
    root_axis: str
    root_position: np.ndarray
    root_orientation: np.ndarray


def _matrix_from_axis(angles_deg: np.ndarray, order: str) -> np.ndarray:
    # "axis 0 0 20 XYZ" means rotate about X, then Y, then Z (fixed axes): R = Rz Ry Rx.
    return euler_to_matrix(order[::-1], angles_deg[["XYZ".index(c) for c in order[::-1]]])


def parse_asf(path: str | Path) -> AsfSkeleton:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise MocapFormatError(f"{path.name}: cannot read ({exc})") from exc
    section = None
    length_unit = 1.0
    angle_deg = True
    root_order: list[str] = []
    root_axis = "XYZ"
    root_pos = np.zeros(3)
    root_ori = np.zeros(3)
    bones: dict[str, AsfBone] = {}
    cur: dict | None = None
    children: dict[str, list[str]] = {}
    try:
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(":"):
                head = line.split()
                section = head[0]
                continue
            tok = line.split()
            if section == ":units":
                if tok[0] == "length":
                    # One ASF unit is 1/length inches (CMU: 0.45 → 1/0.45 in).
                    length_unit = INCH / float(tok[1])
                elif tok[0] == "angle":
                    angle_deg = tok[1].lower().startswith("deg")
            elif section == ":root":
                if tok[0] == "order":
                    root_order = [t.upper() for t in tok[1:]]
                elif tok[0] == "axis":
                    root_axis = tok[1].upper()
                elif tok[0] == "position":
                    root_pos = np.array([float(t) for t in tok[1:4]])
                elif tok[0] == "orientation":
                    root_ori = np.array([float(t) for t in tok[1:4]])
            elif section == ":bonedata":
                if tok[0] == "begin":
                    cur = {"dof": []}
                elif tok[0] == "end":
                    if cur is None or "name" not in cur:
                        raise MocapFormatError(f"{path.name}: bone block without a name")
                    bones[cur["name"]] = AsfBone(
                        name=cur["name"],
                        direction=np.array(cur["direction"]),
                        length=float(cur["length"]),
                        axis_deg=np.array(cur["axis"]),
                        axis_order=cur["axis_order"],
                        dof=cur["dof"],
                    )
                    cur = None
                elif cur is not None:
                    key = tok[0]
                    if key == "name":
                        cur["name"] = tok[1]
                    elif key == "direction":
                        cur["direction"] = [float(t) for t in tok[1:4]]
                    elif key == "length":
                        cur["length"] = float(tok[1])
                    elif key == "axis":
                        cur["axis"] = [float(t) for t in tok[1:4]]
                        cur["axis_order"] = tok[4].upper()
                    elif key == "dof":
                        cur["dof"] = [t.lower() for t in tok[1:]]
            elif section == ":hierarchy":
                if tok[0] in ("begin", "end"):
                    continue
                children.setdefault(tok[0], []).extend(tok[1:])
    except (IndexError, ValueError, KeyError) as exc:
        raise MocapFormatError(f"{path.name}: malformed ASF ({exc!r})") from exc
    if not bones or not children:
        raise MocapFormatError(f"{path.name}: no bones or no hierarchy")
    order: list[str] = []
    queue = ["root"]
    while queue:
        p = queue.pop(0)
        for c in children.get(p, []):
            if c not in bones:
                raise MocapFormatError(f"{path.name}: hierarchy names unknown bone {c!r}")
            bones[c].parent = p
            order.append(c)
            queue.append(c)
    return AsfSkeleton(bones, order, length_unit, angle_deg, root_order, root_axis, root_pos, root_ori)


def parse_amc(path: str | Path, skel: AsfSkeleton) -> dict[str, np.ndarray]:
    """Per-bone (T, n_dof) arrays, plus 'root' (T, 6) in the ASF root order."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise MocapFormatError(f"{path.name}: cannot read ({exc})") from exc
    expected = {name: len(b.dof) for name, b in skel.bones.items() if b.dof}
    expected["root"] = len(skel.root_order)
    frames: list[dict[str, list[float]]] = []
    cur: dict[str, list[float]] | None = None
    for ln_no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith(":"):
            continue
        tok = line.split()
        if len(tok) == 1 and tok[0].isdigit():
            cur = {}
            frames.append(cur)
            continue
        if cur is None:
            raise MocapFormatError(f"{path.name}:{ln_no}: data before the first frame number")
        name = tok[0]
        if name not in expected:
            raise MocapFormatError(f"{path.name}:{ln_no}: unknown bone {name!r}")
        if len(tok) - 1 != expected[name]:
            raise MocapFormatError(
                f"{path.name}:{ln_no}: {name} has {len(tok) - 1} values, the ASF declares {expected[name]}"
            )
        try:
            cur[name] = [float(t) for t in tok[1:]]
        except ValueError as exc:
            raise MocapFormatError(f"{path.name}:{ln_no}: non-numeric value ({exc})") from exc
    if not frames:
        raise MocapFormatError(f"{path.name}: no frames")
    incomplete = [i for i, f in enumerate(frames) if set(f) != set(expected)]
    if incomplete:
        raise MocapFormatError(
            f"{path.name}: {len(incomplete)} frame(s) miss bones (first: frame {incomplete[0] + 1}; truncated?)"
        )
    out = {name: np.array([f[name] for f in frames], dtype=np.float64) for name in expected}
    bad = [n for n, a in out.items() if not np.all(np.isfinite(a))]
    if bad:
        raise MocapFormatError(f"{path.name}: NaN/inf values in {bad[:3]}")
    return out


def asf_amc_forward_kinematics(
    skel: AsfSkeleton, motion: dict[str, np.ndarray] | None, n_frames: int = 1
) -> tuple[list[str], list[int], np.ndarray, np.ndarray]:
    """Joint names, parents, world positions (T, J, 3) in metres and orientations (T, J, 3, 3).

    Joint 'root' is the root; joint <bone> sits at the bone's start (the point it rotates about, like a
    BVH joint); leaf bones add '<bone>_End' at their tip. Orientations are rest-relative (identity in the
    ASF rest pose, a T-pose facing +Z for CMU), with each bone's `axis` frame conjugated in.
    `motion=None` gives the rest pose.
    """
    t = n_frames if motion is None else next(iter(motion.values())).shape[0]
    names = ["root"]
    parents = [-1]
    idx = {"root": 0}
    unit = skel.length_unit_m
    conv = 1.0 if skel.angle_in_degrees else 180.0 / np.pi

    # Root: its dof values are in `order`; its C comes from `orientation` about `axis`.
    root_vals = motion["root"] if motion is not None else np.zeros((t, len(skel.root_order)))
    trans = np.tile(skel.root_position, (t, 1)).astype(np.float64)
    rot_vals = {"X": np.zeros(t), "Y": np.zeros(t), "Z": np.zeros(t)}
    for k, ch in enumerate(skel.root_order):
        if ch.startswith("T"):
            trans[:, "XYZ".index(ch[1])] = root_vals[:, k]
        elif ch.startswith("R"):
            rot_vals[ch[1]] = root_vals[:, k] * conv
    axis_order = skel.root_axis
    m = euler_to_matrix(axis_order[::-1], np.stack([rot_vals[c] for c in axis_order[::-1]], -1))
    c_root = _matrix_from_axis(skel.root_orientation, axis_order)
    pos_list = [trans * unit]
    rot_list = [c_root @ m @ c_root.T]
    end_of = {"root": pos_list[0]}

    children = {b: [] for b in skel.order}
    for b in skel.order:
        if skel.bones[b].parent in children:
            children[skel.bones[b].parent].append(b)

    for b in skel.order:
        bone = skel.bones[b]
        p_rot = rot_list[idx[bone.parent]]
        start = end_of[bone.parent]
        vals = {"x": np.zeros(t), "y": np.zeros(t), "z": np.zeros(t)}
        if motion is not None and bone.dof:
            for k, d in enumerate(bone.dof):
                if d in ("rx", "ry", "rz"):
                    vals[d[1]] = motion[b][:, k] * conv
        order = bone.axis_order
        m = euler_to_matrix(order[::-1].lower(), np.stack([vals[c.lower()] for c in order[::-1]], -1))
        c = _matrix_from_axis(bone.axis_deg, order)
        r = p_rot @ (c @ m @ c.T)
        idx[b] = len(names)
        names.append(b)
        parents.append(idx[bone.parent])
        pos_list.append(start)
        rot_list.append(r)
        end = start + np.einsum("tij,j->ti", r, bone.direction * bone.length * unit)
        end_of[b] = end
        if not children[b]:
            names.append(f"{b}_End")
            parents.append(idx[b])
            pos_list.append(end)
            rot_list.append(r)
    return names, parents, np.stack(pos_list, 1), np.stack(rot_list, 1)


def read_asf_amc(asf_path: str | Path, amc_path: str | Path, dataset: str, fps: float = 120.0,
                 skeleton: AsfSkeleton | None = None) -> MocapClip:
    """CMU clips are 120 fps; AMC files do not store the rate."""
    skel = skeleton or parse_asf(asf_path)
    motion = parse_amc(amc_path, skel)
    names, parents, pos, rot = asf_amc_forward_kinematics(skel, motion)
    _, _, rest_pos, rest_rot = asf_amc_forward_kinematics(skel, None)
    return MocapClip(
        name=Path(amc_path).stem,
        dataset=dataset,
        joint_names=names,
        parents=parents,
        fps=fps,
        positions=pos,
        rotations=rot,
        rest_positions=rest_pos[0],
        rest_rotations=rest_rot[0],
        source_path=Path(amc_path),
    )
