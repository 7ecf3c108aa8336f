"""Build the embedded SMPL-format body model from Anny (dev tool; needs `pip install anny==0.6.2`).

What it does, and why:
- Samples adult Anny phenotypes (18-70 years, Anny's own WHO-calibrated height/weight priors), so the
  shape space covers people the app will see rather than Anny's full newborn-to-old range.
- Straightens each sample from Anny's A-pose into SMPL's T-pose with Anny's own skinning weights
  (arms, then forearms, then hands onto the X axis), because SMPL poses are rotations relative to
  a T-pose; a different rest pose would make every SMPL pose come out wrong.
- Folds Anny's 104 bones into SMPL's 24 joints (weights add up), converts to SMPL axes (Y up,
  facing +Z, the body's left at +X) with the pelvis at the origin.
- Shape space: PCA of the T-posed samples, scaled so betas ~ N(0, 1); beta 0 is mostly height
  (positive = taller).
- Joint regressor: Anny's bone heads are not mesh vertices, so each joint is fitted as a sum-to-one
  ridge combination of its nearest vertices, over many shapes, and checked on held-out shapes.
- No pose correctives (Anny has none): posedirs are built as zeros at load time, not shipped.

Run: `python main.py build-body-model` (or `python -m genhmr_app.body.build_anny`). The first Anny
build writes a cache (ANNY_CACHE_DIR, default: the app's cache folder) and takes about a minute.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genhmr_app import paths
from genhmr_app.body.keypoints import (
    COCO17_NAMES,
    FACE_VERTEX_NAMES,
    MEDIAPIPE33_NAMES,
    NUM_JOINTS,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    J,
    KeypointMap,
    Term,
    coco17_spec,
    derive_face_details,
    mediapipe33_spec,
)
from genhmr_app.body.smpl_file import NPZ_FORMAT

log = logging.getLogger(__name__)

ANNY_VERSION = "0.6.2"
LICENCE = "MakeHuman mesh CC0; Anny code Apache-2.0"
MODEL_NAME = "Anny-SMPL (embedded)"
DEFAULT_OUT = Path("body") / "anny_smpl_neutral.npz"  # under WEIGHTS_DIR

# Anny: Z up, facing -Y, left at +X.  SMPL: Y up, facing +Z, left at +X.  A proper rotation.
ANNY_TO_SMPL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

# Per SMPL joint: the Anny bone heads whose mean is the joint centre ({s} = L or R).
JOINT_CENTRE_BONES: dict[str, tuple[str, ...]] = {
    "pelvis": ("root",), "spine1": ("spine03",), "spine2": ("spine02",), "spine3": ("spine01",),
    "neck": ("neck01",), "head": ("head",), "hip": ("upperleg01.{s}",), "knee": ("lowerleg01.{s}",),
    "ankle": ("foot.{s}",), "foot": tuple(f"toe{i}-1.{{s}}" for i in range(1, 6)),
    "collar": ("clavicle.{s}",), "shoulder": ("upperarm01.{s}",), "elbow": ("lowerarm01.{s}",),
    "wrist": ("wrist.{s}",), "hand": tuple(f"finger{i}-1.{{s}}" for i in range(2, 6)),
}  # fmt: skip

# The T-pose: (pivot bone, bone whose head must end on +-X, root of the subtree that turns).
T_POSE_STEPS = (("upperarm01", "lowerarm01"), ("lowerarm01", "wrist"), ("wrist", "finger3-1"))

# MediaPipe knuckles (BlazePose pinky_1, index_1, thumb_2) as Anny bone heads.
HAND_LANDMARK_BONES = {"pinky": "finger5-1", "index": "finger2-1", "thumb": "finger1-2"}


def smpl_joint_of_bone(label: str) -> str:
    """Which SMPL joint an Anny bone's skinning weight is folded into."""
    base, _, side = label.partition(".")
    s = {"L": "l_", "R": "r_"}.get(side, "")
    if base in ("root", "pelvis", "spine05"):
        return "pelvis"
    table = {"spine04": "spine1", "spine03": "spine1", "spine02": "spine2", "spine01": "spine3",
             "head": "head", "eye": "head", "clavicle": s + "collar", "shoulder01": s + "collar",
             "wrist": s + "wrist", "foot": s + "ankle"}  # fmt: skip
    if base in table:
        return table[base]
    prefixes = (("neck", "neck"), ("upperleg", s + "hip"), ("lowerleg", s + "knee"), ("toe", s + "foot"),
                ("upperarm", s + "shoulder"), ("lowerarm", s + "elbow"), ("metacarpal", s + "wrist"),
                ("finger", s + "hand"))  # fmt: skip
    for prefix, joint in prefixes:
        if base.startswith(prefix):
            return joint
    raise KeyError(f"no SMPL joint for Anny bone {label!r}")


