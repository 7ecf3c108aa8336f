"""Measure where MediaPipe puts each landmark on a body (detection/placement.py) from the detector data.

The detector data (generate-detector-data) pairs what MediaPipe reported on a render with the pose,
shape and camera it was rendered from. For each landmark the residual "detector minus the body's
projected keypoint" is, to first order, the projection of a 3D offset held in the frames of the
landmark's joint and of that joint's parent:

    r_px ≈ P(x) · (G_joint · a + G_parent · b)      P: d px / d point at the keypoint x (2 x 3)

so a, b (6 numbers per landmark) follow by least squares over every sample that saw the landmark,
Huber-reweighted (a landmark put on the wrong limb is the detector's error, not its habit). Left and
right landmarks share one mirrored offset: the detector has no side of its own, so a difference
would be noise. A share of the chunks is held out and the report gives the 2D error before and
after on them.

    python main.py calibrate-placement [--data FOLDER ...] [--out weights/detector/landmark_placement.json]
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from smplx.lbs import batch_rigid_transform

from genhmr_app.body.keypoints import SMPL_JOINT_NAMES
from genhmr_app.body.model import load_body_model
from genhmr_app.body.sparse import SparseBody, directions_to_camera
from genhmr_app.conditioning.camera import project
from genhmr_app.detection.landmarks import MP33_INDEX, MP33_NAMES
from genhmr_app.detection.placement import PLACEMENT_PATH, LandmarkOffset, LandmarkPlacement
from genhmr_app.paths import REPO_ROOT
from genhmr_app.training.calibration_cli import calibration_parser, start_calibration, to_tensors

log = logging.getLogger(__name__)

DEFAULT_REPORT = REPO_ROOT / "docs" / "landmark_placement.md"
MIRROR = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))  # a rest-frame vector's mirror image (SMPL x = the body's left)
HUBER_PCT = 1.5  # % of box height: residuals beyond it count linearly
TRUST_PCT = 8.0  # residuals beyond this are a different body part or person, left out
# A joint and its parent turn together in most poses, so the two frames' offsets can trade against
# each other: fitted on the walking sequences alone, the knee's came out as -11 and +10 cm without a
# ridge, -0.3 and -0.5 cm with this one, at the same held-out error (1.339% median). In (% of box
# height / m)^2 per sample; 100 already cost accuracy (1.357%).
RIDGE = 1.0
BLOCK = 1000  # samples per hold-out block (a chunk's sequences stay on one side)


def landmark_frames(sparse: SparseBody) -> tuple[torch.Tensor, torch.Tensor]:
    """(33,), (33,): the joint carrying each MediaPipe keypoint most (its joint) and that joint's parent."""
    owner = (sparse.mp_jw + sparse.mp_skin).argmax(1)
    return owner, sparse.parents[owner].clamp(min=0)


def linear_system(sparse: SparseBody, data: dict[str, torch.Tensor], owner: torch.Tensor, parent: torch.Tensor,
                  view: bool = True, batch: int = 4096) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """→ features F (N, 33, 2, P): d px / d θ, θ per frame (the joint's, then the parent's) the offset
    (3) and, with `view`, the view matrix (9, row-major: offset += V @ to_camera); P = 6 or 24.
    Residual r (N, 33, 2) = detected − projected keypoint (px); box height h (N,) px of the keypoints."""
    out_f, out_r, out_h = [], [], []
    for s in range(0, len(data["focal"]), batch):
        d = {k: v[s:s + batch] for k, v in data.items()}
        b = len(d["focal"])
        joints_rest = sparse.j_template + torch.einsum("jcb,nb->njc", sparse.j_dirs[..., : d["betas"].shape[1]], d["betas"])
        rot = torch.cat([d["global_orient"].reshape(b, 1, 3, 3), d["body_pose"]], 1)
        joints, transforms = batch_rigid_transform(rot, joints_rest, sparse.parents)
        g = transforms[..., :3, :3]
        to_camera = directions_to_camera(g, joints + d["transl"][:, None])  # (b, 24, 3)
        points = sparse.mediapipe33(d["global_orient"], d["body_pose"], d["betas"], d["transl"])
        px = project(points, d["focal"], d["image_wh"].float())
        f, z = d["focal"][:, None], points[..., 2].clamp_min(1e-3)
        zero = torch.zeros_like(z)
        dpx = torch.stack([torch.stack([f / z, zero, -f * points[..., 0] / z ** 2], -1),
                           torch.stack([zero, f / z, -f * points[..., 1] / z ** 2], -1)], -2)  # (b, 33, 2, 3)
        blocks = []
        for joint in (owner, parent):
            moved = dpx @ g[:, joint]  # d px / d (rest-frame offset of that joint)
            blocks.append(moved)
            if view:
                v = to_camera[:, joint]  # (b, 33, 3)
                blocks.append((moved[..., :, None] * v[:, :, None, None, :]).flatten(-2))
        out_f.append(torch.cat(blocks, -1))
        out_r.append(d["det_px"] - px)
        out_h.append((px[..., 1].amax(1) - px[..., 1].amin(1)).clamp_min(1.0))
    return torch.cat(out_f), torch.cat(out_r), torch.cat(out_h)


