"""The learned correction of MediaPipe's landmarks (detection/landmark_correction.py): training finds a
detector's habit and removes it, the shipped weights load and move real detections by little, bad files
and a diverging run get clear messages, and the pipeline works with the correction off or missing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import roma
import torch

from genhmr_app.body.model import load_body_model
from genhmr_app.conditioning.camera import project
from genhmr_app.detection.landmark_correction import (CORRECTOR_PATH, CorrectionSettings, CorrectorConfig,
                                                      CorrectorError, CorrectorNet, LandmarkCorrector, corrector_features, domain_share,
                                                      load_corrector, mirror_landmarks)
from genhmr_app.detection.landmark_patches import PATCH_SIZE
from genhmr_app.detection.landmarks import MP33_INDEX
from genhmr_app.detection.placement import LandmarkPlacement
from genhmr_app.training import detector_data as dd
from genhmr_app.training import train_landmark_corrector as tlc

KNEES = [MP33_INDEX["left_knee"], MP33_INDEX["right_knee"]]


ELBOWS = [MP33_INDEX["left_elbow"], MP33_INDEX["right_elbow"]]


def _detector_data(folder, n: int, seed: int, tracked: bool = False) -> None:
    """n rendered-like samples whose 'detector' puts both knees 6% of the person's height too high
    (a habit) and every landmark a little off at random (noise); the truth is exact. `tracked`: each also
    has tracking passes' looks, whose habit is another: the knees right, the elbows 6% too low."""
    g = torch.Generator().manual_seed(seed)
    yaw = torch.rand(n, generator=g) * 2 * np.pi
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    orient = flip @ roma.rotvec_to_rotmat(torch.stack([torch.zeros(n), yaw, torch.zeros(n)], -1))
    pose = roma.rotvec_to_rotmat(torch.randn(n, 23, 3, generator=g) * 0.2)
    transl = torch.stack([torch.zeros(n), torch.zeros(n) + 0.2, 3 + torch.rand(n, generator=g)], -1)
    focal, wh = torch.full((n,), 600.0), torch.tensor([[640.0, 640.0]]).expand(n, 2)
    sparse = LandmarkPlacement.load().keypoint_body(load_body_model())
    with torch.no_grad():
        points = sparse.mediapipe33(orient, pose, torch.zeros(n, 10), transl)
        truth = project(points, focal, wh).numpy()
    height = np.ptp(truth[:, :, 1], axis=1)
    det = truth + np.random.default_rng(seed).normal(0, 1.0, truth.shape)
    det[:, KNEES, 1] -= 0.06 * height[:, None]
    rows = {k: np.zeros((n, *shape), dtype) for k, (dtype, shape) in dd.FIELDS.items()}
    rows.update(found=np.ones(n, bool), body_pose=pose.numpy(), global_orient=orient.numpy(), transl=transl.numpy(),
                focal=focal.numpy(), image_wh=wh.numpy().astype(np.int32), truth_px=truth, det_px=det.astype(np.float32),
                visibility=np.ones((n, 33), np.float32), presence=np.ones((n, 33), np.float32),
                world=(points - points[:, [23, 24]].mean(1, keepdim=True)).numpy())
    if tracked:
        look = truth + np.random.default_rng(seed + 1).normal(0, 1.0, truth.shape)
        look[:, ELBOWS, 1] += 0.06 * height[:, None]
        rows.update(tracked=np.ones(n, bool), first_pass_px=look.astype(np.float32), tracked_px=look.astype(np.float32),
                    first_pass_conf=np.ones((n, 33), np.float32), tracked_conf=np.ones((n, 33), np.float32))
    folder.mkdir(parents=True)
    dd.write_chunk(folder, 0, {k: v.astype(dd.FIELDS[k][0]) for k, v in rows.items()}, {"samples": n})


