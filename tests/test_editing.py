"""Editing a pose by hand (issue 11), on a rendered person seen by the real detector, with the shipped
models: a dragged keypoint pulls the mesh onto it; locked tokens survive re-sampling exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genhmr_app.editing.pose_editor import DRAG_STEPS, KeypointEdits, PoseEditor

WH = (480, 480)
LEFT_WRIST = 15  # MediaPipe's index


@pytest.fixture(scope="module")
def edited_scene():
    from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor

    from tests.rendered import render_walker

    image, focal, body = render_walker(WH)
    recon = Reconstructor(body=body)
    result = recon.run(image, ReconstructionSettings(focal_px=focal))
    assert result.people, "the detector should find the rendered person"
    person = result.people[0]
    editor = PoseEditor(recon, person.detection, WH[0], WH[1], focal)
    yield editor, editor.from_hypothesis(person.best)
    recon.close()


def test_a_dragged_keypoint_pulls_the_mesh_onto_it(edited_scene):
    editor, pose = edited_scene
    start = editor.keypoints_px(pose)
    target = start[LEFT_WRIST] + np.array([30.0, -25.0])
    edits = KeypointEdits().pin(LEFT_WRIST, target)
    during = pose
    for _ in range(3):  # a drag: a few warm-started updates, then the settle on release
        during = editor.refit(during, edits, DRAG_STEPS)
    settled = editor.refit(during, edits)
    after = editor.keypoints_px(settled)
    miss = float(np.linalg.norm(after[LEFT_WRIST] - target))
    # The rest of the body keeps fitting the detector as well as a refit without the pin does.
    others = [i for i in range(33) if i not in (LEFT_WRIST, 17, 19, 21, 13)]  # not the left arm and hand
    unpinned = editor.keypoints_px(editor.refit(pose, KeypointEdits()))
    seen = [i for i in others if editor.person.visibility[i] >= 0.5]
    detected = editor.person.landmarks_px[seen]
    err_pinned = float(np.linalg.norm(after[seen] - detected, axis=-1).mean())
    err_free = float(np.linalg.norm(unpinned[seen] - detected, axis=-1).mean())
    print(f"\npinned wrist {np.linalg.norm(start[LEFT_WRIST] - target):.1f} px away → {miss:.2f} px; "
          f"the other keypoints {err_pinned:.1f} px from the detector's (refit without the pin: {err_free:.1f} px)")
    assert miss <= 3.0
    assert err_pinned <= err_free + 3.0, "a wrist edit should not throw the rest of the body around"
    assert not settled.same_as(pose) and np.array_equal(editor.keypoints_px(pose), start)  # pose left as it was


def test_an_ignored_keypoint_stops_pulling(edited_scene):
    editor, pose = edited_scene
    wrong = editor.person.landmarks_px.copy()
    assert editor.error_px(pose, KeypointEdits(ignored=frozenset({LEFT_WRIST}))) >= 0
    refit = editor.refit(pose, KeypointEdits(ignored=frozenset(range(11, 33))), 10)  # only the head counts
    assert np.isfinite(refit.body_pose).all() and np.array_equal(editor.person.landmarks_px, wrong)


def test_locked_tokens_survive_resampling(edited_scene):
    editor, pose = edited_scene
    if editor.recon.generator.config.mode != "generate":
        pytest.skip("the shipped model is the regressor")
    k = len(pose.tokens)
    locked = set(range(0, k, 2))
    proposals = editor.resample(pose, locked, KeypointEdits(), temperature=1.0, hypotheses=3, refine_steps=5)
    assert len(proposals) == 3
    for p in proposals:
        assert np.array_equal(p.tokens[sorted(locked)], pose.tokens[sorted(locked)])
    free = sorted(set(range(k)) - locked)
    assert any(not np.array_equal(p.tokens[free], pose.tokens[free]) for p in proposals), \
        "at temperature 1 some unlocked token should change"


def test_resampled_proposals_wear_their_new_tokens(edited_scene, monkeypatch):
    import roma

    import genhmr_app.editing.pose_editor as pose_editor

    editor, pose = edited_scene
    if editor.recon.generator.config.mode != "generate":
        pytest.skip("the shipped model is the regressor")
    last = {}
    real_iterate = pose_editor.iterate

    def recording_iterate(*args, **kwargs):
        for step in real_iterate(*args, **kwargs):
            last["step"] = step
            yield step

    monkeypatch.setattr(pose_editor, "iterate", recording_iterate)
    proposals = editor.resample(pose, set(), KeypointEdits(), temperature=1.5, hypotheses=2, refine_steps=0)
    step = last["step"]
    for p in proposals:  # with no refit steps the pose is exactly what the new tokens decode to
        s = [i for i in range(2) if np.array_equal(step.tokens[i].numpy(), p.tokens)][0]
        with torch.no_grad():
            latents = editor.recon.tokenizer.latents(torch.as_tensor(p.tokens)[None])
            if step.output.latent_offset is not None:  # plus the generator's continuous offset
                latents = latents + step.output.latent_offset[s:s + 1]
            decoded = editor.recon.tokenizer.decode_latents(latents)[0]
        assert np.allclose(roma.rotvec_to_rotmat(torch.as_tensor(p.body_pose).reshape(23, 3)).numpy(),
                           decoded.double().numpy(), atol=1e-4)


def test_a_drag_continues_one_fit_from_move_to_move(edited_scene):
    """A drag's moves continue one fit (the newest pose computed, and the optimiser's moments), even
    when the window hands back an older pose because it had not drawn the newest yet."""
    from types import SimpleNamespace

    from genhmr_app.editing.pose_editor import PoseFit, drag_refit

    editor, pose = edited_scene
    start = editor.keypoints_px(pose)
    target = start[LEFT_WRIST] + np.array([40.0, -30.0])
    edits = KeypointEdits().pin(LEFT_WRIST, target)
    ctx = SimpleNamespace(recon=editor.recon, cache={})
    camera = (editor.width, editor.height, editor.focal)
    moves = 12
    for _ in range(moves):  # the window keeps passing the pose it drew first: stale on purpose
        continued, shown = drag_refit(ctx, editor.person, camera, pose, edits, DRAG_STEPS, False, drag=1)
    restarted = pose
    for _ in range(moves):  # what restarting from the given pose at every move gives
        restarted, _shown = drag_refit(ctx, editor.person, camera, pose, edits, DRAG_STEPS, False, drag=None)
    one_fit = PoseFit(editor, pose)
    for _ in range(moves):
        reference = one_fit.run(edits, DRAG_STEPS, encode=False)
    miss = {name: float(np.linalg.norm(editor.keypoints_px(p)[LEFT_WRIST] - target))
            for name, p in (("continued", continued), ("restarted", restarted))}
    print(f"\nwrist {np.linalg.norm(start[LEFT_WRIST] - target):.1f} px from the pin; after {moves} moves: "
          f"continued {miss['continued']:.1f} px, restarted each move {miss['restarted']:.1f} px")
    assert np.allclose(continued.body_pose, reference.body_pose, atol=1e-5)  # the same fit, not restarts
    assert miss["continued"] < 0.5 * miss["restarted"]
    assert np.allclose(shown.keypoints_px, editor.keypoints_px(continued), atol=0.05)  # what the views draw
    # A new drag (another number) starts again from the pose it is given.
    again, _shown = drag_refit(ctx, editor.person, camera, pose, edits, DRAG_STEPS, False, drag=2)
    first, _shown = drag_refit(SimpleNamespace(recon=editor.recon, cache={}), editor.person, camera, pose, edits,
                               DRAG_STEPS, False, drag=2)
    assert np.allclose(again.body_pose, first.body_pose, atol=1e-6)