def _mirror_pairs() -> list[tuple[int, int | None]]:
    """(left, right) index pairs and (centre, None) for the landmarks without a side."""
    pairs = []
    for i, name in enumerate(MP33_NAMES):
        if name.startswith("left_"):
            pairs.append((i, MP33_INDEX["right_" + name[5:]]))
        elif not name.startswith("right_"):
            pairs.append((i, None))
    return pairs


def mirror_parameters(p: int) -> torch.Tensor:
    """(P, P): the right landmark's θ from the left's: offsets mirror (M o), view matrices M V M."""
    frame = [MIRROR] if p == 6 else [MIRROR, torch.kron(MIRROR, MIRROR)]
    return torch.block_diag(*(frame * 2))


def fit_offsets(features: torch.Tensor, r: torch.Tensor, h: torch.Tensor, usable: torch.Tensor,
                iterations: int = 4, ridge: float = RIDGE) -> torch.Tensor:
    """→ θ (33, P) in metres (linear_system's layout). Rows in % of box height; Huber by iterative
    reweighting; `ridge` per sample (see RIDGE)."""
    features = features / h[:, None, None, None] * 100
    r = r / h[:, None, None] * 100
    p = features.shape[-1]
    mirror = mirror_parameters(p)
    out = torch.zeros(33, p)
    for left, right in _mirror_pairs():
        # The right landmark's rows act on the mirrored parameters: r_right = F_right · T · θ_left.
        sides = [(left, torch.eye(p))] + ([(right, mirror)] if right is not None else [])
        rows = torch.cat([features[usable[:, k], k] @ m for k, m in sides]).reshape(-1, p)
        res = torch.cat([r[usable[:, k], k] for k, _ in sides]).reshape(-1)
        x = torch.zeros(p)
        for _ in range(iterations):
            e = (rows @ x - res).abs()
            w = torch.where(e <= HUBER_PCT, 1.0, HUBER_PCT / e)
            lhs = rows.T @ (rows * w[:, None]) / w.sum() + ridge * torch.eye(p)
            x = torch.linalg.solve(lhs, rows.T @ (res * w) / w.sum())
        for k, m in sides:
            out[k] = m @ x
    return out


def split_parameters(theta: torch.Tensor) -> tuple[list, list, list, list]:
    """θ (P,) → offset, view matrix, parent offset, parent view matrix, as lists."""
    if theta.numel() == 6:
        zero = torch.zeros(3, 3).tolist()
        return theta[:3].tolist(), zero, theta[3:].tolist(), zero
    return (theta[:3].tolist(), theta[3:12].reshape(3, 3).tolist(), theta[12:15].tolist(),
            theta[15:].reshape(3, 3).tolist())


def errors_pct(features: torch.Tensor, r: torch.Tensor, h: torch.Tensor, theta: torch.Tensor | None) -> torch.Tensor:
    """(N, 33) 2D error in % of box height, with the placement's prediction taken off when given."""
    if theta is not None:
        r = r - (features @ theta[None, :, :, None])[..., 0]
    return r.norm(dim=-1) / h[:, None] * 100


