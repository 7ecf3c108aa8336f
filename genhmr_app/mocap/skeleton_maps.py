"""How each source skeleton's joints stand in for SMPL-24 joints.

For every SMPL joint: where it sits (a source joint or a blend of two), which source joint's
orientation drives the SMPL bones leaving it (or a slerp of two, to spread a bend the source makes in
one joint over SMPL joints it lacks), and, for limbs, which SMPL bone is aimed exactly at the source's
bone (`aim`); twist about that bone comes from the orientation. A BVH/ASF joint rotates the bones that leave
it, as SMPL's do, so SMPL joint k takes the rotation of the source joint at the same place.
"""

from __future__ import annotations

from dataclasses import dataclass

from .smpl_skeleton import SMPL_JOINT_NAMES, J


@dataclass(frozen=True)
class JointSource:
    pos: tuple[tuple[str, float], ...]  # weighted sum of source joint positions
    rot: tuple[tuple[str, float], ...] | None  # ((a, 1-t), (b, t)) slerp; one entry = that joint
    aim: tuple[int, int] | None  # SMPL (from, to) joints whose rest bone is aimed at the source bone


@dataclass(frozen=True)
class SkeletonMap:
    name: str
    joints: tuple[JointSource, ...]  # 24, in SMPL order
    rest_is_tpose: bool  # the all-zero-channel pose is a T-pose facing +Z (CMU ASF), so it calibrates
    # Joint frames are axis-aligned with the body in a T-pose (Bandai: bone along local X, hinge axis
    # along local Y, ...). Calibration then snaps each T-posed frame built from a reference frame to
    # the nearest axis permutation, so the actor's incidental twists in that frame drop out.
    axis_aligned_frames: bool = False
    # Measure knee/elbow hinge axes in the data and twist limbs onto SMPL's (off for sources that
    # already use SMPL's joint frames).
    align_hinges: bool = True

    def source_joint_names(self) -> set[str]:
        out = set()
        for js in self.joints:
            out.update(n for n, _ in js.pos)
            if js.rot:
                out.update(n for n, _ in js.rot)
        return out


def _js(pos, rot=None, aim=None) -> JointSource:
    def blend(spec):
        if spec is None:
            return None
        if isinstance(spec, str):
            return ((spec, 1.0),)
        a, b, t = spec
        return ((a, 1.0 - t), (b, t))

    rot = pos if rot is None else rot
    aim_idx = None if aim is None else (J[aim[0]], J[aim[1]])
    return JointSource(pos=blend(pos), rot=blend(rot), aim=aim_idx)


def _default_aim(name: str) -> tuple[str, str] | None:
    """Limbs are aimed exactly at the source's bones; the torso, neck, head and collars are not.

    Aiming a torso bone makes the SMPL joint absorb the difference between the two skeletons' rest
    shapes (a CMU clavicle rises 20 degrees where SMPL's is level; Anny's neck leans forward 19 degrees
    where a mocap neck is upright), which shows up as a constant local rotation in every frame. Left to
    the calibrated orientation they carry only the motion relative to the shared reference pose.
    """
    child = {
        "l_hip": "l_knee", "r_hip": "r_knee", "l_knee": "l_ankle", "r_knee": "r_ankle",
        "l_ankle": "l_foot", "r_ankle": "r_foot", "l_shoulder": "l_elbow", "r_shoulder": "r_elbow",
        "l_elbow": "l_wrist", "r_elbow": "r_wrist", "l_wrist": "l_hand", "r_wrist": "r_hand",
    }  # fmt: skip
    if name == "pelvis":
        # The hip line: the pelvis has three children of different proportions in each skeleton, and
        # its heading and roll are best read from the hips, its tilt from the source's orientation.
        return ("r_hip", "l_hip")
    c = child.get(name)
    return None if c is None else (name, c)


def _build(
    name: str, rest_is_tpose: bool, table: dict[str, tuple], axis_aligned_frames: bool = False, align_hinges: bool = True
) -> SkeletonMap:
    joints = []
    for smpl_name in SMPL_JOINT_NAMES:
        entry = table[smpl_name]
        pos, rot = entry[0], entry[1] if len(entry) > 1 else None
        aim = entry[2] if len(entry) > 2 else _default_aim(smpl_name)
        joints.append(_js(pos, rot, aim))
    return SkeletonMap(name=name, joints=tuple(joints), rest_is_tpose=rest_is_tpose,
                       axis_aligned_frames=axis_aligned_frames, align_hinges=align_hinges)  # fmt: skip