@dataclass
class AnnySamples:
    vertices: np.ndarray  # (N, V, 3) T-posed, SMPL axes, pelvis at origin
    joints: np.ndarray  # (N, 24, 3)
    extra: dict[str, np.ndarray]  # name -> (N, 3) other bone heads we need (hand landmarks)


def _import_anny(cache_dir: Path | None) -> Any:
    cache = Path(cache_dir or os.environ.get("ANNY_CACHE_DIR") or paths.user_cache_dir() / "anny")
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["ANNY_CACHE_DIR"] = str(cache)
    try:
        import anny
        import anny.paths
    except ImportError as exc:  # a dev-only dependency: say how to get it
        raise SystemExit(f"anny is not installed ({exc}); run: pip install -r requirements-dev.txt") from exc
    anny.paths.set_anny_cache_path(cache)
    if anny.__version__ != ANNY_VERSION:
        log.warning("anny %s installed; this builder was checked with %s", anny.__version__, ANNY_VERSION)
    log.info("Anny %s, cache %s", anny.__version__, cache)
    return anny


def _rotation_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B, 3) directions -> (B, 3, 3) smallest rotation taking a onto b (no twist about either)."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    axis = torch.cross(a, b, dim=-1)
    sin, cos = axis.norm(dim=-1), (a * b).sum(-1)
    k = axis / sin.clamp_min(1e-12)[:, None]
    kx = torch.zeros(a.shape[0], 3, 3, dtype=a.dtype)
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx = kx - kx.transpose(1, 2)
    eye = torch.eye(3, dtype=a.dtype).expand_as(kx)
    return eye + sin[:, None, None] * kx + (1 - cos)[:, None, None] * (kx @ kx)


