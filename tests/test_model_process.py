"""The models in a child process (pipeline/model_process.py): a call returns what the same call gives
in this process; the child's own error comes back as a clear ModelProcessError; a child that dies
(SIGKILL) makes calls fail with a message, never hang; weights that do not load are reported."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from genhmr_app.pipeline.model_process import ModelProcess, ModelProcessError


def _body_joints(ctx, betas):
    """(24, 3) rest joints for these betas, computed in the child."""
    return ctx.recon.body.rest_joints(np.asarray(betas, np.float32))[0].numpy()


def _fail(ctx):
    raise ValueError("no such frame")


def _remember(ctx, value):
    ctx.cache["value"] = ctx.cache.get("value", 0) + value
    return ctx.cache["value"]


@pytest.fixture(scope="module")
def proc():
    from genhmr_app.pipeline.reconstructor import Reconstructor

    from genhmr_app.pipeline.live_stream import LIVE_MODEL_NICE

    p = ModelProcess.start(**Reconstructor().weight_paths, wait=True, nice=LIVE_MODEL_NICE)  # as the window starts it
    assert p.ready, p.failure
    yield p
    p.close()


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="Unix priorities")
def test_the_model_process_runs_below_the_window(proc):
    from genhmr_app.pipeline.live_stream import LIVE_MODEL_NICE

    mine, child = os.getpriority(os.PRIO_PROCESS, 0), os.getpriority(os.PRIO_PROCESS, proc._process.pid)
    assert child == min(19, mine + LIVE_MODEL_NICE)


def test_a_call_gives_what_it_gives_here_and_state_is_kept(proc):
    from genhmr_app.body.model import load_body_model_with_fallback

    betas = np.linspace(-1, 1, 10)
    body, _ = load_body_model_with_fallback(device="cpu")
    here = body.rest_joints(betas.astype(np.float32))[0].numpy()
    assert np.allclose(proc.call(_body_joints, betas), here, atol=1e-6)
    assert proc.call(_remember, 2) == 2 and proc.call(_remember, 3) == 5


def test_the_childs_error_comes_back_and_the_next_call_still_works(proc):
    with pytest.raises(ModelProcessError, match="ValueError: no such frame"):
        proc.call(_fail)
    assert proc.call(_remember, 0) >= 0


def test_work_done_meanwhile_runs_during_the_call_and_its_error_keeps_the_pipe_in_step(proc):
    done = []
    before = proc.call(_remember, 0)
    assert proc.call_overlapped(lambda: done.append("copied"), _remember, 1) == before + 1
    assert done == ["copied"]

    def broken():
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):  # the caller's own error, not the process's
        proc.call_overlapped(broken, _remember, 1)
    assert proc.ready and proc.call(_remember, 0) == before + 2  # the reply was read: the next call is in step


def test_a_killed_child_fails_calls_with_a_message():
    from genhmr_app.pipeline.reconstructor import Reconstructor

    p = ModelProcess.start(**Reconstructor().weight_paths, wait=True)
    assert p.ready
    os.kill(p._process.pid, signal.SIGKILL)
    p._process.join(10)
    with pytest.raises(ModelProcessError, match="ended unexpectedly|not ready"):
        p.call(_remember, 1)
    assert not p.ready
    p.close()  # closing a dead child is fine


def test_weights_that_do_not_load_are_reported(tmp_path):
    bad = tmp_path / "generator.pt"
    bad.write_bytes(b"not a checkpoint")
    p = ModelProcess.start(generator_path=bad, wait=True)
    assert not p.ready and "could not load the models" in (p.failure or "")
    with pytest.raises(ModelProcessError, match="could not load"):
        p.call(_remember, 1)
    p.close()


def test_a_still_in_the_process_matches_the_same_still_here(proc):
    """The window's still requests run pipeline/still_model.still_step in the model process."""
    from genhmr_app.detection import DetectedPerson, DetectionResult
    from genhmr_app.pipeline.model_process import ModelContext
    from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
    from genhmr_app.pipeline.session import OverlayRequest
    from genhmr_app.pipeline.still_model import still_step

    rng = np.random.default_rng(3)
    # A standing person's 33 MediaPipe landmarks, roughly: enough for the pipeline to run on.
    xy = np.column_stack([320 + rng.normal(0, 30, 33), np.linspace(80, 440, 33)]).astype(np.float32)
    person = DetectedPerson(landmarks_px=xy, landmarks_z=np.zeros(33, np.float32), visibility=np.ones(33, np.float32),
                            presence=np.ones(33, np.float32), world_landmarks=np.zeros((33, 3), np.float32),
                            bbox=(200.0, 60.0, 440.0, 460.0), score=1.0)
    detection = DetectionResult(640, 480, [person], 0.0, 1.0, False)
    settings, overlays = ReconstructionSettings(seed=5), OverlayRequest(fill=True)
    there, views_there, _ = proc.call(still_step, detection, settings, overlays)
    here, views_here, _ = still_step(ModelContext(Reconstructor()), detection, settings, overlays)
    a, b = there.people[0].best, here.people[0].best
    assert np.array_equal(a.tokens, b.tokens)
    assert np.allclose(a.body_pose, b.body_pose, atol=1e-4) and np.allclose(a.transl, b.transl, atol=1e-4)
    assert np.allclose(views_there[0].vertices, views_here[0].vertices, atol=1e-4)
    assert views_there[0].overlay is not None and views_there[0].overlay.fill.shape == views_here[0].overlay.fill.shape