def test_training_learns_the_detectors_habit_and_writes_weights_with_a_card(tmp_path, monkeypatch):
    monkeypatch.setenv("GENHMR_CACHE_DIR", str(tmp_path / "cache"))
    _detector_data(tmp_path / "data", 600, seed=3)
    out, log = tmp_path / "corrector.pt", tmp_path / "log.jsonl"
    args = ["--data", str(tmp_path / "data"), "--out", str(out), "--log", str(log), "--epochs", "25", "--batch", "64",
            "--width", "64", "--block", "60", "--threads", "1", "--members", "2"]
    assert tlc.main(args) == 0
    corrector = LandmarkCorrector.load(out)
    metrics = corrector.card["metrics"]
    assert metrics["samples_held_out"] == 60 and metrics["samples_trained"] == 540
    # The knees' 6% habit dominates the detector's error; the corrected points sit far closer to the truth.
    assert metrics["held_out_limb_px_corrected_mean"] < 0.6 * metrics["held_out_limb_px_mediapipe_mean"]
    assert corrector.card["command"].startswith("python main.py train-landmark-corrector")
    assert len(corrector.nets) == 2 and corrector.card["members"] == 2
    assert len(log.read_text().splitlines()) == 50  # 25 epochs of each member

    # A rerun with the same settings resumes at the end: nothing is trained again, the same weights come out.
    first = [{k: v.clone() for k, v in net.state_dict().items()} for net in corrector.nets]
    assert tlc.main(args) == 0
    again = [net.state_dict() for net in LandmarkCorrector.load(out).nets]
    assert all(torch.equal(a[k], b[k]) for a, b in zip(first, again) for k in a)
    assert not torch.equal(first[0]["mlp.0.weight"], first[1]["mlp.0.weight"])  # two seeds, two members
    assert len(log.read_text().splitlines()) == 50


def test_fine_tuning_on_the_tracking_passes_looks_learns_their_habit(tmp_path, monkeypatch):
    """A corrector that learnt the first look's habit, fine-tuned on the last tracking pass's looks: it then
    corrects their own habit. Learning from several looks holds each sample's looks out together."""
    monkeypatch.setenv("GENHMR_CACHE_DIR", str(tmp_path / "cache"))
    _detector_data(tmp_path / "data", 600, seed=5, tracked=True)
    common = ["--data", str(tmp_path / "data"), "--log", str(tmp_path / "log.jsonl"), "--batch", "64", "--width", "64",
              "--block", "60", "--threads", "1", "--members", "2"]
    first, tuned, both = tmp_path / "first.pt", tmp_path / "tuned.pt", tmp_path / "both.pt"
    assert tlc.main(common + ["--out", str(first), "--epochs", "25"]) == 0
    assert tlc.main(common + ["--out", str(tuned), "--epochs", "15", "--lr", "3e-4", "--init", str(first),
                              "--looks", "last"]) == 0
    card = LandmarkCorrector.load(tuned).card
    assert card["looks"] == ["last"] and card["fine_tuned_from"]["path"] == str(first)

    data = dd.load_detector_data(tmp_path / "data")
    truth = tlc.placed_truth_px(data, LandmarkPlacement.load())

    def limb_error(path, look):
        arrays, target, held = tlc.with_looks(data, truth, (look,), 60)
        return tlc.limb_errors_px(LandmarkCorrector.load(path).nets, tlc.rows_of(arrays, held), target[held])

    mediapipe, before = limb_error(first, "last")[:2]
    after = limb_error(tuned, "last")[1]
    assert after < 0.7 * min(before, mediapipe)  # the tracked looks' elbow habit, learnt by fine-tuning

    # A two-look corrector knows a tracking pass's look from a first look: it learns both habits at once,
    # starting from the one-look corrector (whose first look's correction it keeps).
    two = tmp_path / "two.pt"
    assert tlc.main(common + ["--out", str(two), "--epochs", "25", "--lr", "1e-3", "--init", str(first),
                              "--looks", "image,last", "--two-looks"]) == 0
    assert LandmarkCorrector.load(two).reads_looks
    for look in ("image", "last"):
        mediapipe, corrected = limb_error(two, look)[:2]
        assert corrected < 0.7 * mediapipe, look

    assert tlc.main(common + ["--out", str(both), "--epochs", "2", "--init", str(first), "--looks", "image,first,last"]) == 0
    assert LandmarkCorrector.load(both).card["metrics"]["samples_held_out"] == 3 * 60


def test_detector_data_made_before_the_tracking_looks_reads_as_untracked(tmp_path):
    _detector_data(tmp_path / "data", 30, seed=6)
    chunk = dd.chunk_path(tmp_path / "data", 0)
    with np.load(chunk) as z:
        old = {k: z[k] for k in z.files if k not in ("tracked", "first_pass_px", "first_pass_conf", "tracked_px",
                                                      "tracked_conf")}
    chunk.unlink()
    chunk.with_suffix(".json").unlink()
    dd.write_chunk(tmp_path / "data", 0, old, {"samples": 30})
    data = dd.load_detector_data(tmp_path / "data")
    assert not data["tracked"].any() and data["tracked_px"].shape == (30, 33, 2)
    merged, target, held = tlc.with_looks(data, np.zeros((30, 33, 2), np.float32), ("image", "last"), block=10)
    assert len(target) == 30 and held.sum() == 10  # no tracked looks to add: the first looks alone


