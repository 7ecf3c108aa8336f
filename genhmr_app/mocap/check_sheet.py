"""A PNG sheet for eyeballing retargeting: source stick figure beside the retargeted SMPL skeleton.

Orthographic cv2 drawing (no GL needed), plus, when a body model is given, the posed mesh rendered
off-screen with PyVista in the same orthographic view. All panels of a frame are turned by the same
heading so the body faces the viewer at a three-quarter angle; the body's left side is blue and its
right side red everywhere (mesh: by skinning weights), so a mirrored or swapped limb shows as a colour
mismatch, and a limb twisted wrongly shows on the mesh (knees, palms) though not on the skeletons.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .clip import MocapClip
from .retarget import RetargetedClip, retarget_clip
from .skeleton_maps import map_for_joint_names
from .smpl_skeleton import J, SMPL_JOINT_NAMES, SMPL_PARENTS

LEFT, RIGHT, MID = (220, 120, 30), (40, 40, 220), (90, 90, 90)  # BGR
_ASF_SIDED = {"hipjoint", "femur", "tibia", "foot", "toes", "clavicle", "humerus", "radius", "wrist", "hand",
              "fingers", "thumb"}  # fmt: skip


def side_of(name: str) -> int:
    """+1 body-left, -1 body-right, 0 midline, from Bandai/CMU/cgspeed joint naming."""
    base = name[:-4] if name.endswith("_End") else name
    if re.search(r"_L$", base) or base.startswith("Left") or re.match(r"L[A-Z]", base):
        return 1
    if re.search(r"_R$", base) or base.startswith("Right") or re.match(r"R[A-Z]", base):
        return -1
    if base[:1] in "lr" and base[1:] in _ASF_SIDED:
        return 1 if base[0] == "l" else -1
    if base.startswith(("l_", "r_")):
        return 1 if base[0] == "l" else -1
    return 0


@dataclass
class SheetRow:
    title: str
    clip: MocapClip
    retargeted: RetargetedClip
    frames: Sequence[int]


def _view(heading: float, yaw_deg: float = 35.0, pitch_deg: float = 8.0) -> np.ndarray:
    """World→view rotation: undo the body heading, then a three-quarter turn and a slight look-down."""
    a = -heading + np.radians(yaw_deg)
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    p = np.radians(pitch_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return rx @ ry


def _heading(ret: RetargetedClip, t: int) -> float:
    q = ret.source_joints[t]
    lat = q[J["l_hip"]] - q[J["r_hip"]]
    return float(np.arctan2(-lat[2], lat[0]))


def _draw_skeleton(img, pts3, parents, sides, view, centre, scale, origin):
    p = (pts3 - centre) @ view.T
    uv = np.stack([origin[0] + p[:, 0] * scale, origin[1] - p[:, 1] * scale], -1)
    # far to near, so nearer limbs overdraw
    order = sorted(range(len(parents)), key=lambda k: -p[k, 2])
    for k in order:
        par = parents[k]
        if par < 0:
            continue
        col = LEFT if sides[k] > 0 else RIGHT if sides[k] < 0 else MID
        a, b = uv[par].astype(int), uv[k].astype(int)
        cv2.line(img, tuple(a), tuple(b), col, 3, cv2.LINE_AA)
    connected = {k for k, par in enumerate(parents) if par >= 0} | {par for par in parents if par >= 0}
    for k in sorted(connected):
        col = LEFT if sides[k] > 0 else RIGHT if sides[k] < 0 else MID
        cv2.circle(img, tuple(uv[k].astype(int)), 4, col, -1, cv2.LINE_AA)


class _MeshPainter:
    """Posed body meshes rendered orthographically with PyVista, coloured by body side."""

    def __init__(self, body, cell: int):
        import pyvista as pv
        import torch

        self._pv, self._torch, self._body, self._cell = pv, torch, body, cell
        w = body.smpl.lbs_weights.detach().cpu().numpy()
        left = [J[n] for n in SMPL_JOINT_NAMES if n.startswith("l_")]
        right = [J[n] for n in SMPL_JOINT_NAMES if n.startswith("r_")]
        side = np.clip(w[:, left].sum(1) - w[:, right].sum(1), -1, 1)[:, None]
        skin = np.array([0.85, 0.78, 0.72])
        blue, red = np.array(LEFT[::-1]) / 255, np.array(RIGHT[::-1]) / 255
        col = skin + np.clip(side, 0, 1) * (blue - skin) * 0.7 + np.clip(-side, 0, 1) * (red - skin) * 0.7
        self._colors = (col * 255).astype(np.uint8)
        self._faces = np.hstack([np.full((len(body.faces), 1), 3), body.faces]).ravel()
        self._plotter = pv.Plotter(off_screen=True, window_size=(cell, cell))
        self._plotter.set_background("white")
        self._plotter.enable_parallel_projection()

    def __call__(self, global_orient, body_pose, transl, view, centre, scale) -> np.ndarray:
        with self._torch.no_grad():
            out = self._body(global_orient[None], body_pose[None], transl=transl[None])
        verts = out.vertices[0].cpu().numpy().astype(np.float64) - centre  # look at the origin
        mesh = self._pv.PolyData(verts, self._faces)
        mesh.point_data["rgb"] = self._colors
        pl = self._plotter
        pl.clear()
        pl.add_mesh(mesh, scalars="rgb", rgb=True, smooth_shading=True)
        # Setting camera_position marks the camera as user-set, so rendering does not re-fit it.
        pl.camera_position = [tuple(5.0 * (view.T @ np.array([0.0, 0.0, 1.0]))), (0.0, 0.0, 0.0),
                              tuple(view.T @ np.array([0.0, 1.0, 0.0]))]  # fmt: skip
        pl.camera.parallel_projection = True
        pl.camera.parallel_scale = 0.5 * self._cell / scale
        pl.camera.clipping_range = (0.01, 20.0)
        pl.render()
        rgb = pl.screenshot(return_img=True)
        return np.ascontiguousarray(rgb[:, :, ::-1])

    def close(self) -> None:
        self._plotter.close()


def render_sheet(
    rows: Sequence[SheetRow], rest_joints: np.ndarray, out_path: Path, cell: int = 280, body=None
) -> Path:
    """body: an optional genhmr_app.body BodyModel (whose rest joints should be `rest_joints`)."""
    n_cols = max(len(r.frames) for r in rows)
    panels = 3 if body is not None else 2
    label_h = 28
    w, h = n_cols * panels * cell, len(rows) * (cell + label_h) + 40
    img = np.full((h, w, 3), 255, np.uint8)
    title = "each frame: source | retargeted SMPL-24 FK" + (" | posed body mesh" if body is not None else "")
    cv2.putText(img, title + "; blue = body left, red = body right", (10, 26), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
    painter = _MeshPainter(body, cell) if body is not None else None
    smpl_sides = [side_of(n) for n in SMPL_JOINT_NAMES]
    for r, row in enumerate(rows):
        fk = row.retargeted.joints(rest_joints)
        src_sides = [side_of(n) for n in row.clip.joint_names]
        # Bandai's joint_Root sits on the floor at the world origin; its "bone" to Hips is not a body part.
        used = map_for_joint_names(row.clip.joint_names).source_joint_names()
        src_parents = [p if p < 0 or row.clip.parents[p] >= 0 or row.clip.joint_names[p] in used else -1
                       for p in row.clip.parents]  # fmt: skip
        # The stand-in converts source axes; draw the source in those axes too.
        y0 = 40 + r * (cell + label_h)
        for c, t in enumerate(row.frames):
            view = _view(_heading(row.retargeted, t))
            x0 = c * panels * cell
            src = row.clip.positions[t] @ _axes_of(row.retargeted, row.clip, t).T
            q_t = row.retargeted.source_joints[t]
            centre = q_t[J["pelvis"]].copy()
            centre[1] = 0.5 * (q_t[:, 1].min() + q_t[:, 1].max())  # vertical middle of the body
            # Scale from the taller of the two so both share one scale.
            height = max(np.ptp(src[:, 1]), np.ptp(fk[t][:, 1]), 1.0)
            scale = 0.8 * cell / height
            for k, (pts, parents, sides) in enumerate(
                [(src, src_parents, src_sides), (fk[t], SMPL_PARENTS, smpl_sides)]
            ):
                ox = x0 + k * cell + cell // 2
                oy = y0 + label_h + cell // 2
                cv2.rectangle(img, (x0 + k * cell + 2, y0 + label_h), (x0 + (k + 1) * cell - 2, y0 + label_h + cell - 2),
                              (235, 235, 235), 1)  # fmt: skip
                _draw_skeleton(img, pts, parents, sides, view, centre, scale, (ox, oy))
            if painter is not None:
                ret = row.retargeted
                # smplx keeps the pelvis at its rest place + transl, as our FK does.
                tile = painter(ret.global_orient[t], ret.body_pose[t], ret.transl[t], view, centre, scale)
                y1 = y0 + label_h
                img[y1 : y1 + cell, x0 + 2 * cell : x0 + 3 * cell] = tile[:cell, :cell]
            cv2.putText(img, f"{row.title}  frame {int(row.clip.frame_numbers()[t])}", (x0 + 8, y0 + 20),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)  # fmt: skip
    if painter is not None:
        painter.close()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out_path), img):
        raise OSError(f"could not write {out_path}")
    return out_path


def _axes_of(ret: RetargetedClip, clip: MocapClip, t: int) -> np.ndarray:
    """The source→SMPL axis change the retargeter used (recovered from its stand-in pelvis)."""
    from .retarget import stand_in_joints, detect_axes

    q, _ = stand_in_joints(clip, map_for_joint_names(clip.joint_names), clip.positions)
    return detect_axes(q)


def default_rows(root: Path, rest_joints: np.ndarray, n_frames: int = 3) -> list[SheetRow]:
    from .readers import read_bandai_bvh, read_cmu_amc, read_cmu_bvh

    specs = [
        ("Bandai-1 dance", lambda: read_bandai_bvh(root / "bandai-1/dataset-1_dance-short_normal_001.bvh")),
        ("Bandai-1 kick", lambda: read_bandai_bvh(root / "bandai-1/dataset-1_kick_normal_001.bvh")),
        ("Bandai-2 wave L hand", lambda: read_bandai_bvh(root / "bandai-2/dataset-2_wave-left-hand_normal_001.bvh")),
        ("Bandai-2 run", lambda: read_bandai_bvh(root / "bandai-2/dataset-2_run_normal_001.bvh")),
        ("CMU AMC 01_05 playground", lambda: read_cmu_amc(root / "cmu/01/01.asf", root / "cmu/01/01_05.amc")),
        ("CMU AMC 11_01 kick", lambda: read_cmu_amc(root / "cmu/11/11.asf", root / "cmu/11/11_01.amc")),
        ("CMU BVH 01_01", lambda: read_cmu_bvh(root / "cmu/bvh/01_01.bvh")),
    ]
    rows = []
    for title, reader in specs:
        clip = reader()
        ret = retarget_clip(clip, rest_joints)
        frames = np.linspace(0.15, 0.85, n_frames) * (clip.num_frames - 1)
        rows.append(SheetRow(title, clip, ret, [int(f) for f in frames]))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    from .. import paths
    from .smpl_skeleton import rest_joints_from_npz

    ap = argparse.ArgumentParser(description="render the retargeting check sheet")
    ap.add_argument("--rest-joints-from", type=Path, default=None,
                    help="rest skeleton npz; default: the embedded body model, whose mesh is then drawn too")
    ap.add_argument("--out", type=Path, default=paths.REPO_ROOT / "docs" / "retarget_check.png")
    args = ap.parse_args(argv)
    body = None
    if args.rest_joints_from is None:
        from genhmr_app.body.model import load_body_model

        body = load_body_model()
        rest = body.rest_joints()[0].detach().cpu().numpy().astype(np.float64)
    else:
        rest = rest_joints_from_npz(args.rest_joints_from)
    out = render_sheet(default_rows(paths.shared_data_dir() / "mocap", rest), rest, args.out, body=body)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
