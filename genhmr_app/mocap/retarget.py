"""World-space source skeleton → SMPL-24 rotations.

Per SMPL joint k the global rotation is the source joint's FK orientation through a calibration
rotation, G_k(t) = R_src(t) · C_k. Limbs are then "swing-corrected": the smallest extra rotation that
aims SMPL's rest bone exactly at the source bone, so limb directions match whatever the two skeletons'
proportions, while twist about the bone still comes from the orientation (positions alone cannot give
it). Torso, neck, head and collars keep the calibrated orientation (see skeleton_maps._default_aim).
Local rotations are parent_globalᵀ · global.

C_k comes from a pose both skeletons share: SMPL's rest T-pose (all rotations identity) and the source
moved into that T-pose. The source T-pose is built from a reference frame (the ASF rest for CMU; a
neutral standing frame for Bandai, whose zero pose is not a T-pose) by turning bones, parent first,
the shortest way onto SMPL's rest directions (parent-first: a bent elbow straightens about its hinge
instead of twisting). What a reference cannot fix, the twist about each limb, is then set twice over:
rigs whose joint frames are axis-aligned with the body (Bandai) are snapped to the nearest axis
permutation by a vote over many references, and knee/elbow frames are turned so the hinge measured in
the data lies on SMPL's hinge axis.

Without source orientations (positions only) each joint inherits its parent's orientation before the
swing, i.e. minimal twist.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .clip import MocapClip, MocapFormatError
from .rotations import normalize, slerp_matrices, swing_rotation
from .skeleton_maps import SkeletonMap, map_for_joint_names
from .smpl_skeleton import J, NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS, smpl_forward_kinematics

log = logging.getLogger(__name__)

MIN_SEGMENT_M = 0.01  # shorter source segments (e.g. zero-length BVH end sites) have no usable direction
# Without orientations, a torso joint can only follow the source by aiming at its child.
_POSITION_ONLY_AIMS = {
    J[a]: (J[a], J[b])
    for a, b in (("spine1", "spine2"), ("spine2", "spine3"), ("spine3", "neck"), ("neck", "head"),
                 ("l_collar", "l_shoulder"), ("r_collar", "r_shoulder"))
}  # fmt: skip


@dataclass
class RetargetedClip:
    global_orient: np.ndarray  # (T, 3, 3) pelvis orientation in SMPL world axes
    body_pose: np.ndarray  # (T, 23, 3, 3) local rotations of joints 1..23
    transl: np.ndarray  # (T, 3) metres; SMPL pelvis = rest_joints[0] + transl = source pelvis
    fps: float
    source: str  # "<dataset>/<clip name>"
    source_joints: np.ndarray  # (T, 24, 3) the source joints standing in for SMPL joints, SMPL axes
    source_valid: np.ndarray  # (24,) bool: that stand-in exists (some sources lack e.g. hand ends)

    @property
    def num_frames(self) -> int:
        return int(self.global_orient.shape[0])

    def joints(self, rest_joints: np.ndarray) -> np.ndarray:
        """SMPL FK joint positions (T, 24, 3) for these rotations on the given rest skeleton."""
        return smpl_forward_kinematics(self.global_orient, self.body_pose, rest_joints, self.transl)[0]


@dataclass
class Calibration:
    skeleton_map: str
    offsets: np.ndarray  # (24, 3, 3) C_k: source joint frame → SMPL joint frame at the shared T-pose
    reference: str  # where the reference pose came from, for logs


# --- axes -----------------------------------------------------------------------------------------


def stand_in_joints(clip: MocapClip, smap: SkeletonMap, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the source points standing in for SMPL joints (..., 24, 3) and validity (24,)."""
    out = np.zeros(positions.shape[:-2] + (NUM_JOINTS, 3))
    valid = np.ones(NUM_JOINTS, dtype=bool)
    for k, js in enumerate(smap.joints):
        for name, w in js.pos:
            out[..., k, :] += w * positions[..., clip.index(name), :]
    # A stand-in that coincides with its SMPL parent's (zero-length end sites) carries no information.
    rest = clip.rest_positions if clip.rest_positions is not None else positions.reshape(-1, *positions.shape[-2:])[0]
    rest_q = np.zeros((NUM_JOINTS, 3))
    for k, js in enumerate(smap.joints):
        for name, w in js.pos:
            rest_q[k] += w * rest[clip.index(name)]
    for k in range(1, NUM_JOINTS):
        if np.linalg.norm(rest_q[k] - rest_q[SMPL_PARENTS[k]]) < MIN_SEGMENT_M and SMPL_JOINT_NAMES[k].endswith("hand"):
            valid[k] = False
    return out, valid


