"""Video → motion (issue 12): a rendered walk with known 3D motion goes through the real detector and
the pipeline; offline smoothing and foot locking are measured against the truth."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from genhmr_app.motion import animate as an
from genhmr_app.motion.smoothing import acceleration_error, smooth_positions, smooth_rotations
from genhmr_app.motion.world import fit_ground, foot_skate, to_world

FRAMES = 48
WH = (480, 480)


def _camera(direction: np.ndarray) -> np.ndarray:
    """World (Y up) → OpenCV camera rotation for a level camera looking along `direction`."""
    z = direction / np.linalg.norm(direction)
    y = np.array([0.0, -1.0, 0.0])
    x = np.cross(y, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


@pytest.fixture(scope="module")
def rendered_walk(tmp_path_factory):
    from genhmr_app.training import render as rnd

    from tests.rendered import walk_clip

    body, betas, rest, clip = walk_clip()
    step = max(1, int(round(clip.fps / 15)))  # 15 fps: a walk's steps within 48 frames
    sl = slice(20, 20 + FRAMES * step, step)
    g_w, pose, pelvis_w = clip.global_orient[sl], clip.body_pose[sl], rest[0] + clip.transl[sl]
    middle = pelvis_w.mean(0)
    heading = pelvis_w[-1] - pelvis_w[0]
    heading[1] = 0
    side = np.cross([0.0, 1.0, 0.0], heading / np.linalg.norm(heading))
    view = 0.8 * side + 0.6 * heading / np.linalg.norm(heading)  # three-quarter view of the walker
    cam_pos = middle - 5.0 * view / np.linalg.norm(view)
    cam_pos[1] = middle[1] + 0.2
    r_cw = _camera(middle - cam_pos)
    g_c = r_cw @ g_w
    pelvis_c = (pelvis_w - cam_pos) @ r_cw.T
    transl_c = pelvis_c - rest[0]
    focal = 0.5 * WH[1] / np.tan(np.radians(50) / 2)
    folder = tmp_path_factory.mktemp("walk")
    video = folder / "walk.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, WH)
    rng = np.random.default_rng(0)
    regions = rnd.body_regions(body)
    colours = regions.colours(rnd.random_outfit(rng))
    background = rnd.make_background("room", WH, rng)
    renderer = rnd.PersonRenderer(body.faces, WH)
    truth = []
    try:
        for f in range(FRAMES):
            with torch.no_grad():
                out = body.forward(torch.as_tensor(g_c[f:f + 1], dtype=torch.float32),
                                   torch.as_tensor(pose[f:f + 1], dtype=torch.float32), torch.as_tensor(betas)[None],
                                   torch.as_tensor(transl_c[f:f + 1], dtype=torch.float32))
            truth.append(out.joints[0].double().numpy())
            image = renderer.render(out.vertices[0].numpy(), focal, colours, background).image
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
        renderer.close()
    return {"video": video, "body": body, "truth_cam": np.stack(truth), "focal": focal}


def planted_feet(joints: np.ndarray, fps: float) -> np.ndarray:
    """Ground-truth contacts, stricter than the app's detector: within 3 cm of the foot's lowest
    height and moving under 0.25 m/s (ankle and toes), for at least 3 frames."""
    from genhmr_app.motion.world import FEET, _drop_short_runs

    out = np.zeros((len(joints), 2), bool)
    for side, (ankle, toe) in enumerate(FEET):
        p = joints[:, [ankle, toe]]
        h = p[..., 1].min(1)
        v = np.linalg.norm(np.gradient(p.mean(1), axis=0), axis=-1) * fps
        out[:, side] = _drop_short_runs((h < np.percentile(h, 10) + 0.03) & (v < 0.25), 3)
    return out


def _pelvis_aligned(body, orient: np.ndarray, pose: np.ndarray, betas: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = body.forward(torch.as_tensor(orient, dtype=torch.float32), torch.as_tensor(pose, dtype=torch.float32),
                           torch.as_tensor(betas, dtype=torch.float32))
    j = out.joints.double().numpy()
    return j - j[:, :1]


def test_smoothing_and_foot_locking_on_a_rendered_walk(rendered_walk, tmp_path):
    from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor

    body = rendered_walk["body"]
    recon = Reconstructor(body=body)
    try:
        settings = ReconstructionSettings(focal_px=rendered_walk["focal"])
        obs, fps, warnings = an.reconstruct_video(rendered_walk["video"], tmp_path, settings, progress=False,
                                                  reconstructor=recon)
    finally:
        recon.close()
    assert fps == pytest.approx(15, rel=0.01) and len(obs) == FRAMES and not warnings
    found = np.array([bool(o.people) for o in obs])
    assert max(len(o.people) for o in obs) == 1  # one person asked for, one reported
    assert found.mean() > 0.9, "the detector should follow a rendered walker"
    tracks = an.build_tracks(obs, fps)
    assert len(tracks) == 1 and len(tracks[0].observations) >= FRAMES - 2
    track = tracks[0]
    frames = track.frames
    truth = rendered_walk["truth_cam"][frames]
    truth = truth - truth[:, :1]
    orient = np.stack([o.global_orient for o in track.observations])
    pose = np.stack([o.body_pose for o in track.observations])
    betas = np.stack([o.betas for o in track.observations])
    raw = _pelvis_aligned(body, orient, pose, betas)
    sigma = an.smoothing_sigma(an.AnimateSettings(), fps)  # the default strength
    smooth = _pelvis_aligned(body, smooth_rotations(orient, sigma), smooth_rotations(pose, sigma), betas)
    acc_raw, acc_smooth = acceleration_error(raw, truth), acceleration_error(smooth, truth)
    mpjpe_raw = float(np.linalg.norm(raw - truth, axis=-1).mean())
    mpjpe_smooth = float(np.linalg.norm(smooth - truth, axis=-1).mean())
    print(f"\nacceleration error {acc_raw * 1000:.1f} → {acc_smooth * 1000:.1f} mm/frame² "
          f"({1 - acc_smooth / acc_raw:.0%} lower); MPJPE {mpjpe_raw * 1000:.1f} → {mpjpe_smooth * 1000:.1f} mm")
    # At least 40% of the acceleration error goes: the ninth session's fits 37.6 → 17.5 mm/frame² (54%);
    # the forty-first's calmer per-frame fits (the feedback generator) 32.8 → 16.4 (50%): the part left is
    # less and less jitter, so the share falls as the fits improve.
    assert acc_smooth <= 0.6 * acc_raw
    # Smoothing is for the jitter: it must not cost accuracy (1% allows for equal to the micrometre,
    # as now that the per-frame fit meets the keypoints: 53.6378 vs 53.6376 mm).
    assert mpjpe_smooth <= 1.01 * mpjpe_raw

    # Foot skate of the exported world motion, on the frames where the TRUE feet are planted.
    motion = an.track_motion(track, body, fps)
    truth_w_orient, truth_w = to_world(np.eye(3)[None].repeat(len(frames), 0), rendered_walk["truth_cam"][frames].reshape(-1, 3))
    truth_w = truth_w.reshape(len(frames), 24, 3)
    ground = fit_ground(truth_w)
    truth_w = truth_w @ ground[:3, :3].T + ground[:3, 3]
    true_contacts = planted_feet(truth_w, fps)
    assert true_contacts.sum() >= 10, "a walk has planted feet"
    ours = motion.sequence.joint_positions(body)
    skate = foot_skate(ours, true_contacts)
    print(f"foot skate on the true contact frames: {skate * 100:.2f} cm (truth itself {foot_skate(truth_w, true_contacts) * 100:.2f} cm); "
          f"on our own contacts {motion.skate_before_m * 100:.2f} → {motion.skate_after_m * 100:.2f} cm")
    assert skate <= 0.02


def test_tracks_split_on_long_gaps_and_bridge_short_ones():
    eye = np.eye(3)

    def seen(i):
        person = an.PersonObservation(i, i / 10, eye, np.tile(eye, (23, 1, 1)), np.zeros(10), np.zeros(3),
                                      np.array([100.0, 50, 200, 350]))
        return an.FrameObservations(i, i / 10, [person])

    def empty(i):
        return an.FrameObservations(i, i / 10, [])

    obs = [seen(i) for i in range(10)] + [empty(i) for i in range(10, 12)] \
        + [seen(i) for i in range(12, 20)] + [empty(i) for i in range(20, 40)] + [seen(i) for i in range(40, 50)]
    tracks = an.build_tracks(obs, fps=10.0, settings=an.AnimateSettings(max_gap_s=0.5))
    assert [t.id for t in tracks] == [0, 1]
    assert list(tracks[0].frames) == list(range(20))  # the 2-frame gap is bridged
    assert list(tracks[1].frames) == list(range(40, 50))  # gone for 2 s: a new track


def test_smoothing_keeps_edited_frames_and_stays_on_the_manifold():
    rng = np.random.default_rng(1)
    import roma

    base = roma.rotvec_to_rotmat(torch.tensor(rng.normal(0, 0.05, (30, 3)) + [0, 3.1, 0])).numpy()  # near ±pi
    fixed = np.zeros(30, bool)
    fixed[7] = True
    out = smooth_rotations(base, 2.0, fixed)
    assert np.allclose(out[7], base[7])
    assert np.allclose(out @ out.transpose(0, 2, 1), np.eye(3), atol=1e-9)
    # Around a rotation of ~pi, axis-angle components flip sign; the quaternion path does not care.
    assert np.degrees(roma.rotmat_geodesic_distance(torch.tensor(out), torch.tensor(base)).max()) < 10
    pos = np.cumsum(rng.normal(0, 0.01, (30, 3)), 0)
    assert np.allclose(smooth_positions(pos, 2.0, fixed)[7], pos[7])


def test_animate_command_exports_and_resumes(rendered_walk, tmp_path):
    out = tmp_path / "anim"
    code = an.main([str(rendered_walk["video"]), "--out", str(out), "--up", "z", "--refine-steps", "3", "--iterations", "2"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tracks"][0]["files"] == ["person_0.bvh", "person_0.glb", "person_0_smpl.npz"]
    assert (out / "person_0.bvh").stat().st_size > 0
    frames = sorted((out / "frames").glob("frame_*.json"))
    assert len(frames) == FRAMES
    stamp = frames[5].stat().st_mtime_ns
    frames[-1].write_text('{"half written')  # a crash mid-save: redone on the next run
    assert an.main([str(rendered_walk["video"]), "--out", str(out), "--up", "z", "--refine-steps", "3",
                    "--iterations", "2"]) == 0
    assert frames[5].stat().st_mtime_ns == stamp  # done frames are not redone
    assert json.loads(frames[-1].read_text())["people"]


def test_animate_reports_a_missing_video_and_an_unwritable_folder(tmp_path, rendered_walk, capsys):
    assert an.main([str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    blocked = tmp_path / "blocked"
    blocked.write_text("x")
    assert an.main([str(rendered_walk["video"]), "--out", str(blocked / "sub")]) == 2
    assert "cannot write to the output folder" in capsys.readouterr().err


def _yaw_onto(heading: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation about world Y (up) taking the horizontal `heading` onto `target`."""
    a = np.arctan2(target[0], target[2]) - np.arctan2(heading[0], heading[2])
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


