"""Motion exports of one tracked person: BVH, a skinned and animated GLB, and an SMPL npz sequence.

All three start from a `MotionSequence` in a Y-up world frame, metres (SMPL's axes: Y up, the body
faces +Z at zero rotation), and agree with the body model's own joint positions
(`MotionSequence.joint_positions`) on every frame:
- BVH (written by bvhio): the 24-joint SMPL skeleton; offsets from this person's shaped rest pose; the
  root has 6 channels (Xposition Yposition Zposition Zrotation Xrotation Yrotation) and a zero OFFSET,
  so its channels are the pelvis's world position whatever a reader does with the root offset; every
  other joint has 3 rotation channels in the one declared order ZXY (intrinsic, as BVH readers apply
  them); frame time from the video's fps; units metres; up axis Y or Z.
- GLB (written by pygltflib): the shaped rest mesh skinned to the 24 joints (the 4 largest weights per
  vertex, renormalised), inverse bind matrices, and one animation (root translation, every joint's
  rotation) sampled at the video's frame times.
- npz: global_orient (T, 3), body_pose (T, 69) axis-angle, betas (10,), transl (T, 3), fps — what
  4D-Humans-style tools read.
Writes are atomic (safe_write), so a crash never leaves a half-written file in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import roma
import torch

from genhmr_app.body.keypoints import SMPL_JOINT_NAMES, SMPL_PARENTS
from genhmr_app.export.safe_write import safe_write

UP_AXES = ("y", "z")
# Y-up → Z-up: +90 degrees about X, (x, y, z) → (x, -z, y).
Y_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


class MotionExportError(Exception):
    """The sequence or the target cannot be written (bad shapes, no frames, unwritable folder)."""


@dataclass
class MotionSequence:
    global_orient: np.ndarray  # (T, 3, 3) world frame, Y up
    body_pose: np.ndarray  # (T, 23, 3, 3) local joint rotations
    betas: np.ndarray  # (10,) one shape for the whole track
    transl: np.ndarray  # (T, 3) smplx transl, metres
    fps: float

    def __post_init__(self) -> None:
        t = len(self.global_orient)
        if t == 0:
            raise MotionExportError("the sequence has no frames")
        shapes = {"global_orient": (t, 3, 3), "body_pose": (t, 23, 3, 3), "transl": (t, 3)}
        for name, shape in shapes.items():
            if np.shape(getattr(self, name)) != shape:
                raise MotionExportError(f"{name} has shape {np.shape(getattr(self, name))}, expected {shape}")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise MotionExportError(f"the frame rate must be positive, got {self.fps}")

    @property
    def frames(self) -> int:
        return len(self.global_orient)

    def rest_joints(self, body) -> np.ndarray:
        """(24, 3) joints of this person's shaped T-pose."""
        with torch.no_grad():
            return body.rest_joints(torch.as_tensor(self.betas, dtype=torch.float32)[None])[0].double().cpu().numpy()

    def joint_positions(self, body, up: str = "y") -> np.ndarray:
        """(T, 24, 3) the body model's joints on every frame: the reference every export must match."""
        with torch.no_grad():
            t = self.frames
            out = body.forward(torch.as_tensor(self.global_orient, dtype=torch.float32),
                               torch.as_tensor(self.body_pose, dtype=torch.float32),
                               torch.as_tensor(self.betas, dtype=torch.float32)[None].expand(t, -1),
                               torch.as_tensor(self.transl, dtype=torch.float32))
        joints = out.joints.double().cpu().numpy()
        return joints @ _up_matrix(up).T


def _up_matrix(up: str) -> np.ndarray:
    if up not in UP_AXES:
        raise MotionExportError(f"up axis must be one of {UP_AXES}, got {up!r}")
    return np.eye(3) if up == "y" else Y_TO_Z_UP