def test_a_diverging_run_stops_with_the_step_and_writes_no_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENHMR_CACHE_DIR", str(tmp_path / "cache"))
    _detector_data(tmp_path / "data", 120, seed=4)
    monkeypatch.setattr(tlc, "nll", lambda *a: torch.tensor(float("nan")))
    out = tmp_path / "corrector.pt"
    assert tlc.main(["--data", str(tmp_path / "data"), "--out", str(out), "--log", str(tmp_path / "log.jsonl"),
                     "--epochs", "2", "--batch", "32", "--width", "16", "--block", "12", "--threads", "1"]) == 1
    assert "non-finite loss at epoch 1, step 1" in capsys.readouterr().err
    assert not out.exists()


def test_the_shipped_corrector_moves_landmarks_by_little_and_trusts_less_where_it_expects_error():
    corrector, warning = load_corrector(CORRECTOR_PATH)
    assert corrector is not None, warning
    metrics = corrector.card["metrics"]
    assert metrics["held_out_limb_px_corrected_mean"] < metrics["held_out_limb_px_mediapipe_mean"]
    assert metrics["held_out_limb_px_corrected_median"] < metrics["held_out_limb_px_mediapipe_median"]
    # A clean, plausible person: the correction may refine it, never throw it around.
    sparse = LandmarkPlacement.load().keypoint_body(load_body_model())
    orient = torch.diag(torch.tensor([1.0, -1.0, -1.0]))[None]
    with torch.no_grad():
        points = sparse.mediapipe33(orient, torch.eye(3).expand(1, 23, 3, 3), torch.zeros(1, 10), torch.tensor([[0, 0.2, 3.5]]))
    px = project(points, torch.tensor([600.0]), torch.tensor([[640.0, 640.0]]))[0].numpy()
    world = (points - points[:, [23, 24]].mean(1, keepdim=True))[0].numpy()
    vis = np.full(33, 0.99, np.float32)
    out = corrector.correct(px, np.zeros(33, np.float32), vis, vis, world)
    height = np.ptp(px[:, 1])
    assert np.isfinite(out.landmarks_px).all() and out.landmarks_px.shape == (33, 2)
    assert np.linalg.norm(out.landmarks_px - px, axis=-1).max() < 0.1 * height
    assert (out.weights <= vis + 1e-6).all() and (out.weights > 0).all()
    # The weight follows the predicted spread: power 0 leaves MediaPipe's visibility as it is.
    plain = corrector.correct(px, np.zeros(33, np.float32), vis, vis, world, CorrectionSettings(spread_power=0))
    assert np.allclose(plain.weights, vis)
    assert np.allclose(plain.landmarks_px, out.landmarks_px)


def test_one_persons_prediction_runs_frozen_members_with_the_eager_result():
    """The shipped corrector predicts one person through frozen copies of its members (one graph per
    input shape), with and without patches, as the members themselves do; a batch runs eagerly."""
    corrector, warning = load_corrector(CORRECTOR_PATH)
    assert corrector is not None, warning
    g = torch.Generator().manual_seed(0)
    features = torch.randn(3, corrector.nets[0].config.num_features, generator=g)
    patches = torch.randint(0, 256, (3, 33, PATCH_SIZE, PATCH_SIZE), generator=g, dtype=torch.uint8)
    for p in (None, patches):
        with torch.no_grad():
            members = [net(features, p) for net in corrector.nets]
        eager_shift = torch.stack([m[0] for m in members]).mean(0)
        eager_spread = torch.stack([m[1] for m in members]).mean(0)
        shift, spread, _ = corrector.predict(features, p)  # a batch: the members themselves
        assert torch.allclose(shift, eager_shift, atol=1e-6)
        for i in range(3):  # one person: the frozen copies
            one_shift, one_spread, _ = corrector.predict(features[i:i + 1], None if p is None else p[i:i + 1])
            assert torch.allclose(one_shift[0], eager_shift[i], atol=1e-5)
            assert torch.allclose(one_spread[0], eager_spread[i], atol=1e-5)
    assert all(len(frozen.graphs) == 2 and not frozen.failed for frozen in corrector._frozen)