def detect_axes(q: np.ndarray) -> np.ndarray:
    """Orthogonal 3x3 A taking source world axes to SMPL's (Y up, left +X, facing +Z), from the data.

    Up is the world axis closest to the mean pelvis→neck direction. Facing is not fixed here (the
    actor's heading belongs in global_orient); only handedness is. Knees bend only backwards, so in a
    right-handed world thigh × shin points to the body's left (l_hip - r_hip) whenever a knee is bent;
    where the legs never bend, the feet (ankle → toe) pointing along left × up decide. Feet alone mislead
    in running, where the swing foot points backwards. If the cue says mirrored, A includes a reflection.
    """
    up_vec = np.mean(normalize(q[:, J["neck"]] - q[:, J["pelvis"]]), axis=0)
    ax = int(np.argmax(np.abs(up_vec)))
    up = np.zeros(3)
    up[ax] = np.sign(up_vec[ax])
    a = np.round(swing_rotation(up, np.array([0.0, 1.0, 0.0])))  # a signed permutation
    qa = q @ a.T
    left = normalize(qa[:, J["l_hip"]] - qa[:, J["r_hip"]])
    knee = 0.0
    for hip, kn, an in (("l_hip", "l_knee", "l_ankle"), ("r_hip", "r_knee", "r_ankle")):
        thigh = normalize(qa[:, J[kn]] - qa[:, J[hip]])
        shin = normalize(qa[:, J[an]] - qa[:, J[kn]])
        knee += float(np.mean(np.sum(np.cross(thigh, shin) * left, axis=-1)))
    if abs(knee) > 0.02:
        score = knee
    else:
        fwd_expected = np.cross(left, np.array([0.0, 1.0, 0.0]))
        feet = (qa[:, J["l_foot"]] - qa[:, J["l_ankle"]]) + (qa[:, J["r_foot"]] - qa[:, J["r_ankle"]])
        feet[:, 1] = 0.0
        score = float(np.mean(np.sum(normalize(fwd_expected) * normalize(feet), axis=-1)))
    if score < 0:
        log.warning("mocap: source looks mirrored (knees bend forward / feet point back); reflecting Z")
        a = np.diag([1.0, 1.0, -1.0]) @ a
    return a


