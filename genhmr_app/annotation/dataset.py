"""`python main.py export-project FILE --out DATASET.npz [--states accepted,corrected]`

An annotation project → one npz of arrays (one row per frame) and a JSON description beside it:
SMPL parameters, the body's 3D joints and their projection, the 2D keypoints as the annotator left
them (detector keypoints with the pins applied), the review state and the provenance of each frame.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

from genhmr_app.annotation.project import STATES, ProjectError, ProjectStore, now
from genhmr_app.export.safe_write import safe_write

KEYPOINT_SOURCE = {"detector": 0, "pinned": 1, "ignored": 2}


def export_dataset(project_file: Path, out: Path, states: tuple[str, ...] = STATES, body=None) -> dict:
    """Write `out` (.npz) and `out.with_suffix('.json')`; returns the description."""
    import roma
    import torch

    opened = ProjectStore(project_file).open()
    frames = [f for f in opened.project.frames if f.state in states]
    n = len(frames)
    nan = lambda *shape: np.full((n, *shape), np.nan, np.float32)  # noqa: E731
    arrays = {"key": np.array([f.key for f in frames], dtype=str), "state": np.array([f.state for f in frames], dtype=str),
              "state_changed": np.array([f.state_changed or "" for f in frames], dtype=str),
              "has_pose": np.array([f.smpl is not None for f in frames], bool),
              "global_orient": nan(3), "body_pose": nan(69), "betas": nan(10), "transl": nan(3),
              "joints3d_smpl24": nan(24, 3), "joints2d_smpl24": nan(24, 2), "keypoints2d_mp33": nan(33, 2),
              "keypoint_source": np.zeros((n, 33), np.int8), "focal_px": nan(), "image_wh": nan(2),
              "provenance": np.array([json.dumps(f.provenance, sort_keys=True) for f in frames], dtype=str)}
    if body is None and any(f.smpl for f in frames):
        from genhmr_app.body.model import load_body_model

        body = load_body_model()
    for i, f in enumerate(frames):
        if f.detection:
            kp = np.array(f.detection["keypoints_px"], np.float32)
            for k, xy in f.pins.items():
                kp[int(k)] = xy
                arrays["keypoint_source"][i, int(k)] = KEYPOINT_SOURCE["pinned"]
            for k in f.ignored:
                arrays["keypoint_source"][i, k] = KEYPOINT_SOURCE["ignored"]
            arrays["keypoints2d_mp33"][i] = kp
            arrays["focal_px"][i] = f.detection["focal_px"]
            arrays["image_wh"][i] = (f.detection["width"], f.detection["height"])
        if f.smpl:
            for name in ("global_orient", "body_pose", "betas", "transl"):
                arrays[name][i] = f.smpl[name]
            with torch.no_grad():
                rot = lambda v, j: roma.rotvec_to_rotmat(torch.tensor(v, dtype=torch.float32).reshape(1, j, 3))  # noqa: E731
                out_body = body.forward(rot(f.smpl["global_orient"], 1)[:, 0], rot(f.smpl["body_pose"], 23),
                                        torch.tensor([f.smpl["betas"]], dtype=torch.float32),
                                        torch.tensor([f.smpl["transl"]], dtype=torch.float32))
            joints = out_body.joints[0].cpu().numpy()
            arrays["joints3d_smpl24"][i] = joints
            if f.detection:
                w, h = f.detection["width"], f.detection["height"]
                arrays["joints2d_smpl24"][i] = f.detection["focal_px"] * joints[:, :2] / joints[:, 2:3] + (w / 2, h / 2)
    out = Path(out)
    if out.suffix != ".npz":
        out = out.with_suffix(".npz")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    safe_write(out, lambda tmp: tmp.write_bytes(buffer.getvalue()))
    description = {
        "dataset": out.name, "project": str(Path(project_file).resolve()), "media": opened.project.media,
        "media_kind": opened.project.kind, "exported": now(), "frames": n, "states_included": list(states),
        "counts": {s: sum(f.state == s for f in frames) for s in states},
        "body_model": getattr(body, "name", None),
        "arrays": {
            "key": "(N,) image path relative to the media folder, or frame_NNNNNN of the video",
            "state": f"(N,) review state: one of {list(STATES)}", "state_changed": "(N,) ISO time of the last state change",
            "has_pose": "(N,) whether the frame has a body (False: NaN below)",
            "global_orient": "(N, 3) axis-angle, camera frame (OpenCV axes: x right, y down, z forward)",
            "body_pose": "(N, 69) axis-angle, 23 SMPL joints", "betas": "(N, 10) SMPL shape",
            "transl": "(N, 3) metres, camera frame",
            "joints3d_smpl24": "(N, 24, 3) the body model's joints, metres, camera frame",
            "joints2d_smpl24": "(N, 24, 2) their projection, pixels",
            "keypoints2d_mp33": "(N, 33, 2) MediaPipe's 33 keypoints in pixels as the annotator left them",
            "keypoint_source": f"(N, 33) {KEYPOINT_SOURCE}",
            "focal_px": "(N,) focal length in pixels (principal point at the image centre)",
            "image_wh": "(N, 2) image width and height in pixels",
            "provenance": "(N,) JSON per frame: source (model, edited, copied), model name, times, edit count"},
    }
    safe_write(out.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(description, indent=1)))
    return description


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="main.py export-project", description=__doc__.splitlines()[0])
    ap.add_argument("project", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--states", default=",".join(STATES), help=f"comma-separated review states to include ({', '.join(STATES)})")
    args = ap.parse_args(argv)
    states = tuple(s.strip() for s in args.states.split(",") if s.strip())
    unknown = [s for s in states if s not in STATES]
    if unknown:
        print(f"error: unknown review state(s) {unknown}; choose from {list(STATES)}", file=sys.stderr)
        return 2
    try:
        desc = export_dataset(args.project, args.out, states)
    except ProjectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"{desc['frames']} frame(s) → {desc['dataset']} ({', '.join(f'{k} {v}' for k, v in desc['counts'].items())})")
    return 0
