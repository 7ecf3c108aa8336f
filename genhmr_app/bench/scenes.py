"""Rendered people with a known pose, for benchmarks and tests: the embedded body posed from the shared
motion capture, rendered over a procedural room (training/render.py)."""

from __future__ import annotations

import numpy as np
import torch

from genhmr_app.paths import shared_data_dir

WALK_CLIP = ("mocap", "bandai-1", "dataset-1_walk_normal_001.bvh")


def load_walk_clip(clip: tuple[str, ...] = WALK_CLIP):
    """(body model, zero betas, its rest joints (24, 3), the walk (or another shared Bandai `clip`, path
    parts under ../shared/data) retargeted to it). FileNotFoundError when the shared motion capture is
    not there."""
    from genhmr_app.body.model import load_body_model
    from genhmr_app.mocap.readers import read_bandai_bvh
    from genhmr_app.mocap.retarget import retarget_clip

    path = shared_data_dir().joinpath(*clip)
    if not path.exists():
        raise FileNotFoundError(f"motion capture not found at {path}")
    body = load_body_model()
    betas = np.zeros(10, np.float32)
    rest = body.rest_joints(torch.as_tensor(betas)[None])[0].numpy()
    return body, betas, rest, retarget_clip(read_bandai_bvh(path), rest)


def render_walker(wh: tuple[int, int] = (480, 480), frame: int = 40, seed: int = 5, distance_m: float = 3.2):
    """(image RGB, focal px, body model): a walker facing the camera `distance_m` away.
    FileNotFoundError when the shared motion capture is not there."""
    from genhmr_app.conditioning.camera import focal_from_fov
    from genhmr_app.training import render as rnd

    body, betas, rest, clip = load_walk_clip()
    turn = np.array([[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]])  # world Y up → camera y down
    orient = turn @ clip.global_orient[frame]
    transl = np.array([0.0, 0.1, distance_m]) - rest[0]
    focal = focal_from_fov(wh[1], 55.0)
    with torch.no_grad():
        out = body.forward(torch.as_tensor(orient[None], dtype=torch.float32),
                           torch.as_tensor(clip.body_pose[frame:frame + 1], dtype=torch.float32),
                           torch.as_tensor(betas)[None], torch.as_tensor(transl[None], dtype=torch.float32))
    rng = np.random.default_rng(seed)
    with rnd.PersonRenderer(body.faces, wh) as renderer:
        image = renderer.render(out.vertices[0].numpy(), focal, rnd.body_regions(body).colours(rnd.random_outfit(rng)),
                                rnd.make_background("room", wh, rng)).image
    return image, focal, body