def _convert(clip: MocapClip, a: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    pos = clip.positions @ a.T
    # Conjugating (rather than left-multiplying) keeps these proper rotations even if A reflects.
    rot = None if clip.rotations is None else a @ clip.rotations @ a.T
    return pos, rot


def _source_rotations(clip: MocapClip, smap: SkeletonMap, rot: np.ndarray) -> np.ndarray:
    out = np.zeros(rot.shape[:-3] + (NUM_JOINTS, 3, 3))
    for k, js in enumerate(smap.joints):
        names = js.rot or js.pos
        r0 = rot[..., clip.index(names[0][0]), :, :]
        if len(names) == 1:
            out[..., k, :, :] = r0
        else:
            r1 = rot[..., clip.index(names[1][0]), :, :]
            out[..., k, :, :] = slerp_matrices(r0, r1, names[1][1])
    return out


# --- calibration ----------------------------------------------------------------------------------


def neutral_frame(q: np.ndarray) -> int:
    """Index of the frame closest to standing upright with arms hanging (q: (T, 24, 3), SMPL axes)."""
    return int(np.argmin(neutral_costs(q)))


def neutral_costs(q: np.ndarray) -> np.ndarray:
    """Per-frame distance from a neutral stance (q: (T, 24, 3) stand-in joints, SMPL axes)."""
    down = np.array([0.0, -1.0, 0.0])
    cost = np.zeros(q.shape[0])
    for a, b in [("l_hip", "l_knee"), ("r_hip", "r_knee"), ("l_knee", "l_ankle"), ("r_knee", "r_ankle"),
                 ("l_shoulder", "l_elbow"), ("r_shoulder", "r_elbow"), ("l_elbow", "l_wrist"),
                 ("r_elbow", "r_wrist"), ("neck", "pelvis")]:  # fmt: skip
        d = normalize(q[:, J[b]] - q[:, J[a]])
        cost += 1.0 - d @ down
    # Feet flat and parallel: ankle→foot horizontal.
    for a, b in [("l_ankle", "l_foot"), ("r_ankle", "r_foot")]:
        d = normalize(q[:, J[b]] - q[:, J[a]])
        cost += np.abs(d[:, 1])
    return cost


@dataclass
class _TPoseEstimate:
    frames: np.ndarray  # (24, 3, 3) source frames (as SMPL joints use them) moved into the T-pose
    r_src: np.ndarray  # (24, 3, 3) the same frames in the reference pose, facing +Z
    q_ref: np.ndarray  # (24, 3) stand-in joints in the reference pose, facing +Z
    where: str


def _tpose_estimate(clip: MocapClip, smap: SkeletonMap, frame: int | None, rest: np.ndarray) -> _TPoseEstimate:
    q_all, valid = stand_in_joints(clip, smap, clip.positions)
    a = detect_axes(q_all)
    if frame is None and smap.rest_is_tpose and clip.rest_positions is not None:
        pos_ref = clip.rest_positions @ a.T
        rot_ref = a @ clip.rest_rotations @ a.T
        where = "rest pose"
    else:
        if frame is None:
            frame = neutral_frame(q_all @ a.T)
        pos_ref = clip.positions[frame] @ a.T
        rot_ref = a @ clip.rotations[frame] @ a.T
        where = f"frame {int(clip.frame_numbers()[frame])}"
    q_ref = stand_in_joints(clip, smap, pos_ref[None])[0][0]
    # Face the reference toward +Z (turn about Y so the hips' left-right axis is +X): bones are swung
    # to SMPL's directions in SMPL's world, so the reference must stand where SMPL stands.
    lat = q_ref[J["l_hip"]] - q_ref[J["r_hip"]]
    yaw = np.arctan2(-lat[2], lat[0])
    c, s = np.cos(yaw), np.sin(yaw)
    turn = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    q_ref = q_ref @ turn.T
    r_src = _source_rotations(clip, smap, turn @ rot_ref)
    swing = np.zeros((NUM_JOINTS, 3, 3))
    for k in range(NUM_JOINTS):
        par = SMPL_PARENTS[k]
        s_par = np.eye(3) if par < 0 else swing[par]
        aim = _usable_aim(smap, k, q_ref, valid)
        if aim is None:
            swing[k] = s_par
        else:
            i, j = aim
            swing[k] = swing_rotation(s_par @ (q_ref[j] - q_ref[i]), rest[j] - rest[i]) @ s_par
    return _TPoseEstimate(swing @ r_src, r_src, q_ref, f"{clip.dataset}/{clip.name} {where}")


def calibrate(
    clip: MocapClip,
    rest_joints: np.ndarray,
    frame: int | None = None,
    skeleton_map: SkeletonMap | None = None,
    hinge_clips: Sequence[MocapClip] | None = None,
    extra_references: Sequence[tuple[MocapClip, int]] = (),
) -> Calibration:
    """Calibration offsets from a reference pose of `clip`.

    frame=None: the ASF rest pose where that is a T-pose, else the clip's most neutral frame.
    hinge_clips: clips (same skeleton) in which to measure knee/elbow hinge axes; default [clip].
    extra_references: more (clip, frame) reference poses; for axis-aligned rigs each joint's snapped
    frame is then a majority vote, so one odd reference (head bowed 45 degrees) cannot flip it.
    """
    smap = skeleton_map or map_for_joint_names(clip.joint_names)
    if clip.rotations is None:
        raise ValueError("calibration needs source joint orientations")
    rest = np.asarray(rest_joints, dtype=np.float64)
    valid = stand_in_joints(clip, smap, clip.positions[:1])[1]
    main = _tpose_estimate(clip, smap, frame, rest)
    t_pose = main.frames.copy()
    if smap.axis_aligned_frames:
        others = [_tpose_estimate(c, smap, f, rest).frames for c, f in extra_references if c.rotations is not None]
        for k in range(NUM_JOINTS):
            votes: dict[bytes, list] = {}
            for est in [main.frames] + others:
                snapped = nearest_axis_rotation(est[k])
                votes.setdefault(snapped.tobytes(), [snapped, 0])[1] += 1
            snapped, count = max(votes.values(), key=lambda v: v[1])
            dev = np.degrees(np.arccos(np.clip((np.trace(snapped.T @ main.frames[k]) - 1) / 2, -1, 1)))
            if count * 2 <= len(others) + 1:
                log.warning("mocap calibration: %s: weak axis snap (%d of %d votes, %.0f deg off)",
                            SMPL_JOINT_NAMES[k], count, len(others) + 1, dev)  # fmt: skip
            aim = _usable_aim(smap, k, main.q_ref, valid)
            if aim is not None:
                # Re-aim exactly at SMPL's rest bone; the snapped twist is kept.
                i, j = aim
                local_bone = main.r_src[k].T @ (main.q_ref[j] - main.q_ref[i])
                snapped = swing_rotation(snapped @ local_bone, rest[j] - rest[i]) @ snapped
            t_pose[k] = snapped
    if smap.align_hinges:
        _align_hinges(t_pose, list(hinge_clips) if hinge_clips else [clip], smap, rest)
    where = main.where + (f" (+{len(extra_references)} references)" if extra_references else "")
    return Calibration(skeleton_map=smap.name, offsets=np.swapaxes(t_pose, -1, -2), reference=where)


# (hinge joint, the bend-plane normal upper × lower in SMPL's T-pose, joint after it, joints whose
# frames turn with the lower segment). Knees bend the shin backwards: +X for both. With palms down in
# the T-pose, elbows bend the forearm forwards: -Y for the left arm (+X × +Z), +Y for the right. The
# hand lies along the forearm in the T-pose and was calibrated the same way, so it shares the forearm's
# correction; the foot points forwards, off the shin's axis, and keeps its own.
_HINGES = (
    ("l_knee", (1.0, 0.0, 0.0), "l_ankle", ()),
    ("r_knee", (1.0, 0.0, 0.0), "r_ankle", ()),
    ("l_elbow", (0.0, -1.0, 0.0), "l_wrist", ("l_wrist", "l_hand")),
    ("r_elbow", (0.0, 1.0, 0.0), "r_wrist", ("r_wrist", "r_hand")),
)
MIN_HINGE_FRAMES = 10


def _align_hinges(t_pose: np.ndarray, clips: list[MocapClip], smap: SkeletonMap, rest: np.ndarray) -> None:
    """Twist the thigh, shin, upper-arm and forearm T-pose frames so the knee/elbow hinge lies on SMPL's.

    A reference pose fixes bone directions but not the twist about a limb, and a source's own rest
    twist is arbitrary (CMU's ASF T-pose has the elbow hinge 30 degrees off vertical; a Bandai actor's
    neutral stance can have forearms turned 45 degrees, enough to snap to the wrong axis). The hinge is
    measured in the data as the bend-plane normal over all clearly bent frames, in the upper and the
    lower segment's frame separately, and each segment is twisted about its own bone so the hinge
    lands on SMPL's: anatomy rather than rig convention, and knee/elbow rotations come out as bends
    with little twist. In place on t_pose.
    """
    qs, rs = [], []
    for clip in clips:
        if clip.rotations is None:
            continue
        q_raw, _ = stand_in_joints(clip, smap, clip.positions)
        pos, rot = _convert(clip, detect_axes(q_raw))
        qs.append(stand_in_joints(clip, smap, pos)[0])
        rs.append(_source_rotations(clip, smap, rot))
    if not qs:
        return
    q, r_src = np.concatenate(qs), np.concatenate(rs)
    for name, target_axis, child, carried in _HINGES:
        k, c = J[name], J[child]
        p = SMPL_PARENTS[k]
        upper, lower = q[:, k] - q[:, p], q[:, c] - q[:, k]
        normal = np.cross(upper, lower)
        sin_bend = np.linalg.norm(normal, axis=-1) / (np.linalg.norm(upper, axis=-1) * np.linalg.norm(lower, axis=-1))
        bent = sin_bend > np.sin(np.radians(30))  # 30..150 degrees: a well-defined bend plane
        if bent.sum() < MIN_HINGE_FRAMES:
            log.debug("mocap calibration: too few bent frames to measure the %s hinge", name)
            continue
        n_bent = normalize(normal[bent])
        for seg, seg_end in ((p, k), (k, c)):
            h_local = normalize(np.median(np.einsum("tji,tj->ti", r_src[bent, seg], n_bent), axis=0))
            bone = normalize(rest[seg_end] - rest[seg])
            h = t_pose[seg] @ h_local
            h = h - (h @ bone) * bone
            target = np.asarray(target_axis) - (np.asarray(target_axis) @ bone) * bone
            twist = swing_rotation(h, target)  # both ⊥ bone, so this turns about the bone
            angle = np.degrees(np.arccos(np.clip((np.trace(twist) - 1) / 2, -1, 1)))
            log.debug("mocap calibration: %s hinge: %s twisted %.1f deg", name, SMPL_JOINT_NAMES[seg], angle)
            t_pose[seg] = twist @ t_pose[seg]
            if seg == k:
                for other in carried:
                    t_pose[J[other]] = twist @ t_pose[J[other]]


def _axis_rotations() -> np.ndarray:
    mats = []
    for perm in ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        for signs in np.ndindex(2, 2, 2):
            m = np.zeros((3, 3))
            for r, c in enumerate(perm):
                m[r, c] = 1.0 if signs[r] else -1.0
            if np.linalg.det(m) > 0:
                mats.append(m)
    return np.array(mats)


_AXIS_ROTATIONS = _axis_rotations()  # the 24 rotations of the cube


def nearest_axis_rotation(r: np.ndarray) -> np.ndarray:
    return _AXIS_ROTATIONS[int(np.argmax(np.einsum("kij,ij->k", _AXIS_ROTATIONS, r)))]


def _usable_aim(
    smap: SkeletonMap, k: int, q_ref: np.ndarray, valid: np.ndarray, fallback: tuple[int, int] | None = None
) -> tuple[int, int] | None:
    aim = smap.joints[k].aim or fallback
    if aim is None or not (valid[aim[0]] and valid[aim[1]]):
        return None
    if np.linalg.norm(q_ref[aim[1]] - q_ref[aim[0]]) < MIN_SEGMENT_M:
        return None
    return aim


# --- retargeting ----------------------------------------------------------------------------------


def _pelvis_frame(q: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Pelvis rotation from positions only: hip line to hip line, then pelvis→spine up."""

    def frame(lat, up):
        e1 = normalize(lat)
        e3 = normalize(np.cross(e1, up))
        e2 = np.cross(e3, e1)
        return np.stack([e1, e2, e3], axis=-1)

    f_src = frame(q[:, J["l_hip"]] - q[:, J["r_hip"]], q[:, J["spine1"]] - q[:, J["pelvis"]])
    f_rest = frame(rest[J["l_hip"]] - rest[J["r_hip"]], rest[J["spine1"]] - rest[J["pelvis"]])
    return f_src @ f_rest.T


def retarget_clip(
    clip: MocapClip,
    rest_joints: np.ndarray,
    calibration: Calibration | None = None,
    swing_correct: bool = True,
    use_orientations: bool = True,
) -> RetargetedClip:
    """SMPL-24 rotations reproducing `clip` on a skeleton with the given rest (T-pose) joints.

    calibration=None calibrates from the clip itself (see `calibrate`). swing_correct=False leaves the
    calibrated orientations as they are (a diagnostic of calibration quality). use_orientations=False
    ignores FK orientations and works from positions alone.
    """
    rest = np.asarray(rest_joints, dtype=np.float64)
    if rest.shape != (NUM_JOINTS, 3):
        raise ValueError(f"rest_joints must be (24, 3), got {rest.shape}")
    smap = map_for_joint_names(clip.joint_names)
    q_raw, valid = stand_in_joints(clip, smap, clip.positions)
    a = detect_axes(q_raw)
    pos, rot = _convert(clip, a)
    q, _ = stand_in_joints(clip, smap, pos)
    t = q.shape[0]
    if not np.all(np.isfinite(q)):
        raise MocapFormatError(f"{clip.name}: non-finite joint positions")

    use_rot = use_orientations and rot is not None
    if use_rot:
        if calibration is None:
            calibration = calibrate(clip, rest, skeleton_map=smap)
        elif calibration.skeleton_map != smap.name:
            raise ValueError(f"calibration is for {calibration.skeleton_map}, clip is {smap.name}")
        g_est = _source_rotations(clip, smap, rot) @ calibration.offsets  # (T, 24, 3, 3)
    g = np.zeros((t, NUM_JOINTS, 3, 3))
    for k in range(NUM_JOINTS):
        par = SMPL_PARENTS[k]
        if use_rot:
            gk = g_est[:, k]
        elif par < 0:
            gk = _pelvis_frame(q, rest)
        else:
            gk = g[:, par]
        aim = _usable_aim(smap, k, q[0], valid, None if use_rot else _POSITION_ONLY_AIMS.get(k))
        if swing_correct and aim is not None and (use_rot or par >= 0):
            i, j = aim
            predicted = np.einsum("tab,b->ta", gk, rest[j] - rest[i])
            gk = swing_rotation(predicted, q[:, j] - q[:, i]) @ gk
        g[:, k] = gk

    parents = np.array(SMPL_PARENTS[1:])
    local = np.swapaxes(g[:, parents], -1, -2) @ g[:, 1:]
    return RetargetedClip(
        global_orient=g[:, 0],
        body_pose=local,
        transl=q[:, 0] - rest[0],
        fps=clip.fps,
        source=f"{clip.dataset}/{clip.name}",
        source_joints=q,
        source_valid=valid,
    )


def bone_cosines(ret: RetargetedClip, rest_joints: np.ndarray, bones: tuple[tuple[str, str], ...]) -> np.ndarray:
    """Cosine between source and retargeted SMPL bone directions, (T, len(bones))."""
    fk = ret.joints(rest_joints)
    out = np.zeros((ret.num_frames, len(bones)))
    for b, (pa, ch) in enumerate(bones):
        ds = normalize(ret.source_joints[:, J[ch]] - ret.source_joints[:, J[pa]])
        dt = normalize(fk[:, J[ch]] - fk[:, J[pa]])
        out[:, b] = np.sum(ds * dt, axis=-1)
    return out
