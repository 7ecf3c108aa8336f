"""The dressed look of rendered people (training/appearance.py): patterns, a face, loose clothes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genhmr_app.training import render as rnd
from genhmr_app.training.appearance import (SHIRT_PATTERNS, _pattern, dress, dressed_appearance, rest_frame,
                                            vertex_normals)


@pytest.fixture(scope="module")
def body():
    from genhmr_app.body.model import load_body_model

    return load_body_model()


@pytest.fixture(scope="module")
def rest(body):
    return rest_frame(body)


def test_a_dressed_person_is_reproducible_and_clothes_stand_off_only_the_clothes(body, rest):
    regions = rnd.body_regions(body)
    outfit = rnd.random_outfit(np.random.default_rng(1))
    a = dressed_appearance(regions, rest, outfit, np.random.default_rng(7))
    b = dressed_appearance(regions, rest, outfit, np.random.default_rng(7))
    assert np.array_equal(a.colours, b.colours) and np.array_equal(a.offsets, b.offsets)
    assert a.colours.shape == (len(rest.vertices), 3) and a.colours.min() >= 0 and a.colours.max() <= 1
    region = regions.regions(outfit)
    assert (a.offsets >= 0).all() and (a.offsets < 0.1).all()
    assert not a.offsets[region == rnd.SKIN].any()  # bare skin stays on the body
    # Over many people, shirts and trousers stand off the skin, and not all by the same amount.
    shirts = [dressed_appearance(regions, rest, outfit, np.random.default_rng(s)).offsets[region == rnd.SHIRT].mean()
              for s in range(8)]
    assert max(shirts) > 0.005 and np.ptp(shirts) > 0.002


def test_the_face_gets_eyes_where_the_body_has_them(body, rest):
    regions = rnd.body_regions(body)
    outfit = rnd.random_outfit(np.random.default_rng(2))
    a = dressed_appearance(regions, rest, outfit, np.random.default_rng(3))
    eye = rest.face_points[2]  # MediaPipe's left eye
    nearest = np.argsort(np.linalg.norm(rest.vertices - eye, axis=1))[:3]
    assert (a.colours[nearest].mean(1) < 0.2).all()  # the pupil is dark
    assert not np.allclose(a.colours[nearest], regions.colours(outfit)[nearest])


@pytest.mark.parametrize("kind", SHIRT_PATTERNS)
def test_every_pattern_uses_the_garment_colour(kind, rest):
    base = np.array([0.8, 0.1, 0.1], np.float32)
    colours = _pattern(kind, rest.vertices[:2000], base, np.random.default_rng(0))
    assert colours.shape == (2000, 3)
    # The garment's own colour is still there (mottling mixes it with another; where light, nearly pure).
    assert np.abs(colours - base).sum(1).min() < (0.25 if kind == "mottled" else 1e-6)
    if kind != "plain":
        assert not np.isclose(colours, base).all()  # and the pattern adds another


def test_dressing_moves_the_surface_outwards_along_its_normals(body, rest):
    normals = vertex_normals(rest.vertices, rest.faces)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1, atol=1e-5)
    top = rest.vertices[:, 1].argmax()
    assert normals[top, 1] > 0.9  # the crown's normal points up: outwards
    offsets = np.full(len(rest.vertices), 0.02, np.float32)
    moved = dress(rest.vertices, rest.faces, offsets)
    assert np.allclose(np.linalg.norm(moved - rest.vertices, axis=1), 0.02, atol=1e-5)
    assert dress(rest.vertices, rest.faces, np.zeros_like(offsets)) is rest.vertices


def test_dressed_bench_scenes_keep_the_flat_scenes_people_and_change_only_their_look(body):
    pytest.importorskip("pyvista")
    from genhmr_app.bench.run import build_scenes
    from genhmr_app.tokens.data import load_pose_splits

    poses = load_pose_splits()
    flat = build_scenes(body, poses, 2, seed=4)
    dressed = build_scenes(body, poses, 2, seed=4, look="dressed")
    for f, d in zip(flat, dressed):
        assert np.array_equal(f.joints_coco, d.joints_coco) and np.array_equal(f.vertices, d.vertices)
        assert np.abs(f.image.astype(int) - d.image).mean() > 0.3
    with pytest.raises(ValueError, match="look"):
        build_scenes(body, poses, 1, seed=4, look="tuxedo")


def test_rest_frame_is_upright_and_facing_forward(rest):
    v = rest.vertices
    assert np.ptp(v[:, 1]) > 1.2  # Y up: the body's height
    nose, eyes = rest.face_points[0], rest.face_points[[2, 5]]
    assert nose[2] > eyes[:, 2].mean() - 0.01 and nose[1] < eyes[:, 1].mean()
    assert torch.is_tensor(torch.as_tensor(rest.faces))


def test_the_bench_reads_the_targets_again_on_the_dressed_test_set():
    pytest.importorskip("pyvista")
    from genhmr_app.bench.dressed import dressed_section
    from genhmr_app.pipeline.reconstructor import Reconstructor

    lines, summary = dressed_section(Reconstructor(device="cpu"), None, 2, seed=123)
    text = "\n".join(lines)
    assert "## The same test set dressed" in text and "| (a) GenHMR" in text and "| (d) MediaPipe | – |" in text
    from genhmr_app.bench.run import A

    assert summary[A]["n"] >= 1 and np.isfinite(summary[A]["mpjpe"])
    assert set(summary["margins"]) == {"(a) PA-MPJPE ≤ 0.8x MediaPipe world (d)",
                                       "(a) final 2D error ≤ MediaPipe's own 2D error (px)"}