@pytest.fixture(scope="module")
def rendered_crossing(tmp_path_factory):
    """Two walkers crossing in front of a fixed camera: A (near) walks left → right, B (2 m further
    back) right → left; A hides B for a few frames. Returns the video and each one's true pelvis
    projected into the image per frame."""
    from genhmr_app.training import render as rnd

    from tests.rendered import walk_clip

    body, betas, rest, clip = walk_clip()
    frames, wh = 40, (640, 480)
    step = max(1, int(round(clip.fps / 12)))
    sl = slice(20, 20 + frames * step, step)
    g_w, pose, pelvis_w = clip.global_orient[sl], clip.body_pose[sl], rest[0] + clip.transl[sl]
    heading = pelvis_w[-1] - pelvis_w[0]
    heading[1] = 0
    r_cw = _camera(np.array([0.0, 0.0, 1.0]))
    focal = 0.5 * wh[1] / np.tan(np.radians(50) / 2)
    people = []
    for direction, start in (([1.0, 0, 0], [-2.2, 0.0, 5.0]), ([-1.0, 0, 0], [2.6, 0.0, 7.0])):
        r = _yaw_onto(heading, np.array(direction))
        pel = (pelvis_w - pelvis_w[0]) @ r.T + pelvis_w[0] * [0, 1, 0] + start
        pel[:, 1] -= 0.9  # the camera at about chest height
        people.append({"orient": r_cw @ (r @ g_w), "transl": (pel @ r_cw.T) - rest[0]})
    folder = tmp_path_factory.mktemp("crossing")
    video = folder / "crossing.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 12, wh)
    rng = np.random.default_rng(3)
    regions = rnd.body_regions(body)
    colours = np.concatenate([regions.colours(rnd.random_outfit(rng)) for _ in people])
    n = body.faces.max() + 1
    renderer = rnd.PersonRenderer(np.concatenate([body.faces, body.faces + n]), wh)
    background = rnd.make_background("room", wh, rng)
    pelvis_px = np.zeros((len(people), frames, 2))
    try:
        for f in range(frames):
            verts = []
            for k, p in enumerate(people):
                with torch.no_grad():
                    out = body.forward(torch.as_tensor(p["orient"][f:f + 1], dtype=torch.float32),
                                       torch.as_tensor(pose[f:f + 1], dtype=torch.float32), torch.as_tensor(betas)[None],
                                       torch.as_tensor(p["transl"][f:f + 1], dtype=torch.float32))
                verts.append(out.vertices[0].numpy())
                j = out.joints[0, 0].numpy()
                pelvis_px[k, f] = focal * j[:2] / j[2] + np.array(wh) / 2
            image = renderer.render(np.concatenate(verts), focal, colours, background).image
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
        renderer.close()
    return {"video": video, "pelvis_px": pelvis_px, "frames": frames, "focal": focal}