class _AnnyRig:
    """The parts of an Anny model the builder uses, as plain tensors."""

    def __init__(self, anny: Any) -> None:
        t0 = time.perf_counter()
        self.model = anny.Anny()  # default 104-bone rig, 6 phenotypes
        log.info("Anny model ready in %.1f s", time.perf_counter() - t0)
        m = self.model
        self.labels: list[str] = list(m.bone_labels)
        self.parents: list[int] = list(m.bone_parents)
        self.index = {name: i for i, name in enumerate(self.labels)}
        v = m.template_vertices.shape[0]
        w = torch.zeros(v, len(self.labels), dtype=torch.float64)
        w.scatter_add_(1, m.vertex_bone_indices.long(), m.vertex_bone_weights.to(torch.float64))
        self.bone_weights = w  # (V, bones)
        self.faces = m.faces.numpy().astype(np.int32)
        self.coco_regressor = anny.KeypointsRegressor.coco(m)
        if self.faces.shape[1] != 3:
            raise RuntimeError(f"expected a triangle mesh from Anny, got faces {self.faces.shape}")

    def subtree(self, root: str) -> list[int]:
        inside = {self.index[root]}
        for i, p in enumerate(self.parents):  # parents come before children in Anny's list
            if p in inside:
                inside.add(i)
        return sorted(inside)

    def rest(self, phenotypes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        none = torch.zeros(1, 0, dtype=m.dtype)
        coeffs = m._get_phenotype_blendshape_coefficients(phenotypes.to(m.dtype), none, none)
        rest = m.get_rest_model(coeffs)
        return rest["rest_vertices"].to(torch.float64), rest["rest_bone_heads"].to(torch.float64)

    def t_pose(self, vertices: torch.Tensor, heads: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate arm subtrees (world space, about their pivot heads) and re-skin with Anny's weights."""
        n, nb = heads.shape[:2]
        rot = torch.eye(3, dtype=torch.float64).repeat(n, nb, 1, 1)
        trans = torch.zeros(n, nb, 3, dtype=torch.float64)

        def world(bone: int) -> torch.Tensor:
            return (rot[:, bone] @ heads[:, bone, :, None])[..., 0] + trans[:, bone]

        for side, sign in (("L", 1.0), ("R", -1.0)):
            target = torch.tensor([[sign, 0.0, 0.0]], dtype=torch.float64).expand(n, 3)
            for pivot_name, tip_name in T_POSE_STEPS:
                pivot, tip = self.index[f"{pivot_name}.{side}"], self.index[f"{tip_name}.{side}"]
                p = world(pivot)
                r = _rotation_between(world(tip) - p, target)
                sub = self.subtree(f"{pivot_name}.{side}")
                rot[:, sub] = r[:, None] @ rot[:, sub]
                trans[:, sub] = (r[:, None] @ (trans[:, sub] - p[:, None])[..., None])[..., 0] + p[:, None]
        blend_rot = torch.einsum("vb,nbij->nvij", self.bone_weights, rot)
        blend_trans = torch.einsum("vb,nbi->nvi", self.bone_weights, trans)
        posed = (blend_rot @ vertices[..., None])[..., 0] + blend_trans
        posed_heads = (rot @ heads[..., None])[..., 0] + trans
        return posed, posed_heads

    def joint_centres(self, heads: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(heads.shape[0], NUM_JOINTS, 3, dtype=heads.dtype)
        for j, name in enumerate(SMPL_JOINT_NAMES):
            side, base = (name[0].upper(), name[2:]) if name[:2] in ("l_", "r_") else ("", name)
            bones = [self.index[b.format(s=side)] for b in JOINT_CENTRE_BONES[base]]
            out[:, j] = heads[:, bones].mean(1)
        return out

    def folded_weights(self) -> np.ndarray:
        fold = np.zeros((len(self.labels), NUM_JOINTS))
        for b, label in enumerate(self.labels):
            fold[b, J[smpl_joint_of_bone(label)]] = 1.0
        w = self.bone_weights.numpy() @ fold
        return w / w.sum(1, keepdims=True)


def sample_phenotypes(rig: _AnnyRig, anny: Any, count: int, seed: int) -> torch.Tensor:
    from anny.shape_distribution import SimpleShapeDistribution

    m = rig.model
    ages = torch.distributions.Uniform(torch.tensor(18.0, dtype=m.dtype), torch.tensor(70.0, dtype=m.dtype))
    dist = SimpleShapeDistribution(m, morphological_age_distribution=ages)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        _, kwargs = dist.sample(count)
    return torch.stack([kwargs[label] for label in m.phenotype_labels], dim=1)


def make_samples(rig: _AnnyRig, phenotypes: torch.Tensor, batch: int = 100) -> AnnySamples:
    to_smpl = torch.as_tensor(ANNY_TO_SMPL)
    verts, joints, extra = [], [], {f"{s}_{k}": [] for s in "lr" for k in HAND_LANDMARK_BONES}
    for start in range(0, len(phenotypes), batch):
        v, h = rig.rest(phenotypes[start : start + batch])
        v, h = rig.t_pose(v, h)
        v, h = v @ to_smpl.T, h @ to_smpl.T
        origin = h[:, rig.index["root"]][:, None]
        v, h = v - origin, h - origin
        verts.append(v.to(torch.float32))
        joints.append(rig.joint_centres(h))
        for key in extra:
            side, what = key.split("_")
            extra[key].append(h[:, rig.index[f"{HAND_LANDMARK_BONES[what]}.{side.upper()}"]])
    return AnnySamples(
        vertices=torch.cat(verts).numpy(),
        joints=torch.cat(joints).numpy(),
        extra={k: torch.cat(v).numpy() for k, v in extra.items()},
    )


@dataclass
class ShapeSpace:
    mean: np.ndarray  # (V, 3)
    dirs: np.ndarray  # (V, 3, K), scaled: betas ~ N(0, 1)
    explained: np.ndarray  # (K,) cumulative fraction of variance


def fit_shape_space(vertices: np.ndarray, components: int) -> ShapeSpace:
    n, v, _ = vertices.shape
    x = vertices.reshape(n, -1).astype(np.float64)
    mean = x.mean(0)
    x -= mean
    # Gram matrix (N x N) instead of an SVD of N x 3V: same components, far less memory.
    gram = x @ x.T
    evals, evecs = np.linalg.eigh(gram)
    order = np.argsort(evals)[::-1][:components]
    evals, evecs = np.clip(evals[order], 1e-30, None), evecs[:, order]
    basis = (x.T @ evecs) / np.sqrt(evals)  # (3V, K) orthonormal
    std = np.sqrt(evals / (n - 1))
    coeffs = x @ basis
    # Deterministic signs: beta 0 positive = taller; the others by their largest entry.
    heights = vertices[..., 1].max(1) - vertices[..., 1].min(1)
    for k in range(components):
        flip = np.corrcoef(coeffs[:, k], heights)[0, 1] < 0 if k == 0 else basis[np.argmax(np.abs(basis[:, k])), k] < 0
        if flip:
            basis[:, k] *= -1
    explained = np.cumsum(evals) / np.trace(gram)
    return ShapeSpace(mean.reshape(v, 3), (basis * std).reshape(v, 3, components), explained)


def project(space: ShapeSpace, vertices: np.ndarray, k: int) -> np.ndarray:
    n = len(vertices)
    d = space.dirs[:, :, :k].reshape(-1, k)
    x = vertices.reshape(n, -1) - space.mean.reshape(-1)
    betas = np.linalg.lstsq(d, x.T, rcond=None)[0].T
    return (betas @ d.T + space.mean.reshape(-1)).reshape(vertices.shape)


def fit_regressor(
    vertices: np.ndarray,
    targets: np.ndarray,
    template: np.ndarray,
    neighbours: int,
    ridges: Sequence[float] = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3),
    validation: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """Sum-to-one ridge regression of each target point from its `neighbours` nearest vertices.

    vertices (N, V, 3), targets (N, K, 3). The ridge (relative to the Gram diagonal) is chosen per
    target on a validation split. Returns (vertex ids (K, n), weights (K, n)).
    """
    n = len(vertices)
    n_val = max(1, int(n * validation))
    centre = targets.mean(0)
    ids = np.argsort(np.linalg.norm(template[None] - centre[:, None], axis=-1), axis=1)[:, :neighbours]
    weights = np.zeros(ids.shape)
    for k in range(len(centre)):
        a = vertices[:, ids[k], :].astype(np.float64).transpose(0, 2, 1)  # (N, 3, n)
        b = targets[:, k, :].astype(np.float64)
        fit_a, fit_b = a[n_val:].reshape(-1, neighbours), b[n_val:].reshape(-1)
        val_a, val_b = a[:n_val].reshape(-1, neighbours), b[:n_val].reshape(-1)
        g_fit, g_val = fit_a.T @ fit_a, val_a.T @ val_a
        best: tuple[float, float] | None = None
        for ridge in ridges:
            w = _solve_sum_to_one(g_fit, fit_a.T @ fit_b, ridge)
            err = float(np.abs(val_a @ w - val_b).mean())
            if best is None or err < best[0]:
                best = (err, ridge)
        assert best is not None
        weights[k] = _solve_sum_to_one(g_fit + g_val, fit_a.T @ fit_b + val_a.T @ val_b, best[1])
    return ids, weights


def _solve_sum_to_one(gram: np.ndarray, rhs: np.ndarray, ridge: float) -> np.ndarray:
    n = len(gram)
    lam = ridge * float(np.trace(gram)) / n
    kkt = np.zeros((n + 1, n + 1))
    kkt[:n, :n] = gram + lam * np.eye(n)
    kkt[:n, n] = kkt[n, :n] = 1.0
    return np.linalg.solve(kkt, np.append(rhs, 1.0))[:n]


def _dense(ids: np.ndarray, weights: np.ndarray, num_vertices: int) -> np.ndarray:
    out = np.zeros((len(ids), num_vertices))
    for k in range(len(ids)):
        out[k, ids[k]] = weights[k]
    return out


def symmetrise(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror pairs of the template (x -> -x); Anny's mesh is symmetric to a few micrometres."""
    from scipy.spatial import cKDTree

    mirror = vertices * np.array([-1.0, 1.0, 1.0])
    dist, pair = cKDTree(vertices).query(mirror)
    return pair, dist


def build_keypoints(
    rig: _AnnyRig, template: np.ndarray, samples: AnnySamples, train: slice
) -> tuple[dict[str, int], KeypointMap, KeypointMap, dict[str, float]]:
    from scipy.spatial import cKDTree

    tree = cKDTree(template)
    anny_w = rig.coco_regressor.regression_weights.numpy()  # (23, V) over the same vertices
    anny_kp = dict(zip(rig.coco_regressor.labels, anny_w @ template))

    def snap(label: str) -> int:
        return int(tree.query(anny_kp[label])[1])

    face = {"nose": snap("nose"), "leye": snap("left_eye"), "reye": snap("right_eye"),
            "lear": snap("left_ear"), "rear": snap("right_ear")}  # fmt: skip
    details = derive_face_details(template, face)
    feet: dict[str, list[Term]] = {}
    for s, side in (("l", "left"), ("r", "right")):
        feet[f"{s}_heel"] = [("v", snap(f"{side}_heel"), 1.0)]
        feet[f"{s}_foot_index"] = [("v", snap(f"{side}_big_toe"), 1.0)]
    # Knuckles are inside the hand: regress them from nearby vertices like the joints.
    keys = sorted(samples.extra)
    targets = np.stack([samples.extra[k] for k in keys], axis=1)
    ids, weights = fit_regressor(samples.vertices[train], targets[train], template, neighbours=48)
    hands = {key: [("v", int(i), float(w)) for i, w in zip(ids[k], weights[k])] for k, key in enumerate(keys)}
    test = slice(train.stop, None)
    pred = np.einsum("kn,bknc->bkc", weights, samples.vertices[test][:, ids])
    err = {"hand_landmark_mean_mm": float(np.linalg.norm(pred - targets[test], axis=-1).mean() * 1000)}
    coco = KeypointMap.from_spec(COCO17_NAMES, coco17_spec(face))
    mp = KeypointMap.from_spec(MEDIAPIPE33_NAMES, mediapipe33_spec(face, details, hands, feet))
    return face, coco, mp, err


@torch.no_grad()
def build_anny_smpl(
    out_path: Path | str | None = None,
    seed: int = 0,
    num_shapes: int = 2000,
    num_components: int = 20,
    neighbours: int = 1000,
    test_fraction: float = 0.2,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Build the model and write it (compressed npz). Returns the metadata written with it."""
    t_start = time.perf_counter()
    out = Path(out_path) if out_path else paths.WEIGHTS_DIR / DEFAULT_OUT
    anny = _import_anny(cache_dir)
    rig = _AnnyRig(anny)

    pheno = sample_phenotypes(rig, anny, num_shapes, seed)
    t0 = time.perf_counter()
    samples = make_samples(rig, pheno)
    log.info("%d adult shapes sampled and T-posed in %.1f s", num_shapes, time.perf_counter() - t0)
    n_test = max(1, int(num_shapes * test_fraction))
    train = slice(0, num_shapes - n_test)
    test = slice(num_shapes - n_test, None)

    t0 = time.perf_counter()
    space = fit_shape_space(samples.vertices[train], num_components)
    err10 = np.linalg.norm(project(space, samples.vertices[test], 10) - samples.vertices[test], axis=-1)
    errk = np.linalg.norm(project(space, samples.vertices[test], num_components) - samples.vertices[test], axis=-1)
    log.info(
        "Shape PCA in %.1f s: 10 components hold %.3f%% of the variance; held-out vertex error %.2f mm (10), %.2f mm (%d)",
        time.perf_counter() - t0, 100 * space.explained[9], err10.mean() * 1000, errk.mean() * 1000, num_components,
    )  # fmt: skip

    t0 = time.perf_counter()
    ids, w = fit_regressor(samples.vertices[train], samples.joints[train], space.mean, neighbours)
    j_regressor = _dense(ids, w, space.mean.shape[0])
    pred = np.einsum("kv,bvc->bkc", j_regressor, samples.vertices[test])
    reg_err = np.linalg.norm(pred - samples.joints[test], axis=-1) * 1000
    pred10 = np.einsum("kv,bvc->bkc", j_regressor, project(space, samples.vertices[test], 10))
    reg_err10 = np.linalg.norm(pred10 - samples.joints[test], axis=-1) * 1000
    log.info(
        "Joint regressor in %.1f s: held-out error %.2f mm mean, %.2f mm max (%.2f / %.2f mm through 10 betas)",
        time.perf_counter() - t0, reg_err.mean(), reg_err.max(), reg_err10.mean(), reg_err10.max(),
    )  # fmt: skip

    template = space.mean
    pair, mirror_dist = symmetrise(template)
    face, coco, mp, kp_err = build_keypoints(rig, template, samples, train)

    heights = {}
    for b0 in (-3.0, 0.0, 3.0):
        v = template + b0 * space.dirs[:, :, 0]
        heights[f"{b0:+.0f}"] = round(float(v[:, 1].max() - v[:, 1].min()), 4)
    meta = {
        "name": MODEL_NAME,
        "kind": "embedded",
        "licence": LICENCE,
        "source": f"anny=={anny.__version__} (rig 'anny', 6 phenotypes, no local changes)",
        "anny_version": anny.__version__,
        "seed": seed,
        "num_shapes": num_shapes,
        "num_test_shapes": n_test,
        "num_components": num_components,
        "regressor_neighbours": neighbours,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "explained_variance_10": round(float(space.explained[9]), 6),
        "shape_error_mm_10": round(float(err10.mean() * 1000), 3),
        f"shape_error_mm_{num_components}": round(float(errk.mean() * 1000), 3),
        "regressor_error_mm_mean": round(float(reg_err.mean()), 3),
        "regressor_error_mm_max": round(float(reg_err.max()), 3),
        "regressor_error_mm_mean_10_betas": round(float(reg_err10.mean()), 3),
        "template_mirror_error_mm_max": round(float(mirror_dist.max() * 1000), 4),
        "height_m_beta0": heights,
        **{k: round(v, 3) for k, v in kp_err.items()},
        "axes": "SMPL: Y up, facing +Z, body's left at +X, metres, pelvis joint at the origin",
        "pose_correctives": "none (posedirs are zeros)",
    }
    kintree = np.stack([np.array(SMPL_PARENTS), np.arange(NUM_JOINTS)]).astype(np.int64)
    arrays = {
        "format": np.array(NPZ_FORMAT),
        "v_template": template.astype(np.float32),
        "f": rig.faces.astype(np.int32),
        "weights": rig.folded_weights().astype(np.float32),
        "J_regressor": j_regressor.astype(np.float32),
        "kintree_table": kintree,
        "shapedirs": space.dirs.astype(np.float32),
        "joint_names": np.array(SMPL_JOINT_NAMES),
        "face_vertex_names": np.array(FACE_VERTEX_NAMES),
        "face_vertex_ids": np.array([face[k] for k in FACE_VERTEX_NAMES], dtype=np.int32),
        "mirror_vertex_ids": pair.astype(np.int32),
        "metadata_json": np.array(json.dumps(meta)),
    }
    for prefix, kmap in (("coco17", coco), ("mediapipe33", mp)):
        arrays[f"{prefix}_joint_weights"] = kmap.joint_weights.numpy().astype(np.float32)
        arrays[f"{prefix}_vertex_ids"] = kmap.vertex_ids.numpy().astype(np.int32)
        arrays[f"{prefix}_vertex_weights"] = kmap.vertex_weights.numpy().astype(np.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)  # never leave a half-written model where the app looks for it
    meta["build_seconds"] = round(time.perf_counter() - t_start, 1)
    log.info("Wrote %s (%.2f MB) in %.0f s", out, out.stat().st_size / 1e6, meta["build_seconds"])
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build-body-model", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help=f"output .npz (default: WEIGHTS_DIR/{DEFAULT_OUT})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-shapes", type=int, default=2000, help="Anny shapes sampled (20%% held out)")
    parser.add_argument("--components", type=int, default=20, help="shape components stored (the app uses 10)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="Anny cache (default: $ANNY_CACHE_DIR or app cache)")
    parser.add_argument("--render", type=Path, default=None, metavar="PNG", help="also render the mesh to this PNG")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    meta = build_anny_smpl(
        args.out, seed=args.seed, num_shapes=args.num_shapes, num_components=args.components, cache_dir=args.cache_dir
    )
    log.info("Model summary: %s", json.dumps({k: v for k, v in meta.items() if k != "axes"}))
    if args.render:
        from genhmr_app.body.model import load_body_model
        from genhmr_app.body.render import render_body_png

        out = args.out or paths.WEIGHTS_DIR / DEFAULT_OUT
        render_body_png(load_body_model(out), args.render)
        log.info("Rendered %s", args.render)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
