"""Live tracking and the staged live stream, without Qt (pipeline/live.py, pipeline/live_stream.py).

Frames are a real video's (../shared), shrunk; the detector is the real MediaPipe; the model is the
shipped one when weights/ has it (the tracker's warm start is about real tokens and latents).
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from genhmr_app.conditioning.camera import DEFAULT_VERTICAL_FOV_DEG, focal_from_fov
from genhmr_app.image.sources import ScriptedCapture
from genhmr_app.pipeline.live import LiveSettings, LiveTracker
from genhmr_app.pipeline.live_stream import LiveStream, NewestSlot
from genhmr_app.pipeline.reconstructor import ReconstructionSettings

FRAMES = 16


@pytest.fixture(scope="module")
def frames_bgr(shared_images):
    path = shared_images / "videos" / "hybrik_taiji.mp4"
    if not path.exists():
        pytest.skip(f"{path} missing")
    cap, frames = cv2.VideoCapture(str(path)), []
    while len(frames) < FRAMES:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(bgr, (640, 360), interpolation=cv2.INTER_AREA))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def detections(frames_bgr):
    from genhmr_app.detection import PoseDetector

    with PoseDetector(mode="video") as det:
        out = [det.detect(np.ascontiguousarray(f[..., ::-1]), timestamp_ms=i * 40) for i, f in enumerate(frames_bgr)]
    assert all(d.people for d in out), "the taiji dancer is in every frame"
    return out


@pytest.fixture(scope="module")
def session():
    from genhmr_app.pipeline.session import CoreSession

    s = CoreSession.create()
    if s.reconstructor() is None:
        pytest.skip(f"no trained model: {s.model_message}")
    yield s
    s.close()


@contextlib.contextmanager
def _generator_calls(recon):
    """The generator's forwards while inside: (args, kwargs, output) each."""
    calls = []
    original = recon.generator.forward

    def counted(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append((args, kwargs, out))
        return out

    recon.generator.forward = counted
    try:
        yield calls
    finally:
        del recon.generator.forward


def _step(tracker, detection, settings=ReconstructionSettings()):
    h = detection.image_height
    timing: dict[str, float] = {}
    person = detection.people[0] if detection.people else None
    out = tracker.step(person, detection.image_width, h, focal_from_fov(h, DEFAULT_VERTICAL_FOV_DEG), settings, timing)
    return out, timing


def test_tracking_decodes_once_then_warm_starts_on_the_preview_mesh(session, detections):
    tracker = LiveTracker(session.reconstructor())
    first, _ = _step(tracker, detections[0])
    assert tracker.restarts == 1 and tracker.last_restart_reason == "no track"
    # Even the full decode is shown on the preview mesh: the 3D view never switches meshes mid-stream.
    assert first.reduced is not None and first.vertices.shape == (len(first.reduced.vertex_ids), 3)
    full_mesh = session.body_model.forward(*[np.asarray(x)[None] for x in (
        first.best.global_orient, first.best.body_pose, first.best.betas, first.best.transl)]).vertices[0]
    assert np.allclose(first.vertices, full_mesh.detach().numpy()[first.reduced.vertex_ids], atol=2e-3)
    errors = []
    for d in detections[1:]:
        out, timing = _step(tracker, d)
        errors.append(out.best.error_2d_px)
        assert out.reduced is not None and out.vertices.shape == (len(out.reduced.vertex_ids), 3)
        assert np.isfinite(out.vertices).all() and timing["sample"] > 0 and timing["refine"] > 0
        assert len(out.iterations) == 1  # one sampling iteration per tracked frame
    assert tracker.restarts == 1, f"tracked frames never decode from scratch ({tracker.last_restart_reason})"
    # One warm step per frame keeps the body on the keypoints: no worse than the full decode's fit.
    assert np.median(errors) <= first.best.error_2d_px * 1.5 + 3.0, (errors, first.best.error_2d_px)


def test_shape_is_fixed_once_settled(session, detections):
    tracker = LiveTracker(session.reconstructor(), LiveSettings(shape_estimates=4, resample_every=1))
    betas = [_step(tracker, d)[0].best.betas for d in detections[:8]]
    assert np.allclose(betas[5], betas[7]), "after shape_frames the shape no longer moves"


def test_a_generator_frame_predicts_every_token_from_the_image_and_decodes_expected_codes(session, detections):
    """Each run of the generator sees this frame's image alone (every token masked, no beliefs), as the
    still sampler's first iteration does; the pose the fit is held near is each token's expected code
    under that prediction, plus the generator's continuous detail. (No feedback passes: what a generator
    without feedback does; the shipped one has feedback, the next test.)"""
    recon = session.reconstructor()
    tracker = LiveTracker(recon, LiveSettings(resample_every=1, feedback_passes=0))
    with _generator_calls(recon) as calls:
        _step(tracker, detections[0])  # the full decode
        calls.clear()
        out, _ = _step(tracker, detections[1])
    assert len(calls) == 1, "one forward per tracked frame"
    (condition, fed, *rest), kwargs, prediction = calls[0]
    assert bool((fed == recon.generator.mask_id).all()), "every token masked: nothing carried over as a code"
    assert not rest and not kwargs, "no beliefs from earlier frames"
    probs = torch.softmax(prediction.logits.float(), -1)
    expected = recon.tokenizer.soft_latents(probs)
    if prediction.latent_offset is not None:
        expected = expected + prediction.latent_offset
    assert torch.allclose(tracker._track.decoded, recon.decoder.decode_latents(expected), atol=1e-5)
    assert np.array_equal(out.best.tokens, probs.argmax(-1)[0].numpy())
    # The same image predicts the same pose: a person standing still does not shimmer.
    again, _ = _step(tracker, detections[1])
    assert np.array_equal(again.best.tokens, out.best.tokens)


def test_a_feedback_generator_looks_again_with_its_beliefs_and_how_they_miss_the_keypoints(session, detections):
    """A feedback generator's frame (GeneratorConfig.feedback) runs `feedback_passes` more forwards, each
    with every token masked, the last forward's distributions as beliefs and the reprojection residuals
    of their expected pose, as a still's second iteration sees them; the pose held is the last forward's
    expected codes. From the second tracked frame on (`feedback_from_last`), the first pass's beliefs
    are the last generator frame's distributions, which saves the image-only forward."""
    from genhmr_app.generator.model import GeneratorConfig, MaskedPoseTransformer
    from genhmr_app.pipeline.reconstructor import Reconstructor

    shipped = session.reconstructor()
    tok = shipped.tokenizer.config
    torch.manual_seed(0)
    model = MaskedPoseTransformer(GeneratorConfig(num_tokens=tok.num_tokens, codebook_size=tok.codebook_size, width=32,
                                                  layers=1, heads=2, self_condition=True, feedback=True)).eval()
    recon = Reconstructor(body=shipped.body, tokenizer=shipped.tokenizer, generator=model, device="cpu")
    try:
        for passes in (0, 1, 2):
            tracker = LiveTracker(recon, LiveSettings(resample_every=1, feedback_passes=passes))
            with _generator_calls(recon) as calls:
                _step(tracker, detections[0])  # the full decode
                calls.clear()
                _step(tracker, detections[1])
            assert len(calls) == 1 + passes
            for i, ((_, fed, *rest), _, _) in enumerate(calls):
                assert bool((fed == recon.generator.mask_id).all())
                if i == 0:
                    assert not rest
                    continue
                beliefs, residuals = rest
                assert torch.allclose(beliefs, torch.softmax(calls[i - 1][2].logits.float(), -1))
                assert residuals.shape == (1, 33, 2) and bool(torch.isfinite(residuals).all())
            last = calls[-1][2]
            expected = recon.tokenizer.soft_latents(torch.softmax(last.logits.float(), -1))
            if last.latent_offset is not None:
                expected = expected + last.latent_offset
            assert torch.allclose(tracker._track.decoded, recon.decoder.decode_latents(expected), atol=1e-5)
            with _generator_calls(recon) as calls:
                _step(tracker, detections[2])
            assert len(calls) == max(passes, 1), "the last frame's beliefs stand in for a first look"
            if passes:
                (_, fed, beliefs, residuals), _, _ = calls[0]
                assert bool((fed == recon.generator.mask_id).all())
                assert torch.allclose(beliefs, torch.softmax(last.logits.float(), -1))
                assert residuals.shape == (1, 33, 2) and bool(torch.isfinite(residuals).all())
            else:
                assert len(calls[0][0]) == 2, "no feedback: the image alone"
        tracker = LiveTracker(recon, LiveSettings(resample_every=1, feedback_passes=1, feedback_from_last=False))
        for d in detections[:3]:
            with _generator_calls(recon) as calls:
                _step(tracker, d)
        assert len(calls) == 2 and len(calls[0][0]) == 2, "each frame looks at its own image first"
    finally:
        recon.close()


def test_the_generator_runs_on_every_nth_tracked_frame_and_its_tokens_hold_between(session, detections):
    recon = session.reconstructor()
    tracker = LiveTracker(recon, LiveSettings(resample_every=2))
    with _generator_calls(recon) as calls:
        _step(tracker, detections[0])  # the full decode
        after_restart = len(calls)
        tokens = [_step(tracker, d)[0].best.tokens for d in detections[1:7]]
    # Tracked frames 1-6: the generator on frames 1, 3, 5 (the first warm step always samples); a feedback
    # generator (the shipped one) looks twice on frame 1, which has no last beliefs yet (feedback_from_last).
    assert len(calls) - after_restart == 3 + int(recon.generator.config.feedback), calls
    assert all((tokens[i] == tokens[i + 1]).all() for i in (0, 2, 4)), "tokens hold on the frames between"
    assert tracker.restarts == 1


def test_tracked_frames_hold_each_joint_as_firmly_as_the_generator_is_sure_of_it(session, detections, monkeypatch):
    """The live joint fit gets the still path's uncertainty-guided prior, from the distributions of the
    frame the generator last ran on; with `uncertainty_prior=False`, one constant prior."""
    import genhmr_app.pipeline.live as live

    priors = []
    original = live.fit_joints
    monkeypatch.setattr(live, "fit_joints", lambda *a, **k: priors.append(k.get("pose_prior")) or original(*a, **k))
    tracker = LiveTracker(session.reconstructor(), LiveSettings(resample_every=2, generator_frame_start="both"))
    for d in detections[:5]:
        _step(tracker, d)
    # A frame the generator ran on fits from two starts (LiveSettings.generator_frame_start), held alike.
    assert len(priors) == 4 and all(p is not None and p.shape[1:] == (23,) for p in priors)
    assert [len(p) for p in priors] == [2, 1, 2, 1] and all(torch.equal(p[0], p[-1]) for p in priors)
    assert torch.equal(priors[1][0], priors[0][0]) and torch.equal(priors[3][0], priors[2][0]), \
        "frames between keep the last frame's prior"
    weights = torch.cat(priors)
    assert float(weights.min()) >= 0.005 - 1e-6 and float(weights.max()) <= 1.0 + 1e-6
    assert float(weights.max() / weights.min()) > 2, "sure and unsure joints are held differently"
    priors.clear()
    plain = LiveTracker(session.reconstructor(), LiveSettings(uncertainty_prior=False))
    for d in detections[:3]:
        _step(plain, d)
    assert priors == [None, None]


def test_a_limb_carried_to_the_wrong_side_comes_back_when_the_generator_runs(session, detections):
    """A fit started from the last frame's solution keeps a limb that ended on the wrong side in depth
    (both sides meet the keypoints). When the generator runs, the fit starts from its decoded pose
    (LiveSettings.generator_frame_start "decoded", the default) or from both, the start with the lower
    robust objective winning ("both"): either way the limb comes back."""
    import roma

    from genhmr_app.body.keypoints import J

    def arm_after_corruption(start: str) -> np.ndarray:
        tracker = LiveTracker(session.reconstructor(), LiveSettings(resample_every=2, generator_frame_start=start))
        for d in detections[:3]:  # cold start, generator frame, frame between: the generator runs next
            _step(tracker, d)
        track = tracker._track
        turn = roma.rotvec_to_rotmat(torch.tensor([0.0, 2.5, 0.0]))  # the upper arm swung through the body
        track.rotations = track.rotations.clone()
        track.rotations[0, J["r_shoulder"]] = track.rotations[0, J["r_shoulder"]] @ turn
        out, _ = _step(tracker, detections[3])
        return out.joints[[J["r_elbow"], J["r_wrist"]]]

    assert LiveSettings().generator_frame_start == "decoded"
    reference = LiveTracker(session.reconstructor(), LiveSettings(resample_every=2))
    for d in detections[:4]:
        clean, _ = _step(reference, d)
    clean = clean.joints[[J["r_elbow"], J["r_wrist"]]]
    off = {start: float(np.linalg.norm(arm_after_corruption(start) - clean, axis=-1).max())
           for start in ("decoded", "both", "last")}
    # metres, the worst of elbow and wrist
    assert off["decoded"] < 0.01 and off["both"] < 0.01 and off["last"] > 0.03, off


def test_live_settings_refuse_what_they_cannot_do():
    with pytest.raises(ValueError, match="generator_frame_start"):
        LiveSettings(generator_frame_start="middle")
    with pytest.raises(ValueError, match="resample_every"):
        LiveSettings(resample_every=0)
    with pytest.raises(ValueError, match="feedback_passes"):
        LiveSettings(feedback_passes=-1)


def test_person_leaving_and_coming_back_restarts_the_track(session, detections):
    tracker = LiveTracker(session.reconstructor())
    _step(tracker, detections[0])
    empty = replace(detections[1], people=[])
    out, _ = _step(tracker, empty)
    assert out is None and not tracker.tracking
    back, _ = _step(tracker, detections[2])
    assert back is not None and tracker.restarts == 2 and tracker.last_restart_reason == "no track"


def test_a_jump_decodes_from_scratch(session, detections):
    tracker = LiveTracker(session.reconstructor())
    _step(tracker, detections[0])
    person = detections[1].people[0]
    moved = replace(person, landmarks_px=person.landmarks_px + np.array([250.0, 0.0]))
    _step(tracker, replace(detections[1], people=[moved]))
    assert tracker.restarts == 2 and tracker.last_restart_reason == "the person jumped"


def test_the_filter_is_told_how_far_the_keypoints_moved(session, detections):
    """The smoothing opens with the detector's evidence of motion: the mean shift of the seen keypoints
    since the last frame, in body heights, reaches the filter with the frame's pose."""
    from genhmr_app.pipeline.live import body_height_px

    from genhmr_app.motion.live_smoothing import LiveSmoother

    told = []

    class Told(LiveSmoother):
        def __call__(self, t_s, rotations, transl, body_moved=None):
            told.append(body_moved)
            return super().__call__(t_s, rotations, transl, body_moved)

    tracker = LiveTracker(session.reconstructor())
    tracker.smoother = Told(0.5)
    h = detections[0].image_height
    focal = focal_from_fov(h, DEFAULT_VERTICAL_FOV_DEG)
    person = detections[0].people[0]
    tracker.step(person, detections[0].image_width, h, focal, ReconstructionSettings(), {}, 0.0)
    shifted = replace(person, landmarks_px=person.landmarks_px + np.array([6.0, 8.0]))  # 10 px
    tracker.step(shifted, detections[0].image_width, h, focal, ReconstructionSettings(), {}, 1 / 30)
    assert told[0] is None, "the first frame has nothing to compare with"
    assert told[1] == pytest.approx(10.0 / body_height_px(person), rel=1e-6)
    assert tracker.restarts == 1


def test_newest_slot_drops_what_nobody_took():
    slot = NewestSlot()
    for i in range(3):
        slot.put(i)
    assert slot.take(0.1) == 2 and slot.dropped == 2 and slot.skipped == 2
    slot.put(3)
    assert slot.take(0.1) == 3 and slot.skipped == 0, "the taker kept up this time"
    slot.close()
    assert slot.take(0.1) is None


def test_a_hurried_frame_skips_the_generator_when_it_ran_on_the_last(session, detections):
    """When the model stage falls behind detection (LiveStream sees detections dropped), a frame skips the
    generator if it ran on the frame before, as resample_every=2 would; it never skips two in a row."""
    recon = session.reconstructor()
    tracker = LiveTracker(recon, LiveSettings(resample_every=1))
    ran = []
    with _generator_calls(recon) as calls:
        _step(tracker, detections[0])  # the full decode
        for d, hurry in zip(detections[1:6], (False, True, True, False, True)):
            before = len(calls)
            h = d.image_height
            out = tracker.step(d.people[0], d.image_width, h, focal_from_fov(h, DEFAULT_VERTICAL_FOV_DEG),
                               ReconstructionSettings(), {}, hurry=hurry)
            ran.append(len(calls) > before)
            assert out is not None and np.isfinite(out.vertices).all()
    assert ran == [True, False, True, True, False], ran


class _Collect:
    def __init__(self) -> None:
        self.results, self.errors = [], []
        self.done = threading.Event()

    def result(self, r) -> None:
        self.results.append(r)

    def error(self, exc) -> None:
        self.errors.append(exc)
        self.done.set()


def _camera_stream(session, capture, out: _Collect) -> LiveStream:
    from genhmr_app.image.sources import CameraReader, CameraSource
    from genhmr_app.pipeline.session import CameraRef, OverlayRequest

    def open_reader():
        return CameraReader(CameraSource(0, lambda _i: capture)), ("Camera 0", 1, None)

    return LiveStream(session, open_reader, lambda _f: CameraRef(0),
                      settings=lambda: ReconstructionSettings(),
                      overlays=lambda: OverlayRequest(fill=True), on_result=out.result, on_error=out.error,
                      on_finished=out.done.set)


def test_stream_runs_stages_side_by_side_and_drops_old_frames(session, frames_bgr):
    out = _Collect()
    stream = _camera_stream(session, ScriptedCapture(frames_bgr, loop=True, fps=60.0, paced=True), out).start()
    deadline = threading.Event()
    deadline.wait(4.0)
    stream.stop(wait_s=10.0)
    assert not stream.running and not out.errors
    assert len(out.results) >= 5
    meshes = [r for r in out.results if r.views]
    assert meshes and meshes[-1].views[0].faces is not None, "tracked frames show the preview mesh"
    assert meshes[-1].views[0].overlay is not None and meshes[-1].views[0].overlay.fill is not None
    # The camera runs at 60 fps, faster than detection + model here: frames are dropped, not queued.
    indices = [r.frame.index for r in out.results]
    assert indices == sorted(indices) and indices[-1] - indices[0] + 1 > len(indices)
    assert all(r.frame.captured_s > 0 for r in out.results)


def test_stream_shows_the_last_frames_then_reports_an_unplugged_camera(session, frames_bgr):
    out = _Collect()
    stream = _camera_stream(session, ScriptedCapture(frames_bgr[:6], fail_after=5, fps=30.0, paced=True), out).start()
    assert out.done.wait(30.0)
    stream.stop(wait_s=10.0)
    assert out.results, "frames before the failure are shown"
    assert len(out.errors) == 1 and "disconnected" in str(out.errors[0])


def test_stream_with_nobody_in_view_keeps_running(session):
    blank = [np.full((360, 640, 3), 40, np.uint8)] * 4
    out = _Collect()
    stream = _camera_stream(session, ScriptedCapture(blank, loop=True, fps=30.0, paced=True), out).start()
    threading.Event().wait(2.0)
    stream.stop(wait_s=10.0)
    assert out.results and not out.errors
    assert all(not r.detection.people and r.reconstruction is None for r in out.results)


def test_stream_runs_the_model_in_its_own_process_once_loaded(session, frames_bgr):
    session.prepare_live()
    if session.live_weights is None:
        pytest.skip("the session's models do not come from the shipped weight files")
    assert session.live_process_ready(timeout_s=120), session._live_process.failure
    out = _Collect()
    stream = _camera_stream(session, ScriptedCapture(frames_bgr, loop=True, fps=30.0, paced=True), out).start()
    threading.Event().wait(3.0)
    stream.stop(wait_s=10.0)
    in_child = [r for r in out.results if r.timing_ms.get("in_process") == 1.0 and r.views]
    assert in_child and not out.errors
    view = in_child[-1].views[0]
    assert view.faces is not None and view.vertices.shape[1] == len(in_child[-1].reconstruction.people[0].reduced.vertex_ids)
    assert int(view.faces.max()) < view.vertices.shape[1]


def test_a_playing_file_with_damaged_frames_plays_on_and_says_so(session, shared_images, tmp_path):
    from clips import damage_mjpg_frames, taiji_clip

    from genhmr_app.image.sources import PlaybackClock, PlaybackReader, VideoFileSource
    from genhmr_app.pipeline.session import OverlayRequest, VideoRef

    path = damage_mjpg_frames(taiji_clip(shared_images, tmp_path / "damaged.avi", 24, (320, 180)), damaged=(5, 6))
    video = VideoFileSource(path)

    readers = []

    def open_reader():
        # A slow clock: every frame comes up for reading, the damaged ones too.
        readers.append(PlaybackReader(video, PlaybackClock(8.0)))
        return readers[-1], (path.name, video.frame_count, 24.0)

    out = _Collect()
    stream = LiveStream(session, open_reader, lambda f: VideoRef(path, f.index, True),
                        settings=lambda: ReconstructionSettings(), overlays=lambda: OverlayRequest(),
                        on_result=out.result, on_error=out.error, on_finished=out.done.set).start()
    try:
        assert out.done.wait(60.0), "the video plays to its end"
    finally:
        stream.stop(wait_s=10.0)
        video.close()
    assert [i for i, _ in readers[0].damaged] == [5, 6]
    assert not out.errors and out.results[-1].frame.index == 23 and out.results[-1].at_end
    assert not {5, 6} & {r.frame.index for r in out.results}
    warnings = [w for r in out.results for w in r.warnings]
    # Named once each, numbered from 1 as the window shows frames (one warning, or two when a result
    # went out between the two skips).
    named = [int(n) for w in warnings for n in re.findall(r"\d+", w.split(" damaged")[0])]
    assert sorted(named) == [6, 7] and all("skipped" in w for w in warnings)


def test_the_live_fit_pulls_onto_the_corrected_landmarks_as_a_still_does(session, detections, monkeypatch):
    """LiveSettings.landmark_correction (on by default since the thirty-first session): a tracked frame's
    fit takes the learned correction of MediaPipe's landmarks, as the still path's does."""
    recon = session.reconstructor()
    asked = []
    original = recon.fit_targets
    monkeypatch.setattr(recon, "fit_targets", lambda person, corrected=True: asked.append(corrected)
                        or original(person, corrected))
    for settings, expected in ((LiveSettings(), True), (LiveSettings(landmark_correction=False), False)):
        asked.clear()
        tracker = LiveTracker(recon, settings)
        _step(tracker, detections[0])  # the full decode (the still path's own targets)
        _step(tracker, detections[1])
        assert asked[-1] is expected, asked
