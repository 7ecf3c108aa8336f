"""Motion exports (issue 12): BVH, GLB and SMPL npz of a known motion read back by bvhio, pygltflib and
Blender itself give our joint positions on every frame."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from genhmr_app.body.keypoints import SMPL_JOINT_NAMES
from genhmr_app.body.model import load_body_model
from genhmr_app.export.motion import (MotionExportError, MotionSequence, Y_TO_Z_UP, export_track, write_bvh,
                                      write_glb, write_smpl_sequence)
from genhmr_app.paths import shared_data_dir

FRAMES = 40
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def body():
    return load_body_model()


@pytest.fixture(scope="module")
def known_motion(body) -> MotionSequence:
    """A real motion-capture walk retargeted onto a tall shaped body (betas[0] = 1)."""
    from genhmr_app.mocap.readers import read_bandai_bvh
    from genhmr_app.mocap.retarget import retarget_clip

    path = shared_data_dir() / "mocap" / "bandai-1" / "dataset-1_walk_normal_001.bvh"
    if not path.exists():
        pytest.skip(f"motion capture not found at {path} (set GENHMR_SHARED_DIR)")
    betas = np.zeros(10, np.float32)
    betas[0] = 1.0
    rest = body.rest_joints(torch.as_tensor(betas)[None])[0].numpy()
    clip = retarget_clip(read_bandai_bvh(path), rest)
    return MotionSequence(clip.global_orient[:FRAMES], clip.body_pose[:FRAMES], betas, clip.transl[:FRAMES], clip.fps)


def _max_error_m(positions: list[dict[str, np.ndarray]], reference: np.ndarray) -> float:
    return max(float(np.abs(np.asarray(frame[name]) - reference[f, j]).max())
               for f, frame in enumerate(positions) for j, name in enumerate(SMPL_JOINT_NAMES))


def _bvhio_positions(path: Path, frames: int) -> list[dict[str, np.ndarray]]:
    import bvhio

    root = bvhio.readAsHierarchy(str(path))
    out = []
    for f in range(frames):
        root.loadPose(f)
        out.append({j.Name: np.array([*j.PositionWorld]) for j, _, _ in root.layout()})
    return out


def _gltf_positions(path: Path, frames: int) -> list[dict[str, np.ndarray]]:
    """Forward kinematics over the GLB's node tree with its animation's keyframes (one per frame)."""
    import pygltflib as g

    gltf = g.GLTF2().load(str(path))
    blob = gltf.binary_blob()

    def read(i: int) -> np.ndarray:
        acc = gltf.accessors[i]
        view = gltf.bufferViews[acc.bufferView]
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
        return np.frombuffer(blob, np.float32, acc.count * width, view.byteOffset + (acc.byteOffset or 0)).reshape(acc.count, width)

    anim = gltf.animations[0]
    keys: dict[tuple[int, str], np.ndarray] = {(c.target.node, c.target.path): read(anim.samplers[c.sampler].output)
                                               for c in anim.channels}
    times = read(anim.samplers[0].input)[:, 0]
    assert len(times) == frames
    parent = {c: i for i, node in enumerate(gltf.nodes) for c in (node.children or [])}
    out = []
    for f in range(frames):
        world: dict[int, np.ndarray] = {}

        def transform(i: int) -> np.ndarray:
            if i not in world:
                node = gltf.nodes[i]
                m = np.eye(4)
                q = keys.get((i, "rotation"), [node.rotation or [0, 0, 0, 1]] * frames)[f]
                m[:3, :3] = roma.unitquat_to_rotmat(torch.tensor(np.array(q), dtype=torch.float64)).numpy()
                m[:3, 3] = keys.get((i, "translation"), [node.translation or [0, 0, 0]] * frames)[f]
                world[i] = transform(parent[i]) @ m if i in parent else m
            return world[i]

        out.append({node.name: transform(i)[:3, 3] for i, node in enumerate(gltf.nodes) if node.mesh is None})
    return out


@pytest.mark.parametrize("up", ["y", "z"])
def test_bvh_reads_back_with_bvhio_within_1mm(known_motion, body, tmp_path, up):
    path = write_bvh(known_motion, body, tmp_path / "person_0.bvh", up)
    text = path.read_text()
    assert "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" in text
    assert f"Frame Time: {1 / known_motion.fps:.6f}"[:18] in text
    err = _max_error_m(_bvhio_positions(path, FRAMES), known_motion.joint_positions(body, up))
    print(f"\nBVH ({up} up) vs body model, max over {FRAMES} frames x 24 joints: {err * 1000:.4f} mm")
    assert err < 1e-3
    if up == "z":  # the Z-up file really stands on Z: the head is above the pelvis along +Z
        first = _bvhio_positions(path, 1)[0]
        assert first["head"][2] - first["pelvis"][2] > 0.3


def test_glb_reads_back_with_pygltflib_within_1mm(known_motion, body, tmp_path):
    import trimesh

    path = write_glb(known_motion, body, tmp_path / "person_0.glb")
    err = _max_error_m(_gltf_positions(path, FRAMES), known_motion.joint_positions(body))
    print(f"\nGLB vs body model, max over {FRAMES} frames x 24 joints: {err * 1000:.4f} mm")
    assert err < 1e-3
    scene = trimesh.load(str(path))  # a second reader: the mesh is the shaped rest body
    mesh = next(iter(scene.geometry.values()))
    assert len(mesh.vertices) == body.num_vertices and len(mesh.faces) == len(body.faces)


def test_smpl_npz_round_trips(known_motion, tmp_path):
    path = write_smpl_sequence(known_motion, tmp_path / "person_0_smpl.npz")
    z = np.load(path)
    assert z["global_orient"].shape == (FRAMES, 3) and z["body_pose"].shape == (FRAMES, 69)
    assert z["betas"].shape == (10,) and z["transl"].shape == (FRAMES, 3) and float(z["fps"]) == pytest.approx(known_motion.fps)
    back = roma.rotvec_to_rotmat(torch.as_tensor(z["body_pose"].reshape(FRAMES, 23, 3), dtype=torch.float64)).numpy()
    assert np.abs(back - known_motion.body_pose).max() < 1e-5


def test_export_track_names_files_by_track_and_reports_unwritable_folders(known_motion, body, tmp_path):
    files = export_track(known_motion, body, tmp_path / "out", track_id=3)
    assert [f.name for f in files] == ["person_3.bvh", "person_3.glb", "person_3_smpl.npz"]
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    with pytest.raises(MotionExportError, match="cannot create the output folder"):
        export_track(known_motion, body, blocked / "sub", track_id=0)
    if os.geteuid() != 0:  # root writes anywhere; the check above covers it there
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        with pytest.raises(MotionExportError, match="cannot write"):
            export_track(known_motion, body, ro, track_id=0)


def test_bad_sequences_are_refused():
    eye = np.eye(3)
    with pytest.raises(MotionExportError, match="no frames"):
        MotionSequence(np.zeros((0, 3, 3)), np.zeros((0, 23, 3, 3)), np.zeros(10), np.zeros((0, 3)), 30.0)
    with pytest.raises(MotionExportError, match="body_pose has shape"):
        MotionSequence(eye[None], np.tile(eye, (1, 22, 1, 1)), np.zeros(10), np.zeros((1, 3)), 30.0)
    with pytest.raises(MotionExportError, match="frame rate"):
        MotionSequence(eye[None], np.tile(eye, (1, 23, 1, 1)), np.zeros(10), np.zeros((1, 3)), 0.0)


@pytest.mark.skipif(shutil.which("blender") is None, reason="Blender not installed (.ci/run installs the Debian package)")
@pytest.mark.parametrize("kind", ["bvh", "glb"])
def test_blender_imports_our_files_within_1cm(known_motion, body, tmp_path, kind):
    """Blender 3.4 itself imports the file; its joints' world positions match ours on every frame."""
    path = (write_bvh if kind == "bvh" else write_glb)(known_motion, body, tmp_path / f"person_0.{kind}")
    out = tmp_path / "joints.json"
    proc = subprocess.run(["blender", "-b", "--factory-startup", "--python", str(HERE / "blender" / "import_joints.py"),
                           "--", str(path), str(out), str(known_motion.fps), str(FRAMES)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0 and out.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    # Blender is Z up: both importers turn our Y-up files by (x, y, z) -> (x, -z, y).
    reference = known_motion.joint_positions(body) @ Y_TO_Z_UP.T
    err = _max_error_m(json.loads(out.read_text()), reference)
    print(f"\nBlender {kind.upper()} import vs body model, max over {FRAMES} frames x 24 joints: {err * 1000:.4f} mm")
    assert err < 0.01