def test_the_fit_corrects_a_tracked_look_knowing_the_first_look_and_the_passs_certainty():
    """The shipped corrector reads two looks: the still path's fit targets for a tracking pass's look are
    its correction given MediaPipe's first look and the pass's heatmap peaks, and that knowledge moves them."""
    from genhmr_app.detection.detector import DetectedPerson
    from genhmr_app.pipeline.reconstructor import Reconstructor

    corrector, warning = load_corrector(CORRECTOR_PATH)
    assert corrector is not None and corrector.reads_looks, warning
    sparse = LandmarkPlacement.load().keypoint_body(load_body_model())
    orient = torch.diag(torch.tensor([1.0, -1.0, -1.0]))[None]
    pose = roma.rotvec_to_rotmat(torch.randn(1, 23, 3, generator=torch.Generator().manual_seed(1)) * 0.2)
    with torch.no_grad():
        points = sparse.mediapipe33(orient, pose, torch.zeros(1, 10), torch.tensor([[0, 0.2, 3.5]]))
    first = project(points, torch.tensor([600.0]), torch.tensor([[640.0, 640.0]]))[0].numpy()
    world = (points - points[:, [23, 24]].mean(1, keepdim=True))[0].numpy()
    tracked = first + np.random.default_rng(2).normal(0, 3.0, first.shape).astype(np.float32)
    tracked[KNEES] += 25.0  # the pass and the first look disagree about the knees
    confidence = np.full(33, 0.9, np.float32)
    vis = np.full(33, 0.99, np.float32)
    person = DetectedPerson(landmarks_px=first, landmarks_z=np.zeros(33, np.float32), visibility=vis, presence=vis,
                            world_landmarks=world, bbox=(*first.min(0), *first.max(0)), score=0.99,
                            tracked_px=tracked, tracked_confidence=confidence)
    recon = Reconstructor()
    targets = recon.fit_targets(person)
    expected = corrector.correct(tracked, person.landmarks_z, vis, vis, world, recon.correction,
                                 first_look_px=first, look_confidence=confidence)
    assert np.allclose(targets.points_px, expected.landmarks_px)
    alone = corrector.correct(tracked, person.landmarks_z, vis, vis, world, recon.correction)
    assert not np.allclose(alone.landmarks_px, expected.landmarks_px, atol=0.05)


def test_features_are_those_of_the_mirror_image_when_mirrored():
    rng = np.random.default_rng(0)
    px = rng.uniform(100, 500, (2, 33, 2)).astype(np.float32)
    assert np.array_equal(mirror_landmarks(mirror_landmarks(px)), px)
    left, right = MP33_INDEX["left_wrist"], MP33_INDEX["right_wrist"]
    assert np.array_equal(mirror_landmarks(px)[:, left], px[:, right])
    extra = [rng.uniform(0, 1, (2, 33)).astype(np.float32) for _ in range(3)]
    world = rng.normal(0, 0.3, (2, 33, 3)).astype(np.float32)
    features = corrector_features(px, *extra, world)
    assert features.shape == (2, 33 * 8) and np.isfinite(features).all()
    # The person's frame does not depend on where the person stands or how large they appear.
    moved = corrector_features(px * 2 + 50, extra[0] * 2, *extra[1:], world)
    assert np.allclose(moved[:, :66], features[:, :66], atol=1e-5)


@pytest.mark.parametrize("content", [b"", b"not a torch file", "json"])
def test_an_unusable_corrector_file_is_reported_and_the_fit_uses_mediapipes_points(tmp_path, content):
    path = tmp_path / "landmark_corrector.pt"
    if content == "json":
        torch.save({"format": "genhmr-landmark-corrector/1", "config": {"width": 8, "layers": 1}, "members": [{}]}, path)
    else:
        path.write_bytes(content)
    corrector, warning = load_corrector(path)
    assert corrector is None and str(path) in warning and "MediaPipe's landmarks as they are" in warning
    missing, why = load_corrector(tmp_path / "absent.pt")
    assert missing is None and "no landmark corrector" in why


