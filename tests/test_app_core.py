"""The app's core (no Qt): display maths, mesh export, and the session the UI drives."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from genhmr_app.export.mesh import MeshExportError, write_mesh
from genhmr_app.image.sources import ScriptedCapture
from genhmr_app.pipeline import display
from genhmr_app.pipeline.reconstructor import ReconstructionSettings
from genhmr_app.pipeline.session import (
    CameraRef,
    CoreSession,
    ImageRef,
    OverlayRequest,
    PlaybackClock,
    VideoRef,
    untrained_model_factory,
)


@pytest.fixture(scope="module")
def body():
    from genhmr_app.body.model import load_body_model

    return load_body_model()


def _person_in_front(body, depth=3.0) -> np.ndarray:
    """The rest body turned to face the camera (SMPL → OpenCV axes), `depth` metres away."""
    v = body.rest_vertices()[0].detach().numpy() * [1.0, -1.0, -1.0]
    return (v - v.mean(0) + [0.0, 0.0, depth]).astype(np.float32)


# -- display ---------------------------------------------------------------------------------------
def test_display_frame_is_y_up_and_camera_at_origin():
    # A point below the camera centre (y down in OpenCV) and in front of it (z forward).
    p = display.to_display(np.array([[0.1, 0.5, 3.0]]))
    assert p.tolist() == [[pytest.approx(0.1), pytest.approx(-0.5), pytest.approx(-3.0)]]
    f = display.frustum_points(640, 480, 500.0, 2.0)
    assert np.allclose(f[0], 0) and np.allclose(f[1:, 2], -2.0)
    assert f[1, 0] < 0 < f[2, 0] and f[1, 1] > 0 > f[3, 1]  # top-left corner is left and up


def test_normals_point_outwards_and_projection_matches_the_image(body):
    v = _person_in_front(body)
    n = display.vertex_normals(v, body.faces)
    assert np.allclose(np.linalg.norm(n, axis=1), 1, atol=1e-4)
    assert float(((v - v.mean(0)) * n).sum(1).mean()) > 0
    px = display.project(v, 500.0, 640, 480)
    assert abs(px[:, 0].mean() - 320) < 20 and abs(px[:, 1].mean() - 240) < 40


def test_mesh_overlay_covers_the_projected_body(body):
    v = _person_in_front(body)
    overlay = display.rasterize_mesh(v, body.faces, 500.0, 640, 480, fill=True, wire=True)
    assert overlay.scale == 1.0 and overlay.fill.shape == (480, 640, 4) and overlay.wire.shape == (480, 640, 4)
    covered = overlay.fill[..., 3] > 0
    # Made and handed over as one byte a pixel (a live frame's crosses processes); RGBA where shown.
    assert overlay.fill_shade.dtype == np.uint8 and overlay.fill_shade.shape == (480, 640)
    assert np.array_equal(covered, overlay.fill_shade > 0)
    assert np.array_equal(overlay.wire[..., 3] > 0, overlay.wire_lines > 1)
    px = display.project(v, 500.0, 640, 480)
    x0, y0 = px.min(0)
    x1, y1 = px.max(0)
    ys, xs = np.nonzero(covered)
    assert xs.min() >= x0 - 2 and xs.max() <= x1 + 2 and ys.min() >= y0 - 2 and ys.max() <= y1 + 2
    assert covered[int(px[:, 1].mean()), int(px[:, 0].mean())]  # the belly is covered
    assert (overlay.wire[..., 3] > 0).sum() < covered.sum() * 1.2
    big = display.rasterize_mesh(v, body.faces, 5000.0, 6400, 4800, fill=True, wire=False)
    assert big.scale < 1 and max(big.fill.shape[:2]) <= display.MAX_OVERLAY_SIDE


def test_uncertainty_mapping():
    influence = np.zeros((4, 23), np.float32)
    influence[0, :5] = 1.0  # token 0 moves joints 1-5 only
    influence[1:, 5:] = 1.0
    u = display.joint_uncertainty(influence, np.array([1.0, 0.0, 0.0, 0.0]))
    assert u.shape == (24,) and np.all((u >= 0) & (u <= 1))
    assert np.allclose(u[1:6], 0.0) and np.allclose(u[6:], 1.0)
    assert u[0] == pytest.approx(0.75)  # pelvis: the plain mean
    skin = np.zeros((3, 24), np.float32)
    skin[0, 1] = 1
    skin[1, 10] = 1
    skin[2, [1, 10]] = 0.5
    assert display.vertex_uncertainty(skin, u).tolist() == pytest.approx([0.0, 1.0, 0.5])


def test_token_influence_is_measured_through_the_decoder():
    from genhmr_app.tokens.model import PoseTokenizer, TokenizerConfig

    torch.manual_seed(0)
    tok = PoseTokenizer(TokenizerConfig(num_tokens=8, codebook_size=64, code_dim=16, hidden=128, depth=1)).eval()
    with torch.no_grad():
        tok.quantizer.codebook.normal_()  # a fresh EMA codebook may be all zeros: nothing would differ
    infl = display.token_joint_influence(tok, np.arange(8))
    assert infl.shape == (8, 23) and np.all(infl >= 0) and infl.sum() > 0


def test_sample_rows_maps_ranks_to_sampling_order():
    codes = np.array([[1, 2], [3, 4], [1, 2]])
    assert display.sample_rows(codes, [np.array([3, 4]), np.array([1, 2]), np.array([1, 2])]) == [1, 0, 2]


# -- mesh export -------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".obj", ".ply", ".glb"])
def test_mesh_export_round_trip_and_backup(body, tmp_path, suffix):
    import trimesh

    v = _person_in_front(body)
    path = tmp_path / f"body{suffix}"
    assert write_mesh(v, body.faces, path) is None
    loaded = trimesh.load(path, force="mesh", process=False)
    assert len(loaded.vertices) == len(v) and len(loaded.faces) == len(body.faces)
    # Display frame: y up (the head is above the feet), the body in front of the camera at -z.
    assert np.allclose(np.asarray(loaded.vertices)[:, 2].mean(), -3.0, atol=0.05)
    head_up = loaded.vertices[np.argmax(-v[:, 1])][1] > loaded.vertices[np.argmax(v[:, 1])][1]
    assert head_up
    backup = write_mesh(v, body.faces, path, frame="camera")
    assert backup is not None and backup.exists()
    assert np.allclose(trimesh.load(path, force="mesh", process=False).vertices[:, 2].mean(), 3.0, atol=0.05)


def test_mesh_export_rejects_bad_input(body, tmp_path):
    with pytest.raises(MeshExportError):
        write_mesh(np.zeros((3, 3)), body.faces, tmp_path / "x.stl")
    with pytest.raises(MeshExportError):
        write_mesh(np.full((10, 3), np.nan), body.faces, tmp_path / "x.obj")


# -- the session ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def session():
    s = CoreSession.create(model_factory=untrained_model_factory())
    yield s
    s.close()


def test_session_reconstructs_a_photo_and_reuses_its_detection(session, photo_path, monkeypatch):
    fast = ReconstructionSettings(iterations=3, refine_steps=2, hypotheses=2)
    reports = []
    looks = []  # the tracking passes asked for, one entry a time they ran
    recon = session.reconstructor()
    look_again = recon.look_again
    monkeypatch.setattr(recon, "look_again", lambda rgb, det, passes, *a: looks.append(passes) or look_again(rgb, det, passes, *a))
    first = session.process(ImageRef(photo_path), fast, report=reports.append)
    assert first.reconstruction is not None and first.model_message is None
    assert len(reports) == 3 and reports[0].confidence.shape == (2, 8)
    view = first.views[0]
    v = session.body_model.info.num_vertices
    assert view.vertices.shape == (2, v, 3) and view.vertex_uncertainty.shape == (2, v)
    assert np.allclose(view.vertices[0], first.reconstruction.people[0].vertices, atol=1e-4)
    assert view.overlay is not None and view.overlay.fill is not None and view.overlay.wire is None
    assert sorted(view.sample_rows) == [0, 1]
    for key in ("detect", "sample", "refine", "total"):
        assert key in first.timing_ms
    second = session.process(ImageRef(photo_path), ReconstructionSettings(iterations=2, refine_steps=0),
                             OverlayRequest(fill=False, wire=False))
    assert second.timing_ms["detect"] < 5.0, "a slider change must not re-run the detector"
    assert second.detection_cached and not first.detection_cached
    assert second.frame.rgb is first.frame.rgb and second.views[0].overlay is None
    assert len(second.reconstruction.people[0].iterations) == 2
    # Its stills get MediaPipe's tracking passes, as Reconstructor.run gives them (the bench's figures),
    # run once for the still and kept with its detection.
    looked = first.reconstruction.people[0].detection
    assert fast.tracking_passes == 2 and looked.tracked_px is not None and looked.first_pass_px is not None
    assert np.array_equal(second.reconstruction.people[0].detection.tracked_px, looked.tracked_px)
    assert looks == [2], "the slider change reused the looked detection"
    one_pass = session.process(ImageRef(photo_path), replace(fast, tracking_passes=1))
    assert looks == [2, 1] and not one_pass.detection_cached  # another number of passes: they run again
    assert one_pass.reconstruction.people[0].detection.first_pass_px is None
    one_look = session.process(ImageRef(photo_path), replace(fast, tracking_passes=0))
    assert one_look.reconstruction.people[0].detection.tracked_px is None and looks == [2, 1]


def test_session_without_weights_is_detection_only(photo_path):
    from genhmr_app.tokens.model import TokenizerCheckpointError

    def missing(_body, _device):
        raise TokenizerCheckpointError("Tokenizer weights not found: weights/tokenizer/pose_tokenizer.pt.")

    s = CoreSession.create(model_factory=missing)
    try:
        result = s.process(ImageRef(photo_path))
        assert result.reconstruction is None and result.views == []
        assert result.detection.people, "detection still runs"
        assert "not found" in result.model_message and "2D detection only" in result.model_message
        assert s.model_name == "detection only"
    finally:
        s.close()


def test_session_plays_video_and_camera(tmp_path):
    from test_sources import write_numbered_video  # same folder; plain frames, no person

    video = write_numbered_video(tmp_path / "v.mp4", frames=12)
    frames = [np.full((60, 80, 3), 90, np.uint8)]
    s = CoreSession.create(model_factory=untrained_model_factory(),
                           capture_factory=lambda target: ScriptedCapture(frames, fail_after=2)
                           if isinstance(target, int) else __import__("cv2").VideoCapture(target))
    try:
        paused = s.process(VideoRef(video, 5))
        assert paused.frame.index == 5 and paused.frame_count == 12 and not paused.at_end
        clock = PlaybackClock(20.0, start_index=10)
        live = s.process(VideoRef(video, 10, live=True), clock=clock)
        assert live.frame.index >= 11, "a live job waits for the next frame rather than redo this one"
        last = s.process(VideoRef(video, 11))
        assert last.at_end
        cam = s.process(CameraRef(0))
        assert cam.frame.rgb.shape == (60, 80, 3) and cam.source_name == "Camera 0"
        s.process(CameraRef(0))
        from genhmr_app.image.sources import CameraDisconnected

        with pytest.raises(CameraDisconnected):
            s.process(CameraRef(0))
    finally:
        s.close()


def test_overlay_proxy_is_a_coarser_mesh_on_the_body_vertices(body):
    rest = body.rest_vertices()[0].detach().numpy()
    skin = body.smpl.lbs_weights.numpy()
    proxy = display.proxy_faces(rest, body.faces, skin)
    assert 0.1 * len(body.faces) < len(proxy) < 0.4 * len(body.faces)
    assert proxy.max() < len(rest) and len(np.unique(np.sort(proxy, 1), axis=0)) == len(proxy)
    # No triangle joins two body parts: all three corners share a dominant joint or neighbour ones.
    dominant = skin.argmax(1)[proxy]
    parents = body.parents
    related = lambda a, b: a == b or parents[a] == b or parents[b] == a  # noqa: E731
    ok = np.array([related(a, b) and related(b, c) or related(a, c) for a, b, c in dominant])
    assert ok.mean() > 0.98
    v = _person_in_front(body)
    full = display.rasterize_mesh(v, body.faces, 500.0, 640, 480).fill[..., 3] > 0
    coarse = display.rasterize_mesh(v, proxy, 500.0, 640, 480).fill[..., 3] > 0
    assert (full & coarse).sum() / (full | coarse).sum() > 0.9


def test_batched_token_influence_matches_single():
    from genhmr_app.tokens.model import PoseTokenizer, TokenizerConfig

    torch.manual_seed(1)
    tok = PoseTokenizer(TokenizerConfig(num_tokens=8, codebook_size=64, code_dim=16, hidden=128, depth=1)).eval()
    with torch.no_grad():
        tok.quantizer.codebook.normal_()
    tokens = np.array([np.arange(8), np.arange(8, 16)])
    both = display.token_joint_influence(tok, tokens)
    assert both.shape == (2, 8, 23)
    assert np.allclose(both[1], display.token_joint_influence(tok, tokens[1]), atol=1e-3)  # arccos near 0