def report_table(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor, theta: torch.Tensor,
                 owner: torch.Tensor, parent: torch.Tensor) -> list[str]:
    lines = ["| landmark | joint / parent | offset in the joint's frame (cm) | in the parent's (cm) | "
             "view term, largest move (cm) | median before → after (% of height) | mean before → after |",
             "|---|---|---|---|---|---|---|"]
    for k, name in enumerate(MP33_NAMES):
        m = mask[:, k]
        b, a = before[m, k], after[m, k]
        own, view, par, par_view = split_parameters(theta[k])
        cm = lambda v: ", ".join(f"{x * 100:+.1f}" for x in v)  # noqa: E731
        # How far the view term can move the point: the largest singular value of each frame's matrix.
        swing = max(float(torch.linalg.matrix_norm(torch.tensor(v), ord=2)) for v in (view, par_view)) * 100
        lines.append(f"| {name} | {SMPL_JOINT_NAMES[owner[k]]} / {SMPL_JOINT_NAMES[parent[k]]} | {cm(own)} | "
                     f"{cm(par)} | {swing:.1f} | {b.median():.2f} → {a.median():.2f} | {b.mean():.2f} → {a.mean():.2f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = calibration_parser("calibrate-placement", __doc__, PLACEMENT_PATH)
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--no-view", action="store_true", help="fixed offsets only (no view-dependent term)")
    run = start_calibration(parser, argv)
    args, command, t0, folders, data = run.args, run.command, run.started, run.folders, run.data
    tensors = to_tensors(data)
    sparse = SparseBody(load_body_model())
    owner, parent = landmark_frames(sparse)
    with torch.no_grad():
        a, r, h = linear_system(sparse, tensors, owner, parent, view=not args.no_view)
    held_out = torch.as_tensor((np.arange(len(h)) // BLOCK) % args.holdout_every == 0)
    raw = r.norm(dim=-1) / h[:, None] * 100
    usable = (tensors["visibility"] >= args.min_visibility) & (raw < TRUST_PCT)
    offsets = fit_offsets(a[~held_out], r[~held_out], h[~held_out], usable[~held_out])
    before = errors_pct(a[held_out], r[held_out], h[held_out], None)
    after = errors_pct(a[held_out], r[held_out], h[held_out], offsets)
    seen = tensors["visibility"][held_out] >= args.min_visibility
    limbs = [MP33_INDEX[f"{side}_{part}"] for part in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")
             for side in ("left", "right")]
    metrics = {
        "samples_fitted": int((~held_out).sum()), "samples_held_out": int(held_out.sum()),
        "held_out_median_pct_before": round(float(before[seen].median()), 3),
        "held_out_median_pct_after": round(float(after[seen].median()), 3),
        "held_out_limb_median_pct_before": round(float(before[:, limbs][seen[:, limbs]].median()), 3),
        "held_out_limb_median_pct_after": round(float(after[:, limbs][seen[:, limbs]].median()), 3),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    landmarks = {}
    for k, name in enumerate(MP33_NAMES):
        own, view, par, par_view = split_parameters(offsets[k])
        landmarks[name] = LandmarkOffset(SMPL_JOINT_NAMES[owner[k]], tuple(own), SMPL_JOINT_NAMES[parent[k]],
                                         tuple(par), tuple(map(tuple, view)), tuple(map(tuple, par_view)))
    source = f"{command}; detector data {', '.join(f.name for f in folders)} (training-split poses)"
    LandmarkPlacement(landmarks, source, metrics).save(args.out)
    lines = ["# Where MediaPipe puts its landmarks on the body (landmark placement)", "",
             f"Command: `{command}`", "",
             f"Fitted on {metrics['samples_fitted']} detections of renders of training-split poses, reported on "
             f"{metrics['samples_held_out']} held-out ones (every {args.holdout_every}th block of {BLOCK}); landmarks "
             f"with visibility ≥ {args.min_visibility}. Errors: the detector's landmark against the body's keypoint "
             "(before) and against the keypoint moved by the placement (after), % of the body's box height. "
             "Offsets in the rest frames (x: the body's left, y: up, z: forward); the view term adds a matrix "
             "times the direction to the camera in the same frame.", "",
             f"All landmarks, median: {metrics['held_out_median_pct_before']:.2f} → {metrics['held_out_median_pct_after']:.2f}%; "
             f"the 12 limb landmarks: {metrics['held_out_limb_median_pct_before']:.2f} → "
             f"{metrics['held_out_limb_median_pct_after']:.2f}%. {metrics['seconds']:.0f} s.", ""]
    lines += report_table(before, after, seen, offsets, owner, parent)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text("\n".join(lines) + "\n")
    print("\n".join(lines[4:9]))
    log.info("wrote %s and %s", args.out, args.report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