def test_the_pipeline_reconstructs_with_the_correction_missing_and_switched_off(tmp_path):
    from genhmr_app.detection.detector import DetectedPerson
    from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor

    (tmp_path / "bad.pt").write_bytes(b"damaged")
    recon = Reconstructor(device="cpu", corrector_path=tmp_path / "bad.pt")
    assert recon.corrector is None and "bad.pt" in recon.corrector_warning
    shipped = Reconstructor(body=recon.body, tokenizer=recon.tokenizer, device="cpu")
    assert shipped.corrector is not None and shipped.corrector_warning is None

    sparse = shipped.sparse
    orient = torch.diag(torch.tensor([1.0, -1.0, -1.0]))[None]
    with torch.no_grad():
        points = sparse.mediapipe33(orient, torch.eye(3).expand(1, 23, 3, 3), torch.zeros(1, 10), torch.tensor([[0, 0.2, 3.5]]))
    px = project(points, torch.tensor([600.0]), torch.tensor([[640.0, 640.0]]))[0].numpy().astype(np.float32)
    world = (points - points[:, [23, 24]].mean(1, keepdim=True))[0].numpy()
    person = DetectedPerson(px, np.zeros(33, np.float32), np.full(33, 0.95, np.float32), np.full(33, 0.99, np.float32),
                            world, (float(px[:, 0].min()), float(px[:, 1].min()), float(px[:, 0].max()), float(px[:, 1].max())), 0.99)
    on_px, on_w, _ = shipped.fit_targets(person, True)
    off_px, off_w, off_familiarity = shipped.fit_targets(person, False)
    assert np.array_equal(off_px, px) and np.array_equal(off_w, person.visibility)
    assert off_familiarity == 1.0  # without the corrector there is no domain check to doubt the person
    assert not np.array_equal(on_px, px)
    assert np.array_equal(*recon.fit_targets(person, True)[:1], px)  # no corrector: MediaPipe's points
    assert ReconstructionSettings().landmark_correction  # on for stills since the thirtieth session
    for r, settings in ((recon, ReconstructionSettings(landmark_correction=True)), (shipped, ReconstructionSettings()),
                        (shipped, ReconstructionSettings(landmark_correction=True))):
        out = r.reconstruct_person(person, 640, 640, 600.0, settings, {"detect": 0.0, "condition": 0.0, "sample": 0.0,
                                                                          "refine": 0.0})
        assert np.isfinite(out.vertices).all()
        # The fitted body lands on the (clean) landmarks either way.
        assert out.best.error_2d_px < 0.05 * np.ptp(px[:, 1])
    json.dumps(shipped.corrector.card)  # the card is plain JSON


def test_training_without_detector_data_says_how_to_make_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENHMR_CACHE_DIR", str(tmp_path / "empty"))
    with pytest.raises(SystemExit) as exit_info:
        tlc.main(["--out", str(tmp_path / "c.pt"), "--log", str(tmp_path / "log.jsonl")])
    assert exit_info.value.code == 2
    assert "run `python main.py generate-detector-data` first" in capsys.readouterr().err
    assert not (tmp_path / "c.pt").exists()


def _disagreeing_pair(shift: float) -> LandmarkCorrector:
    """Two members that agree on nothing but a constant: one shifts every landmark by (2 * shift, 0) of the
    person's box, the other not at all; both predict a spread of 5% of the box."""
    nets = []
    for member_shift in (2 * shift, 0.0):
        net = CorrectorNet()
        last = net.mlp[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
            last.bias[: 33 * 2].view(33, 2)[:, 0] = member_shift
            last.bias[33 * 2:] = float(np.log(0.05))
        nets.append(net)
    return LandmarkCorrector(nets)


@pytest.mark.parametrize("shift, applied", [(0.005, 1.0), (0.02, 0.5), (0.05, 0.0)])
def test_the_correction_fades_out_where_the_ensemble_disagrees(shift, applied):
    """The domain check: members that disagree (people unlike the renders they learnt from) leave the fit
    on MediaPipe's own points and visibility; agreement keeps the whole correction; in between it fades."""
    rng = np.random.default_rng(1)
    px = rng.uniform(100, 500, (33, 2)).astype(np.float32)
    vis = rng.uniform(0.5, 1.0, 33).astype(np.float32)
    world = rng.normal(0, 0.3, (33, 3)).astype(np.float32)
    settings = CorrectionSettings(trusted_disagreement=0.01, untrusted_disagreement=0.03)
    out = _disagreeing_pair(shift).correct(px, np.zeros(33, np.float32), vis, vis, world, settings)
    assert out.disagreement == pytest.approx(shift, rel=1e-4)
    assert out.applied_share == pytest.approx(applied, abs=1e-4)
    box = float((px.max(0) - px.min(0)).max())
    assert np.allclose(out.landmarks_px[:, 0] - px[:, 0], applied * shift * box, atol=1e-3)
    assert np.allclose(out.landmarks_px[:, 1], px[:, 1])
    assert np.allclose(out.weights, vis * (0.01 / 0.05) ** (2 * applied), rtol=1e-4)
    # Without thresholds the whole correction is used, however much the members disagree.
    unchecked = CorrectionSettings(trusted_disagreement=float("inf"), untrusted_disagreement=float("inf"))
    whole = _disagreeing_pair(shift).correct(px, np.zeros(33, np.float32), vis, vis, world, unchecked)
    assert whole.applied_share == 1.0
    assert domain_share(float("nan"), settings) == 0.0


def test_a_2d_only_corrector_ignores_depth_and_world_landmarks():
    rng = np.random.default_rng(2)
    px = rng.uniform(100, 500, (4, 33, 2)).astype(np.float32)
    vis = rng.uniform(0, 1, (4, 33)).astype(np.float32)
    world = rng.normal(0, 0.3, (4, 33, 3)).astype(np.float32)
    z = rng.normal(0, 50, (4, 33)).astype(np.float32)
    torch.manual_seed(0)
    net = CorrectorNet(CorrectorConfig(width=32, layers=2, inputs="2d")).eval()
    with torch.no_grad():
        a = net(torch.from_numpy(corrector_features(px, z, vis, vis, world)))
        b = net(torch.from_numpy(corrector_features(px, -z, vis, vis, world[::-1].copy())))
        c = net(torch.from_numpy(corrector_features(px + rng.normal(0, 20, px.shape).astype(np.float32), z, vis, vis, world)))
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])
    assert not torch.allclose(a[0], c[0])
    with pytest.raises(CorrectorError, match="unknown corrector inputs"):
        CorrectorNet(CorrectorConfig(inputs="colour"))