def _world_rotations(seq: MotionSequence, up: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Root rotation (T, 3, 3), local rotations (T, 23, 3, 3) and offsets' frame change, all conjugated
    into the chosen up axis, so that every world position is the Y-up one turned by the same matrix."""
    u = _up_matrix(up)
    root = u @ seq.global_orient @ u.T
    local = u @ seq.body_pose @ u.T
    return root, local, u


# --- BVH ---------------------------------------------------------------------------------------------------

def write_bvh(seq: MotionSequence, body, path: str | Path, up: str = "y") -> Path:
    import bvhio
    import glm
    from SpatialTransform import Pose

    root_rot, local_rot, u = _world_rotations(seq, up)
    rest = seq.rest_joints(body) @ u.T
    pelvis = (rest[0] + seq.transl @ u.T)  # SMPL rotates about the pelvis joint, then adds transl
    joints: list[bvhio.BvhJoint] = []
    for j, name in enumerate(SMPL_JOINT_NAMES):
        parent = SMPL_PARENTS[j]
        offset = np.zeros(3) if parent < 0 else rest[j] - rest[parent]
        joint = bvhio.BvhJoint(name, glm.vec3(*offset))
        joint.Channels = (["Xposition", "Yposition", "Zposition"] if parent < 0 else []) + \
            ["Zrotation", "Xrotation", "Yrotation"]
        rots = root_rot if parent < 0 else local_rot[:, j - 1]
        quats = roma.rotmat_to_unitquat(torch.as_tensor(rots, dtype=torch.float64)).numpy()  # x, y, z, w
        for f in range(seq.frames):
            x, y, z, w = quats[f]
            position = glm.vec3(*pelvis[f]) if parent < 0 else glm.vec3(0)
            joint.Keyframes.append(Pose(position, glm.quat(w, x, y, z)))
        if parent >= 0:
            joints[parent].Children.append(joint)
        joints.append(joint)
    for j, joint in enumerate(joints):  # leaves: an end site along the bone, 5 cm
        if not joint.Children:
            parent = SMPL_PARENTS[j]
            direction = rest[j] - rest[parent]
            joint.EndSite = glm.vec3(*(direction / max(np.linalg.norm(direction), 1e-6) * 0.05))
    container = bvhio.BvhContainer(joints[0], seq.frames, 1.0 / seq.fps)
    path = Path(path)
    safe_write(path, lambda tmp: bvhio.writeBvh(str(tmp), container, percision=6))
    return path


# --- SMPL npz ----------------------------------------------------------------------------------------------

def write_smpl_sequence(seq: MotionSequence, path: str | Path) -> Path:
    aa = lambda r: roma.rotmat_to_rotvec(torch.as_tensor(r, dtype=torch.float64)).numpy().astype(np.float32)  # noqa: E731

    def writer(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, global_orient=aa(seq.global_orient), body_pose=aa(seq.body_pose).reshape(seq.frames, 69),
                     betas=np.asarray(seq.betas, np.float32), transl=np.asarray(seq.transl, np.float32),
                     fps=np.float32(seq.fps), up_axis="y", units="metres")

    path = Path(path)
    safe_write(path, writer)
    return path


# --- GLB ---------------------------------------------------------------------------------------------------

def _top_weights(weights: np.ndarray, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """glTF skins take 4 influences per vertex: keep the largest, renormalised."""
    idx = np.argsort(-weights, axis=1)[:, :k]
    w = np.take_along_axis(weights, idx, 1)
    w = w / np.clip(w.sum(1, keepdims=True), 1e-8, None)
    return idx.astype(np.uint16), w.astype(np.float32)


def write_glb(seq: MotionSequence, body, path: str | Path, up: str = "y") -> Path:
    import pygltflib as g

    root_rot, local_rot, u = _world_rotations(seq, up)
    rest_j = seq.rest_joints(body) @ u.T
    with torch.no_grad():
        rest_v = body.rest_vertices(torch.as_tensor(seq.betas, dtype=torch.float32)[None])[0].double().cpu().numpy() @ u.T
    faces = np.asarray(body.faces, dtype=np.uint32)
    weights = body.lbs_weights.detach().cpu().double().numpy() if hasattr(body, "lbs_weights") else \
        body._smpl.lbs_weights.detach().cpu().double().numpy()
    joint_idx, joint_w = _top_weights(weights)
    t = seq.frames
    times = (np.arange(t) / seq.fps).astype(np.float32)
    pelvis = (rest_j[0] + seq.transl @ u.T).astype(np.float32)
    to_xyzw = lambda r: roma.rotmat_to_unitquat(torch.as_tensor(r, dtype=torch.float64)).numpy().astype(np.float32)  # noqa: E731
    root_q = to_xyzw(root_rot)  # (T, 4)
    local_q = to_xyzw(local_rot)  # (T, 23, 4)

    blobs: list[bytes] = []
    views: list[g.BufferView] = []
    accessors: list[g.Accessor] = []
    offset = 0

    def add(array: np.ndarray, kind: str, component: int, target: int | None = None, minmax: bool = False) -> int:
        nonlocal offset
        data = np.ascontiguousarray(array).tobytes()
        pad = (-len(data)) % 4
        views.append(g.BufferView(buffer=0, byteOffset=offset, byteLength=len(data), target=target))
        blobs.append(data + b"\x00" * pad)
        offset += len(data) + pad
        acc = g.Accessor(bufferView=len(views) - 1, componentType=component, count=len(array), type=kind)
        if minmax:
            acc.min = np.asarray(array).min(0).tolist() if np.ndim(array) > 1 else [float(np.min(array))]
            acc.max = np.asarray(array).max(0).tolist() if np.ndim(array) > 1 else [float(np.max(array))]
        accessors.append(acc)
        return len(accessors) - 1

    pos = add(rest_v.astype(np.float32), g.VEC3, g.FLOAT, g.ARRAY_BUFFER, minmax=True)
    idx = add(faces.reshape(-1), g.SCALAR, g.UNSIGNED_INT, g.ELEMENT_ARRAY_BUFFER)
    jnt = add(joint_idx, g.VEC4, g.UNSIGNED_SHORT, g.ARRAY_BUFFER)
    wgt = add(joint_w, g.VEC4, g.FLOAT, g.ARRAY_BUFFER)
    # Joint nodes sit at their rest offsets with identity rest rotation, so a joint's inverse bind
    # matrix is a translation by minus its rest position (column-major in glTF).
    inverse_bind = np.stack([np.eye(4) for _ in rest_j])
    inverse_bind[:, :3, 3] = -rest_j
    ibm = add(inverse_bind.transpose(0, 2, 1).reshape(len(rest_j), 16).astype(np.float32), g.MAT4, g.FLOAT)
    time_acc = add(times, g.SCALAR, g.FLOAT, minmax=True)

    mesh_node = 0
    first_joint = 1
    nodes = [g.Node(name="body", mesh=0, skin=0)]
    for j, name in enumerate(SMPL_JOINT_NAMES):
        parent = SMPL_PARENTS[j]
        translation = rest_j[j] if parent < 0 else rest_j[j] - rest_j[parent]
        nodes.append(g.Node(name=name, translation=[float(x) for x in translation], children=[]))
    for j, parent in enumerate(SMPL_PARENTS):
        if parent >= 0:
            nodes[first_joint + parent].children.append(first_joint + j)
    channels, samplers = [], []

    def animate(node: int, path_name: str, values: np.ndarray, kind: str) -> None:
        out = add(values.astype(np.float32), kind, g.FLOAT)
        samplers.append(g.AnimationSampler(input=time_acc, output=out, interpolation="LINEAR"))
        channels.append(g.AnimationChannel(sampler=len(samplers) - 1, target=g.AnimationChannelTarget(node=node, path=path_name)))

    animate(first_joint, "translation", pelvis, g.VEC3)
    animate(first_joint, "rotation", root_q, g.VEC4)
    for j in range(1, len(SMPL_JOINT_NAMES)):
        animate(first_joint + j, "rotation", local_q[:, j - 1], g.VEC4)

    gltf = g.GLTF2(
        asset=g.Asset(generator="GenHMR Studio", version="2.0"),
        scene=0,
        scenes=[g.Scene(nodes=[mesh_node, first_joint])],
        nodes=nodes,
        meshes=[g.Mesh(name="body", primitives=[g.Primitive(attributes=g.Attributes(POSITION=pos, JOINTS_0=jnt, WEIGHTS_0=wgt),
                                                            indices=idx)])],
        skins=[g.Skin(name="smpl", joints=list(range(first_joint, first_joint + len(SMPL_JOINT_NAMES))),
                      inverseBindMatrices=ibm, skeleton=first_joint)],
        animations=[g.Animation(name="motion", samplers=samplers, channels=channels)],
        accessors=accessors,
        bufferViews=views,
        buffers=[g.Buffer(byteLength=offset)],
    )
    gltf.set_binary_blob(b"".join(blobs))
    path = Path(path)
    safe_write(path, lambda tmp: gltf.save_binary(str(tmp)))
    return path


def export_track(seq: MotionSequence, body, out_dir: str | Path, track_id: int, up: str = "y") -> list[Path]:
    """DIR/person_<id>.bvh, person_<id>.glb and person_<id>_smpl.npz."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MotionExportError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from exc
    stem = out_dir / f"person_{track_id}"
    try:
        return [write_bvh(seq, body, stem.with_suffix(".bvh"), up), write_glb(seq, body, stem.with_suffix(".glb"), up),
                write_smpl_sequence(seq, out_dir / f"person_{track_id}_smpl.npz")]
    except OSError as exc:
        raise MotionExportError(f"cannot write to {out_dir}: {exc.strerror or exc}") from exc
