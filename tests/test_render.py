"""The training renderer draws the body exactly where our pinhole camera projects it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("pyvista")

from genhmr_app.conditioning.camera import SMPL_TO_CAMERA, project  # noqa: E402
from genhmr_app.training import render as rnd  # noqa: E402

W, H, FOCAL = 200, 240, 300.0


@pytest.fixture(scope="module")
def body():
    from genhmr_app.body.model import load_body_model

    return load_body_model()


@pytest.fixture(scope="module")
def renderer(body):
    r = rnd.PersonRenderer(body.faces, (W, H))
    yield r
    r.close()


def _posed(body, yaw_deg: float = 0.0, transl=(0.1, 0.05, 3.2)):
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    orient = SMPL_TO_CAMERA @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    pose = torch.zeros(1, 23, 3)
    pose[0, 15, 2], pose[0, 16, 2] = -1.1, 1.1  # arms down, away from the torso
    pose[0, 0, 0] = -0.4  # left thigh forward: limbs at different depths
    with torch.no_grad():
        out = body(torch.tensor(orient, dtype=torch.float32)[None], pose.reshape(1, 69), None,
                   torch.tensor([transl], dtype=torch.float32))
    return out, orient


def test_projected_keypoints_fall_on_the_silhouette(body, renderer):
    out, _ = _posed(body, yaw_deg=20.0)
    verts = out.vertices[0].numpy()
    colours = rnd.body_regions(body).colours(rnd.random_outfit(np.random.default_rng(0)))
    res = renderer.render(verts, FOCAL, colours, rnd.make_background("shapes", (W, H), np.random.default_rng(1)))
    assert res.image.shape == (H, W, 3) and res.image.dtype == np.uint8
    assert res.image.std() > 10  # not blank

    px = project(out.keypoints_mediapipe33, torch.tensor([FOCAL]), torch.tensor([[W, H]], dtype=torch.float32))[0].numpy()
    # A 1-px dilation absorbs the rasteriser's edge rule for keypoints right at a limb's edge.
    mask = res.mask
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    inside = [bool(grown[int(v), int(u)]) for u, v in px]
    assert all(inside), [i for i, ok in enumerate(inside) if not ok]
    assert 0.02 < mask.mean() < 0.6

    # The silhouette is where the vertices project: its box matches theirs to a pixel or two.
    vpx = verts[:, :2] / verts[:, 2:] * FOCAL + np.array([W / 2, H / 2])
    ys, xs = np.nonzero(mask)
    assert abs(xs.min() - vpx[:, 0].min()) < 2 and abs(xs.max() + 1 - vpx[:, 0].max()) < 2
    assert abs(ys.min() - vpx[:, 1].min()) < 2 and abs(ys.max() + 1 - vpx[:, 1].max()) < 2


def test_depth_is_metric_camera_z(body, renderer):
    out, _ = _posed(body)
    verts = out.vertices[0].numpy()
    res = renderer.render(verts, FOCAL)
    nose = out.keypoints_mediapipe33[0, 0].numpy()  # a surface vertex facing the camera
    u, v = nose[:2] / nose[2] * FOCAL + np.array([W / 2, H / 2])
    assert abs(res.depth[int(v), int(u)] - nose[2]) < 0.02
    assert np.isinf(res.depth[0, 0]) and res.alpha[0, 0] == 0.0


def test_render_person_and_backgrounds(body):
    out, _ = _posed(body)
    img = rnd.render_person(out.vertices[0].numpy(), body.faces, FOCAL, (W, H), seed=3)
    assert img.shape == (H, W, 3) and img.dtype == np.uint8 and img.std() > 5
    rng = np.random.default_rng(0)
    for kind in rnd.BACKGROUND_KINDS:
        bg = rnd.make_background(kind, (W, H), rng)
        assert bg.shape == (H, W, 3) and bg.dtype == np.uint8
    photo = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    crop = rnd.photo_background(photo, (W, H), rng, avoid=[(0, 0, 400, 300)])
    assert crop is None  # every crop would overlap the person
    assert rnd.photo_background(photo, (W, H), rng).shape == (H, W, 3)


def test_occlusion_truth_and_capsule_rule(body, renderer):
    from genhmr_app.training.calibrate_noise import capsule_occlusion, depth_occlusion

    bone = rnd.body_regions(body).bone
    flags, capsules = {}, {}
    for yaw in (0.0, 90.0, 180.0):
        out, _ = _posed(body, yaw_deg=yaw)
        verts, kp = out.vertices[0].numpy(), out.keypoints_mediapipe33[0].numpy()
        res = renderer.render(verts, FOCAL)
        px = kp[:, :2] / kp[:, 2:] * FOCAL + np.array([W / 2, H / 2])
        flags[yaw] = depth_occlusion(kp, px, res.depth, verts, bone, FOCAL)
        capsules[yaw] = capsule_occlusion(out.keypoints_mediapipe33)[0].numpy()
    for occ in (flags, capsules):
        assert not occ[0.0][:11].any()  # the face is visible from the front...
        assert occ[180.0][0]  # ...and the nose hidden from behind
        assert not occ[0.0][[11, 12, 23, 24]].any()  # shoulders and hips are seen from the front
        # Yaw 90 turns the body's left away from the camera: the left shoulder is behind the torso.
        assert occ[90.0][11] and not occ[90.0][12]
