"""The app's body model: the embedded Anny-derived SMPL-format model, or the user's own SMPL.

All the maths goes through `smplx.SMPL`, so any SMPL pose or shape the app produces means the same
on either model (up to the models' different joint placement). Nothing here imports Qt.

Which file is used (first hit wins): an explicit path (the app setting) -> $GENHMR_SMPL_PATH (file
or folder) -> <user data>/models -> WEIGHTS_DIR (SMPL_NEUTRAL.pkl or basicModel_neutral_*.pkl) ->
the embedded WEIGHTS_DIR/body/anny_smpl_neutral.npz.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import smplx
import torch
from smplx.lbs import batch_rodrigues

from genhmr_app import paths
from genhmr_app.body.keypoints import (
    COCO17_NAMES,
    FACE_VERTEX_NAMES,
    MEDIAPIPE33_NAMES,
    NUM_JOINTS,
    SMPL_JOINT_NAMES,
    SMPL_NUM_VERTICES,
    KeypointMap,
    smpl_keypoint_maps,
)
from genhmr_app.body.smpl_file import BodyModelError, read_npz, read_smpl_pickle

log = logging.getLogger(__name__)

__all__ = [
    "BodyModel",
    "BodyModelError",
    "BodyModelInfo",
    "BodyOutput",
    "EMBEDDED_RELATIVE_PATH",
    "embedded_model_path",
    "find_body_model_file",
    "load_body_model",
    "load_body_model_with_fallback",
]

NUM_BETAS = 10
NUM_POSE_BASIS = (NUM_JOINTS - 1) * 9
EMBEDDED_RELATIVE_PATH = Path("body") / "anny_smpl_neutral.npz"
ENV_VAR = "GENHMR_SMPL_PATH"
SMPL_FILE_NAMES = ("SMPL_NEUTRAL.pkl", "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")
SMPL_LICENCE = "SMPL Model License (non-commercial; file supplied by the user)"


@dataclass(frozen=True)
class BodyModelInfo:
    name: str  # "Anny-SMPL (embedded)", "SMPL neutral", ...
    kind: str  # "embedded" | "smpl"
    path: Path
    num_vertices: int
    num_betas: int
    licence: str


@dataclass
class BodyOutput:
    """Everything in metres, SMPL axes (Y up, facing +Z, the body's left at +X), transl applied."""

    vertices: torch.Tensor  # (B, V, 3)
    joints: torch.Tensor  # (B, 24, 3) in SMPL joint order
    keypoints_coco17: torch.Tensor  # (B, 17, 3) see keypoints.COCO17_NAMES
    keypoints_mediapipe33: torch.Tensor  # (B, 33, 3) see keypoints.MEDIAPIPE33_NAMES


def embedded_model_path() -> Path:
    return paths.WEIGHTS_DIR / EMBEDDED_RELATIVE_PATH


class BodyModel:
    """An SMPL-format body model (24 joints, 10 betas) wrapped around `smplx.SMPL`."""

    def __init__(
        self, smpl: smplx.SMPL, info: BodyModelInfo, coco17: KeypointMap, mediapipe33: KeypointMap, zero_posedirs: bool
    ) -> None:
        self._smpl = smpl.eval()
        self._info = info
        self._coco17 = coco17
        self._mediapipe33 = mediapipe33
        self._zero_posedirs = zero_posedirs
        self._faces = np.ascontiguousarray(np.asarray(smpl.faces, dtype=np.int64))
        self._faces.setflags(write=False)
        self._parents = smpl.parents.cpu().numpy().astype(np.int64)
        self._parents.setflags(write=False)
        self._mean_rest: np.ndarray | None = None  # mean_rest_vertices, once asked for
        if zero_posedirs:
            self._use_zero_posedirs()

    @property
    def has_pose_correctives(self) -> bool:
        """False for the embedded body (its posedirs are zeros): joints and skinning then define it."""
        return not self._zero_posedirs

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        arrays: dict[str, np.ndarray],
        info: BodyModelInfo,
        face_ids: dict[str, int],
        coco17: KeypointMap,
        mediapipe33: KeypointMap,
    ) -> BodyModel:
        v = arrays["v_template"].astype(np.float32)
        n = len(v)
        shapedirs = arrays["shapedirs"].astype(np.float32)
        if shapedirs.shape[2] < NUM_BETAS:  # keep the app's "10 betas" invariant
            shapedirs = np.concatenate([shapedirs, np.zeros((n, 3, NUM_BETAS - shapedirs.shape[2]), np.float32)], 2)
        posedirs = arrays.get("posedirs")
        zero_posedirs = posedirs is None or not np.any(posedirs)
        if zero_posedirs:
            # A placeholder for smplx's constructor (no 34 MB numpy copy); replaced right after.
            posedirs = np.zeros((1, 1, 1), np.float32)
        kintree = np.asarray(arrays["kintree_table"]).astype(np.int64)
        data = smplx.utils.Struct(
            v_template=v,
            f=arrays["f"].astype(np.int64),
            weights=arrays["weights"].astype(np.float32),
            J_regressor=arrays["J_regressor"].astype(np.float32),
            kintree_table=kintree,
            shapedirs=shapedirs,
            posedirs=posedirs.astype(np.float32),
        )
        bad = [k for k, i in face_ids.items() if not 0 <= i < n]
        if bad or max(coco17.max_vertex_id(), mediapipe33.max_vertex_id()) >= n:
            raise BodyModelError(f"{info.path.name}: keypoint vertex ids do not fit a {n}-vertex mesh. Path: {info.path}")
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):  # smplx print()s a warning about < 300 betas
            smpl = smplx.SMPL(
                model_path=str(info.path),
                data_struct=data,
                vertex_ids={k: int(face_ids[k]) for k in FACE_VERTEX_NAMES},
                num_betas=NUM_BETAS,
                use_feet_keypoints=False,
                use_hands=False,
                create_betas=False,
                create_global_orient=False,
                create_body_pose=False,
                create_transl=False,
            )
        if stdout.getvalue().strip():
            log.debug("smplx: %s", stdout.getvalue().strip())
        return cls(smpl, info, coco17, mediapipe33, zero_posedirs)

    def _use_zero_posedirs(self) -> None:
        # Anny has no pose correctives. A dense (207, 3V) block of zeros (34 MB) is wasteful but
        # measured fastest here: smplx's matmul copies an expanded zero view on every call
        # (batch 1: 2 ms dense vs 13 ms expanded).
        s = self._smpl
        s.posedirs = torch.zeros(NUM_POSE_BASIS, s.v_template.shape[0] * 3, dtype=s.v_template.dtype, device=s.v_template.device)

    # -- properties --------------------------------------------------------------------------
    @property
    def info(self) -> BodyModelInfo:
        return self._info

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) int64, read-only."""
        return self._faces

    @property
    def parents(self) -> np.ndarray:
        """(24,) parent joint of each joint, -1 for the pelvis."""
        return self._parents

    @property
    def joint_names(self) -> tuple[str, ...]:
        return SMPL_JOINT_NAMES

    @property
    def num_betas(self) -> int:
        return NUM_BETAS

    @property
    def num_vertices(self) -> int:
        return int(self._smpl.v_template.shape[0])

    @property
    def device(self) -> torch.device:
        return self._smpl.v_template.device

    @property
    def dtype(self) -> torch.dtype:
        return self._smpl.v_template.dtype

    @property
    def smpl(self) -> smplx.SMPL:
        """The wrapped smplx module (for code that needs its buffers, e.g. lbs_weights)."""
        return self._smpl

    @property
    def coco17_map(self) -> KeypointMap:
        return self._coco17

    @property
    def mediapipe33_map(self) -> KeypointMap:
        return self._mediapipe33

    def to(self, device: torch.device | str) -> BodyModel:
        device = torch.device(device)
        self._smpl.to(device)
        self._coco17 = self._coco17.to(device)
        self._mediapipe33 = self._mediapipe33.to(device)
        return self

    def __repr__(self) -> str:
        i = self._info
        return f"BodyModel({i.name!r}, {i.num_vertices} vertices, {i.path})"

    # -- evaluation --------------------------------------------------------------------------
    def _tensor(self, x: Any) -> torch.Tensor:
        return torch.as_tensor(x, dtype=self.dtype, device=self.device)

    def _poses(self, global_orient: Any, body_pose: Any) -> tuple[torch.Tensor, torch.Tensor, bool]:
        go, bp = self._tensor(global_orient), self._tensor(body_pose)
        # By rank, not by trailing shape: a batch of 3 axis-angles is (3, 3) too.
        go_rot = go.ndim in (3, 4) and go.shape[-2:] == (3, 3)
        bp_rot = bp.ndim == 4
        if go_rot:
            go = go.reshape(go.shape[0], 1, 3, 3)
        elif go.ndim != 2 or go.shape[1] != 3:
            raise ValueError(f"global_orient must be (B, 3) axis-angle or (B, 3, 3) / (B, 1, 3, 3), got {tuple(go.shape)}")
        if bp_rot:
            if bp.shape[1:] != (NUM_JOINTS - 1, 3, 3):
                raise ValueError(f"body_pose rotation matrices must be (B, 23, 3, 3), got {tuple(bp.shape)}")
        else:
            bp = bp.reshape(bp.shape[0], -1)
            if bp.shape[1] != (NUM_JOINTS - 1) * 3:
                raise ValueError(f"body_pose must be (B, 69) axis-angle or (B, 23, 3, 3), got {tuple(bp.shape)}")
        if go.shape[0] != bp.shape[0]:
            raise ValueError(f"global_orient and body_pose batch sizes differ ({go.shape[0]} vs {bp.shape[0]})")
        if not go_rot and not bp_rot:
            return go, bp, True
        if not go_rot:
            go = batch_rodrigues(go).reshape(-1, 1, 3, 3)
        if not bp_rot:
            bp = batch_rodrigues(bp.reshape(-1, 3)).reshape(-1, NUM_JOINTS - 1, 3, 3)
        return go, bp, False

    def _betas(self, betas: Any, batch: int) -> torch.Tensor:
        if betas is None:
            return torch.zeros(batch, NUM_BETAS, dtype=self.dtype, device=self.device)
        b = self._tensor(betas)
        if b.ndim == 1:
            b = b[None]
        if b.shape[1] > NUM_BETAS:
            raise ValueError(f"this body model takes {NUM_BETAS} betas, got {b.shape[1]}")
        if b.shape[1] < NUM_BETAS:
            b = torch.nn.functional.pad(b, (0, NUM_BETAS - b.shape[1]))
        if b.shape[0] not in (1, batch):
            raise ValueError(f"betas batch {b.shape[0]} does not match the pose batch {batch}")
        return b.expand(batch, -1)

    def forward(
        self, global_orient: Any, body_pose: Any, betas: Any = None, transl: Any = None
    ) -> BodyOutput:
        """Pose the body. Axis-angle ((B, 3), (B, 69)) or rotation matrices ((B, 1, 3, 3) or
        (B, 3, 3), (B, 23, 3, 3)); betas (B, <=10) or (10,); transl (B, 3) moves everything."""
        go, bp, pose2rot = self._poses(global_orient, body_pose)
        batch = go.shape[0]
        b = self._betas(betas, batch)
        t = torch.zeros(batch, 3, dtype=self.dtype, device=self.device) if transl is None else self._tensor(transl).reshape(-1, 3).expand(batch, 3)
        if self._zero_posedirs:
            vertices, joints = self._skin_without_correctives(go, bp, b, t, pose2rot)
        else:
            out = self._smpl(betas=b, body_pose=bp, global_orient=go, transl=t, pose2rot=pose2rot)
            vertices, joints = out.vertices, out.joints[:, :NUM_JOINTS]
        return BodyOutput(
            vertices=vertices,
            joints=joints,
            keypoints_coco17=self._coco17.apply(joints, vertices),
            keypoints_mediapipe33=self._mediapipe33.apply(joints, vertices),
        )

    __call__ = forward

    def _skin_without_correctives(self, go: torch.Tensor, bp: torch.Tensor, betas: torch.Tensor, transl: torch.Tensor,
                                  pose2rot: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """smplx.lbs.lbs for a body whose posedirs are zeros, without their product: the same vertices
        and joints (B, V, 3), (B, 24, 3), but one body costs ~1.2 ms less here (the (1, 207) x (207, 3V)
        product reads 34 MB of zeros, and evicts the rest from the cache)."""
        s = self._smpl
        batch = go.shape[0]
        if pose2rot:
            rot = batch_rodrigues(torch.cat([go.reshape(batch, 3), bp.reshape(batch, -1)], 1).reshape(-1, 3))
        else:
            rot = torch.cat([go.reshape(batch, 1, 3, 3), bp], 1)
        v_shaped = s.v_template + smplx.lbs.blend_shapes(betas, s.shapedirs)
        joints_rest = smplx.lbs.vertices2joints(s.J_regressor, v_shaped)
        joints, transforms = smplx.lbs.batch_rigid_transform(rot.reshape(batch, -1, 3, 3), joints_rest, s.parents, dtype=s.dtype)
        skin = (s.lbs_weights @ transforms.reshape(batch, -1, 16)).reshape(batch, -1, 4, 4)
        vertices = (skin[..., :3, :3] @ v_shaped[..., None])[..., 0] + skin[..., :3, 3]
        return vertices + transl[:, None], joints + transl[:, None]

    def _shape_betas(self, betas: Any) -> torch.Tensor:
        if betas is None:
            return self._betas(None, 1)
        b = self._tensor(betas)
        b = b[None] if b.ndim == 1 else b
        return self._betas(b, b.shape[0])

    def rest_vertices(self, betas: Any = None) -> torch.Tensor:
        """(B, V, 3) T-posed mesh for these betas (pelvis near the origin)."""
        return self._smpl.v_template + smplx.lbs.blend_shapes(self._shape_betas(betas), self._smpl.shapedirs)

    def mean_rest_vertices(self) -> np.ndarray:
        """(V, 3) float32 T-pose of the mean shape, as numpy, worked out once. Display code (overlay
        triangulations, framing) keys on it; it equals forward() at zero pose and zero betas."""
        if self._mean_rest is None:
            with torch.no_grad():
                rest = self.rest_vertices()[0].detach().cpu().numpy().astype(np.float32)
            rest.setflags(write=False)
            self._mean_rest = rest
        return self._mean_rest

    def rest_joints(self, betas: Any = None) -> torch.Tensor:
        """(B, 24, 3) joint positions of the T-pose for these betas."""
        return smplx.lbs.vertices2joints(self._smpl.J_regressor, self.rest_vertices(betas))


# -- files --------------------------------------------------------------------------------------


def _smpl_in_folder(folder: Path) -> Path | None:
    for base in (folder, folder / "smpl"):
        if not base.is_dir():
            continue
        for name in SMPL_FILE_NAMES:
            if (base / name).is_file():
                return base / name
        # Case-insensitive fallbacks: the downloads come as basicmodel_neutral_* or basicModel_neutral_*.
        hits = sorted(p for p in base.iterdir() if p.is_file() and p.suffix.lower() == ".pkl" and (
            p.name.lower().startswith("basicmodel_neutral") or p.name.lower() == "smpl_neutral.pkl"))
        if hits:
            return hits[0]
    return None


def _resolve_user_path(path: Path, origin: str) -> Path:
    path = path.expanduser()
    if path.is_dir():
        found = _smpl_in_folder(path)
        if found is None:
            raise BodyModelError(
                f"No SMPL model in the folder {path} ({origin}). Expected {SMPL_FILE_NAMES[0]} or "
                f"{SMPL_FILE_NAMES[1]}."
            )
        return found
    if not path.is_file():
        raise BodyModelError(f"Body model file not found: {path} ({origin}).")
    return path


def find_body_model_file(explicit: Path | str | None = None) -> Path:
    """The body model file to load (see the module docstring for the order). Raises BodyModelError
    when an explicitly named file or folder (argument or $GENHMR_SMPL_PATH) has no model, or when
    nothing at all is found."""
    if explicit:
        return _resolve_user_path(Path(explicit), "the body model setting")
    env = os.environ.get(ENV_VAR)
    if env:
        return _resolve_user_path(Path(env), f"${ENV_VAR}")
    for folder in (paths.user_data_dir() / "models", paths.WEIGHTS_DIR):
        found = _smpl_in_folder(folder)
        if found is not None:
            return found
    embedded = embedded_model_path()
    if embedded.is_file():
        return embedded
    raise BodyModelError(
        f"No body model found. The embedded model {embedded} is missing. {paths.repair_hint(embedded)} "
        f"Or put SMPL_NEUTRAL.pkl in {paths.user_data_dir() / 'models'}."
    )


def _load_npz(path: Path) -> BodyModel:
    data = read_npz(path)
    try:
        meta = json.loads(str(data["metadata_json"])) if "metadata_json" in data else {}
    except json.JSONDecodeError:
        meta = {}
    v = data["v_template"]
    info = BodyModelInfo(
        name=str(meta.get("name", f"SMPL-format model ({path.name})")),
        kind=str(meta.get("kind", "embedded")),
        path=path,
        num_vertices=len(v),
        num_betas=NUM_BETAS,
        licence=str(meta.get("licence", "unknown")),
    )
    try:
        face_ids = dict(zip(FACE_VERTEX_NAMES, (int(i) for i in data["face_vertex_ids"]), strict=True))
        coco = KeypointMap.from_arrays(
            COCO17_NAMES, data["coco17_joint_weights"], data["coco17_vertex_ids"], data["coco17_vertex_weights"]
        )
        mp = KeypointMap.from_arrays(
            MEDIAPIPE33_NAMES,
            data["mediapipe33_joint_weights"],
            data["mediapipe33_vertex_ids"],
            data["mediapipe33_vertex_weights"],
        )
    except (KeyError, ValueError) as exc:
        raise BodyModelError(f"{path.name}: keypoint definitions are missing or malformed ({exc}). Path: {path}") from exc
    return BodyModel.from_arrays(data, info, face_ids, coco, mp)


def _load_pickle(path: Path) -> BodyModel:
    arrays = read_smpl_pickle(path)
    v = arrays["v_template"].astype(np.float64)
    joints = arrays["J_regressor"].astype(np.float64) @ v
    face_ids, coco, mp = smpl_keypoint_maps(v, joints)
    official = len(v) == SMPL_NUM_VERTICES
    if "posedirs" not in arrays:
        log.warning("%s has no posedirs; using none (no pose correctives)", path)
    info = BodyModelInfo(
        name="SMPL neutral" if official else f"SMPL-format model ({path.name})",
        kind="smpl",
        path=path,
        num_vertices=len(v),
        num_betas=NUM_BETAS,
        licence=SMPL_LICENCE,
    )
    return BodyModel.from_arrays(arrays, info, face_ids, coco, mp)


def load_body_model(path: Path | str | None = None, device: torch.device | str = "cpu") -> BodyModel:
    """Load the body model (see find_body_model_file); BodyModelError says what is wrong."""
    file = find_body_model_file(path)
    try:
        model = _load_npz(file) if file.suffix.lower() == ".npz" else _load_pickle(file)
    except BodyModelError:
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # anything smplx or numpy trips over is still a bad model file
        hint = f" {paths.repair_hint(file)}" if file == embedded_model_path() else ""
        raise BodyModelError(f"{file.name} could not be used as a body model ({type(exc).__name__}: {exc}). "
                             f"Path: {file}.{hint}") from exc
    model.to(device)
    i = model.info
    log.info("Body model: %s, %d vertices, from %s (%s)", i.name, i.num_vertices, i.path, i.licence)
    return model


def load_body_model_with_fallback(
    path: Path | str | None = None, device: torch.device | str = "cpu"
) -> tuple[BodyModel, str | None]:
    """Like load_body_model, but a broken or missing user model falls back to the embedded one.

    Returns (model, warning): warning is None when the requested model loaded, else a sentence
    for the user. Raises BodyModelError only when the embedded model itself cannot be loaded.
    """
    try:
        return load_body_model(path, device), None
    except BodyModelError as exc:
        embedded = embedded_model_path()
        if not embedded.is_file():
            raise
        warning = f"{exc} Using the built-in body model instead."
        log.warning("%s", warning)
        # If the embedded model was the one that failed, this raises again: nothing to fall back to.
        return load_body_model(embedded, device), warning
