"""More looks at one still (detection/tracking_looks.py): MediaPipe's tracking passes on the same image,
which the joint fit pulls onto (ReconstructionSettings.tracking_passes, 2 at the defaults)."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest

from genhmr_app.detection.detector import DetectedPerson
from genhmr_app.detection.tracking_looks import StillTracker
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
from tests.rendered import render_walker


@pytest.fixture(scope="module")
def recon():
    r = Reconstructor(device="cpu")
    yield r
    r.close()


def test_tracking_passes_look_again_and_the_fit_pulls_onto_them(recon):
    image, focal, _body = render_walker((480, 480), frame=40, seed=5)
    plain = recon.run(image, ReconstructionSettings(focal_px=focal, tracking_passes=0))
    looked = recon.run(image, ReconstructionSettings(focal_px=focal, tracking_passes=2))
    default = recon.run(image, ReconstructionSettings(focal_px=focal))
    assert plain.people and looked.people and default.people
    first, again = plain.people[0].detection, looked.people[0].detection
    assert first.tracked_px is None  # 0 passes: one look
    assert default.people[0].detection.tracked_px is not None  # the defaults take two passes
    # The result says which look it fitted: its detection carries the tracked look too.
    assert looked.detection.people[0].tracked_px is again.tracked_px
    assert again.tracked_px is not None and again.tracked_px.shape == (33, 2)
    # The same person, seen again: close to the first look, but not the same numbers.
    shift = np.linalg.norm(again.tracked_px - again.landmarks_px, axis=-1)
    assert np.median(shift) < 0.1 * np.ptp(again.landmarks_px[:, 1]) and shift.max() > 0
    # The fit's targets are the tracked landmarks; the generator's input stays the first look.
    targets, weights, _ = recon.fit_targets(again, corrected=False)  # MediaPipe's own points
    assert np.array_equal(targets, again.tracked_px)
    # Each weighed by its visibility and by how sure the pass's network is of the spot.
    assert again.tracked_confidence.shape == (33,) and (0 <= again.tracked_confidence).all()
    fit = recon.joint_fit
    certainty = np.maximum(again.tracked_confidence ** fit.tracked_confidence_power, fit.tracked_confidence_floor)
    assert np.allclose(weights, again.visibility * certainty)
    assert (weights <= again.visibility + 1e-6).all() and weights.max() > 0.5
    # With the learned correction the pass's certainty weighs the corrected points the same way.
    corrected, corrected_weights, _ = recon.fit_targets(again, corrected=True)
    # (A two-look corrector also reads the first look and the pass's certainty for a pass's look.)
    plain = recon.corrector.correct(again.tracked_px, again.landmarks_z, again.visibility, again.presence,
                                    again.world_landmarks, recon.correction, first_look_px=again.landmarks_px,
                                    look_confidence=again.tracked_confidence)
    assert np.allclose(corrected, plain.landmarks_px)
    assert np.allclose(corrected_weights, plain.weights * certainty)
    assert not np.allclose(corrected_weights, plain.weights)  # the certainty is not 1 everywhere
    assert np.array_equal(again.landmarks_px, first.landmarks_px)
    assert np.isfinite(looked.people[0].hypotheses[0].body_pose).all()


def test_a_tracker_that_finds_someone_else_is_not_used(recon):
    image, _focal, _body = render_walker((480, 480), frame=40, seed=5)
    person = recon.detector("image").detect(image).people[0]
    elsewhere = replace(person, landmarks_px=person.landmarks_px + np.float32(200.0))  # "the first look" far away
    tracker = StillTracker()
    try:
        assert tracker.look(image, person, 1) is not None
        assert tracker.look(image, elsewhere, 1) is None
        assert tracker.look(image, person, 0) is None  # no passes asked for
        assert tracker.look(np.zeros((240, 240, 3), np.uint8), person, 1) is None  # nobody there
    finally:
        tracker.close()


def test_several_people_keep_their_first_look(recon):
    image, _focal, _body = render_walker((480, 480), frame=40, seed=5)
    detection = recon.detector("image").detect(image)
    two = replace(detection, people=[detection.people[0], detection.people[0]])
    assert recon.look_again(image, two, 2) is two


def test_detections_pickled_before_the_field_existed_still_load():
    person = DetectedPerson(np.zeros((33, 2), np.float32), np.zeros(33, np.float32), np.ones(33, np.float32),
                            np.ones(33, np.float32), np.zeros((33, 3), np.float32), (0, 0, 1, 1), 1.0)
    state = dict(person.__dict__)
    del state["tracked_px"]  # what a cache written before the twenty-fifth session holds
    old = DetectedPerson.__new__(DetectedPerson)
    old.__dict__.update(state)
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.tracked_px is None


def test_a_failing_tracker_keeps_the_first_look(recon, monkeypatch, caplog):
    from genhmr_app.detection.detector import DetectorError

    image, _focal, _body = render_walker((480, 480), frame=40, seed=5)
    detection = recon.detector("image").detect(image)

    def broken(self, rgb, person, passes, on_pass=None):
        raise DetectorError("the tracker's model is gone")

    monkeypatch.setattr(StillTracker, "look", broken)
    with caplog.at_level("WARNING"):
        assert recon.look_again(image, detection, 2) is detection
    assert "tracking passes failed" in caplog.text


def test_the_pass_runs_beside_the_sampling_and_gives_what_it_gives_alone(recon):
    """Reconstructor.run starts the pass on its own thread and waits for it only at the fit: the result is
    the one the same look gives in sequence, and the wait counts as detection."""
    image, focal, _body = render_walker((480, 480), frame=40, seed=5)
    settings = ReconstructionSettings(focal_px=focal)
    beside = recon.run(image, settings)
    detection = recon.look_again(image, recon.detector("image").detect(image), settings.tracking_passes)
    in_turn = recon.reconstruct_detection(detection, settings)
    assert np.array_equal(beside.people[0].detection.tracked_px, detection.people[0].tracked_px)
    assert np.allclose(beside.people[0].joints, in_turn.people[0].joints, atol=1e-5)
    assert beside.timing_ms["detect"] > 0 and beside.timing_ms["total"] >= beside.timing_ms["detect"]


def test_a_pass_that_crashes_on_its_thread_costs_nothing(recon, monkeypatch, caplog):
    image, focal, _body = render_walker((480, 480), frame=40, seed=5)

    def crash(self, rgb, person, passes, on_pass=None):
        raise RuntimeError("something unforeseen in the pass")

    monkeypatch.setattr(StillTracker, "look", crash)
    with caplog.at_level("WARNING"):
        r = recon.run(image, ReconstructionSettings(focal_px=focal))
    assert r.people and r.people[0].detection.tracked_px is None
    assert np.isfinite(r.people[0].joints).all()
    assert "the tracking pass failed (RuntimeError" in caplog.text


def test_without_the_network_runtime_the_first_look_stands(recon, monkeypatch, caplog):
    """ai-edge-litert missing (a broken install): a clear warning once, and the stills are fitted as before."""
    import builtins

    real_import = builtins.__import__

    def no_litert(name, *args, **kwargs):
        if name.startswith("ai_edge_litert"):
            raise ImportError("No module named 'ai_edge_litert'")
        return real_import(name, *args, **kwargs)

    image, _focal, _body = render_walker((480, 480), frame=40, seed=5)
    detection = recon.detector("image").detect(image)
    monkeypatch.setattr(builtins, "__import__", no_litert)
    tracker = StillTracker()
    monkeypatch.setattr(recon, "_still_tracker", tracker)
    with caplog.at_level("WARNING"):
        assert recon.look_again(image, detection, 1) is detection
        assert recon.look_again(image, detection, 1) is detection  # not retried: the same reason
    assert "needs ai-edge-litert" in caplog.text


def test_with_two_passes_the_fit_starts_on_the_first_pass_and_ends_on_the_last(recon):
    """ReconstructionSettings.last_look_fit_iterations: while the last pass runs, the joint fit runs on the
    first pass's look, then goes on for a few iterations on the last look. The app's pipelined run and a
    stored detection (which carries both looks) fit the same way."""
    image, focal, _body = render_walker((480, 480), frame=40, seed=5)
    settings = ReconstructionSettings(focal_px=focal, tracking_passes=2)
    beside = recon.run(image, settings)
    person = beside.people[0].detection
    assert person.first_pass_px is not None and person.tracked_px is not None
    assert not np.array_equal(person.first_pass_px, person.tracked_px)  # two looks, one after the other
    detection = recon.look_again(image, recon.detector("image").detect(image), 2)
    assert np.array_equal(detection.people[0].first_pass_px, person.first_pass_px)
    in_turn = recon.reconstruct_detection(detection, settings)
    assert np.allclose(beside.people[0].joints, in_turn.people[0].joints, atol=1e-5)
    staged = beside.people[0].best.refine_errors_px
    waited = recon.reconstruct_detection(detection, replace(settings, last_look_fit_iterations=None))
    assert len(staged) - len(waited.people[0].best.refine_errors_px) == settings.last_look_fit_iterations
    # Either way the body ends on the last look: its 2D error is measured against it.
    assert beside.people[0].best.error_2d_px < 0.05 * np.ptp(person.tracked_px[:, 1])
    one = recon.look_again(image, recon.detector("image").detect(image), 1)
    assert one.people[0].first_pass_px is None  # one pass: nothing to start on early


def test_a_last_pass_that_fails_after_the_first_costs_nothing(recon, monkeypatch, caplog):
    """The first pass was heard (the fit started on it), then the tracker failed: the run finishes, the
    fit ends on MediaPipe's first look, and the first pass's look is kept with the result."""
    image, focal, _body = render_walker((480, 480), frame=40, seed=5)
    real_look = StillTracker.look

    def fails_late(self, rgb, person, passes, on_pass=None):
        first = real_look(self, rgb, person, 1)
        on_pass(1, first)
        raise RuntimeError("the second pass broke")

    monkeypatch.setattr(StillTracker, "look", fails_late)
    with caplog.at_level("WARNING"):
        r = recon.run(image, ReconstructionSettings(focal_px=focal, tracking_passes=2))
    person = r.people[0].detection
    assert person.tracked_px is None and person.first_pass_px is not None
    assert np.isfinite(r.people[0].joints).all()
    assert "the tracking pass failed (RuntimeError" in caplog.text