def test_a_person_unlike_the_renders_gets_a_longer_looser_fit(monkeypatch):
    """FitTargets.familiarity below 1 (the corrector's domain check doubts the person): the joint fit runs
    ReconstructionSettings.unfamiliar_fit_iterations and holds the pose with a share of the uncertainty prior."""
    from genhmr_app.detection.detector import DetectedPerson
    from genhmr_app.pipeline import reconstructor as reconstructor_module
    from genhmr_app.pipeline.reconstructor import FitTargets, ReconstructionSettings, Reconstructor

    recon = Reconstructor(device="cpu")
    orient = torch.diag(torch.tensor([1.0, -1.0, -1.0]))[None]
    pose = torch.eye(3).expand(1, 23, 3, 3).clone()
    pose[0, 17] = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # a bent elbow to fit to
    with torch.no_grad():
        points = recon.sparse.mediapipe33(orient, pose, torch.zeros(1, 10), torch.tensor([[0, 0.2, 3.5]]))
    px = project(points, torch.tensor([600.0]), torch.tensor([[640.0, 640.0]]))[0].numpy().astype(np.float32)
    world = (points - points[:, [23, 24]].mean(1, keepdim=True))[0].numpy()
    person = DetectedPerson(px, np.zeros(33, np.float32), np.full(33, 0.95, np.float32), np.full(33, 0.99, np.float32),
                            world, (float(px[:, 0].min()), float(px[:, 1].min()), float(px[:, 0].max()), float(px[:, 1].max())), 0.99)
    familiarity = {"value": 1.0}
    monkeypatch.setattr(recon, "fit_targets", lambda p, corrected=True: FitTargets(px, p.visibility, familiarity["value"]))
    seen = []
    original = reconstructor_module.prior_from_spread
    monkeypatch.setattr(reconstructor_module, "prior_from_spread",
                        lambda spread, settings, familiarity: seen.append(familiarity) or original(spread, settings, familiarity))
    settings = ReconstructionSettings()
    assert settings.unfamiliar_fit_iterations > settings.joint_fit_iterations

    def fitted():
        timing = {"detect": 0.0, "condition": 0.0, "sample": 0.0, "refine": 0.0}
        return recon.reconstruct_person(person, 640, 640, 600.0, settings, timing).best

    familiar = fitted()
    familiarity["value"] = 0.3
    unfamiliar = fitted()
    assert seen == [1.0, 0.3]
    assert len(unfamiliar.refine_errors_px) - len(familiar.refine_errors_px) == \
        settings.unfamiliar_fit_iterations - settings.joint_fit_iterations
    assert unfamiliar.error_2d_px <= familiar.error_2d_px + 1e-3  # looser and longer: at least as close
    settings = ReconstructionSettings(joint_fit_iterations=settings.unfamiliar_fit_iterations + 2)
    assert len(fitted().refine_errors_px) - len(familiar.refine_errors_px) == \
        settings.joint_fit_iterations - ReconstructionSettings().joint_fit_iterations  # never fewer than asked