def _sided(table: dict[str, tuple], side_fmt: dict[str, tuple]) -> dict[str, tuple]:
    """Expand '{s}'/'{S}' templates to both sides (SMPL l_/r_ ↔ source-specific side tags)."""
    out = dict(table)
    for smpl_side, (s, S) in (("l", ("l", "L")), ("r", ("r", "R"))):
        for key, entry in side_fmt.items():

            def fmt(v):
                if isinstance(v, str):
                    return v.format(s=s, S=S, side="Left" if S == "L" else "Right")
                if isinstance(v, tuple) and len(v) == 3 and isinstance(v[2], float):
                    return (fmt(v[0]), fmt(v[1]), v[2])
                return v

            out[f"{smpl_side}_{key}"] = tuple(fmt(v) for v in entry)
    return out


# Bandai-Namco: Hips → Spine → Chest → Neck → Head; Chest → Shoulder_* → UpperArm → LowerArm → Hand;
# Hips → UpperLeg → LowerLeg → Foot → Toes. Two spine bones for SMPL's three: Chest's bend is spread
# half onto spine2 (slerp) and fully onto spine3.
BANDAI = _build(
    "bandai",
    rest_is_tpose=False,
    axis_aligned_frames=True,
    table=_sided(
        {
            "pelvis": ("Hips",),
            "spine1": ("Spine",),
            "spine2": ("Chest", ("Spine", "Chest", 0.5), None),
            "spine3": (("Chest", "Neck", 0.3), "Chest"),
            "neck": ("Neck",),
            "head": ("Head",),
        },
        {
            "hip": ("UpperLeg_{S}",),
            "knee": ("LowerLeg_{S}",),
            "ankle": ("Foot_{S}",),
            "foot": ("Toes_{S}",),
            "collar": ("Shoulder_{S}",),
            "shoulder": ("UpperArm_{S}",),
            "elbow": ("LowerArm_{S}",),
            "wrist": ("Hand_{S}",),
            "hand": ("Hand_{S}_End", "Hand_{S}"),
        },
    ),
)

# CMU ASF: root → lowerback → upperback → thorax → lowerneck → upperneck → head; thorax → *clavicle →
# *humerus → *radius → *wrist → *hand → *fingers; root → *hipjoint → *femur → *tibia → *foot → *toes.
# A joint named after a bone sits at that bone's start. CMU's `*wrist` bone is the distal forearm
# (its only dof is twist), so SMPL's wrist is at the start of `*hand`, and the elbow takes half the
# forearm twist.
CMU_ASF = _build(
    "cmu-asf",
    rest_is_tpose=True,
    table=_sided(
        {
            "pelvis": ("root",),
            "spine1": ("upperback",),
            "spine2": ("thorax", "thorax", None),
            "spine3": (("thorax", "lowerneck", 0.25), "thorax"),
            "neck": ("lowerneck", ("lowerneck", "upperneck", 0.5)),
            "head": ("head",),
        },
        {
            "hip": ("{s}femur",),
            "knee": ("{s}tibia",),
            "ankle": ("{s}foot",),
            "foot": ("{s}toes",),
            "collar": ("{s}clavicle",),
            "shoulder": ("{s}humerus",),
            "elbow": ("{s}radius", ("{s}radius", "{s}wrist", 0.5)),
            "wrist": ("{s}hand",),
            "hand": ("{s}fingers",),
        },
    ),
)

# The common "cgspeed" BVH conversion of CMU: same bones, BVH names; it drops the thorax and wrist
# lengths (Neck sits on Spine1, LeftFingerBase on LeftHand), so positions there differ from the ASF.
CMU_BVH = _build(
    "cmu-bvh",
    rest_is_tpose=False,  # frame 0 of these files is a reference pose, but not SMPL's T-pose
    table=_sided(
        {
            "pelvis": ("Hips",),
            "spine1": ("Spine",),
            "spine2": ("Spine1", "Spine1", None),
            "spine3": (("Neck", "Neck1", 0.3), "Spine1"),
            "neck": ("Neck1",),
            "head": ("Head",),
        },
        {
            "hip": ("{side}UpLeg",),
            "knee": ("{side}Leg",),
            "ankle": ("{side}Foot",),
            "foot": ("{side}ToeBase",),
            "collar": ("{side}Shoulder",),
            "shoulder": ("{side}Arm",),
            "elbow": ("{side}ForeArm", ("{side}ForeArm", "{side}Hand", 0.5)),
            "wrist": ("{side}FingerBase",),
            "hand": ("{S}Fingers",),
        },
    ),
)

# SMPL-24 itself (joints named as SMPL_JOINT_NAMES), e.g. SMPL-format motion moved onto another rest
# skeleton's proportions; its rest pose is SMPL's T-pose.
SMPL = _build("smpl", rest_is_tpose=True, table={n: (n,) for n in SMPL_JOINT_NAMES}, align_hinges=False)

ALL_MAPS = (BANDAI, CMU_ASF, CMU_BVH, SMPL)


def map_for_joint_names(names: list[str]) -> SkeletonMap:
    have = set(names)
    for m in ALL_MAPS:
        if m.source_joint_names() <= have:
            return m
    raise KeyError(f"no skeleton map fits joints {sorted(have)[:8]}...")
