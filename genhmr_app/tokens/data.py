"""Poses for the tokenizer and the generator: the retargeted motion-capture cache as rotation matrices."""

from __future__ import annotations

import functools
import logging

import roma
import torch

from genhmr_app.body.model import embedded_model_path, load_body_model
from genhmr_app.body.sparse import SparseBody

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def load_pose_splits() -> dict:
    """{"train"|"val"|"test"|"heldout": (N, 23, 3, 3) float32, "meta_info": {...}}, built from the cache
    (`python main.py build-pose-cache`), which needs ../shared/data/mocap the first time."""
    from genhmr_app.mocap.dataset import load_pose_dataset, rest_joints_from_npz

    # The prior is learnt on the embedded model's skeleton (the one the app ships), whichever model
    # the user has loaded; the same rest joints as `main.py build-pose-cache`, so that command pre-builds it.
    rest = rest_joints_from_npz(embedded_model_path())
    ds = load_pose_dataset(rest, progress=True)
    out: dict = {}
    for name, split in ds.splits.items():
        aa = torch.as_tensor(split.body_pose, dtype=torch.float32)
        out[name] = roma.rotvec_to_rotmat(aa)
    out["meta_info"] = {"cache": str(ds.cache_path), "frames": {k: len(v) for k, v in ds.splits.items()},
                        "summary": ds.summary()}
    log.info("poses: %s", ds.summary())
    return out


def rest_body(extra_vertices: int = 1024, seed: int = 0) -> SparseBody:
    """Joints and a fixed vertex subset of the embedded body at the mean shape, for training losses."""
    return SparseBody(load_body_model(), extra_vertices=extra_vertices, seed=seed)