def test_two_people_crossing_keep_their_ids(rendered_crossing, tmp_path):
    out = tmp_path / "anim"
    code = an.main([str(rendered_crossing["video"]), "--out", str(out), "--max-people", "2",
                    "--refine-steps", "3", "--iterations", "2"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    frames = rendered_crossing["frames"]
    pelvis_px = rendered_crossing["pelvis_px"]
    observations = [an._observations_from_json(json.loads(p.read_text()), i, 0.0)
                    for i, p in enumerate(sorted((out / "frames").glob("frame_*.json")))]
    both = sum(len(o.people) == 2 for o in observations)
    tracks = an.build_tracks(observations, summary["fps"])
    print(f"\nframes with both people detected: {both}/{frames}; tracks: "
          + ", ".join(f"{t.id}: {t.frames[0]}–{t.frames[-1]}" for t in tracks))
    assert both >= frames // 2, "the detector should see both walkers most of the time"
    long = [t for t in tracks if len(t.frames) >= 0.75 * frames]
    assert len(long) == 2, "each walker should be one track over most of the video"
    owners = []
    for t in long:
        centres = np.stack([(o.bbox[:2] + o.bbox[2:]) / 2 for o in t.observations])
        dist = np.linalg.norm(centres[None] - pelvis_px[:, t.frames], axis=-1)  # (person, frame)
        nearest = dist.argmin(0)
        owner = int(np.bincount(nearest).argmax())
        share = float((nearest == owner).mean())
        print(f"track {t.id}: person {'AB'[owner]} on {share:.0%} of its frames")
        assert share >= 0.95, "a track must not swap people when they cross"
        owners.append(owner)
    assert sorted(owners) == [0, 1]
    files = {f for t in summary["tracks"] for f in t["files"]}
    for t in long:
        assert {f"person_{t.id}.bvh", f"person_{t.id}.glb", f"person_{t.id}_smpl.npz"} <= files


def test_damaged_frames_empty_frames_and_a_variable_frame_rate(rendered_walk, tmp_path, monkeypatch):
    """A video whose person leaves for a moment (empty frames), with one damaged frame, read with
    uneven timestamps: every frame gets a record, the damaged one is reported and skipped (not the
    end of the video), the short absence keeps the person's id, and the uneven rate is reported."""
    cap = cv2.VideoCapture(str(rendered_walk["video"]))
    frames = [cap.read()[1] for _ in range(24)]
    cap.release()
    empty = np.full_like(frames[0], 120)
    sequence = frames[:12] + [empty] * 4 + frames[12:24]  # 28 frames; 16-27 walk on
    video = tmp_path / "gappy.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, WH)
    for f in sequence:
        writer.write(f)
    writer.release()
    data = bytearray(video.read_bytes())
    chunks = [i for i in range(len(data) - 4) if data[i:i + 4] == b"00dc"]
    damaged = 20
    start = chunks[damaged + 1] + 8  # the first "00dc" is the stream header's; then one per frame
    data[start:start + 256] = bytes(256)
    video.write_bytes(bytes(data))

    real_capture = cv2.VideoCapture

    class UnevenClock:
        """Frames alternate 50 and 83 ms apart, as a phone's variable-rate video does."""

        def __init__(self, path):
            self.cap, self.grabs = real_capture(path), 0

        def grab(self):
            ok = self.cap.grab()
            self.grabs += 1
            return ok

        def get(self, prop):
            if prop == cv2.CAP_PROP_POS_MSEC:
                k = self.grabs - 1
                return 1.0 + (k // 2) * 133.3 + (k % 2) * 50.0
            return self.cap.get(prop)

        def __getattr__(self, name):
            return getattr(self.cap, name)

    monkeypatch.setattr(cv2, "VideoCapture", UnevenClock)
    out = tmp_path / "anim"
    code = an.main([str(video), "--out", str(out), "--max-people", "1", "--refine-steps", "3", "--iterations", "2"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    print("\n" + "\n".join(summary["warnings"]))
    assert summary["frames"] == len(sequence)
    assert any(f"frame {damaged} could not be read" in w for w in summary["warnings"])
    assert not any("ends early" in w for w in summary["warnings"])
    assert any("variable frame rate" in w for w in summary["warnings"])
    assert 1000 / 83.3 * 0.99 <= summary["fps"] <= 1000 / 50 * 1.01  # from the typical interval
    saved = {int(p.stem.split("_")[1]): json.loads(p.read_text()) for p in (out / "frames").glob("frame_*.json")}
    assert damaged not in saved  # not saved: a rerun tries it again
    assert all(not saved[i]["people"] for i in range(12, 16)), "nobody in the empty frames"
    assert len(summary["tracks"]) == 1, "a short absence keeps the person's id"
    track = summary["tracks"][0]
    assert track["first_frame"] <= 1 and track["last_frame"] >= len(sequence) - 2
