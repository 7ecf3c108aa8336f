"""Image patches around the landmarks (detection/landmark_patches.py) and the corrector that reads them:
patches sit where the landmarks are, the data keeps them as an optional field, a patch-reading corrector
learns a habit only the image gives away, starts as the corrector it was fine-tuned from, and the
pipeline cuts its patches from the person's image without keeping that image in its results."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from genhmr_app.detection.landmark_correction import (CorrectorConfig, CorrectorNet, LandmarkCorrector,
                                                      mirror_patches)
from genhmr_app.detection.landmark_patches import PATCH_BOX_SHARE, PATCH_SIZE, grey_image, landmark_patches
from genhmr_app.detection.landmarks import MP33_INDEX
from genhmr_app.training import detector_data as dd
from genhmr_app.training import train_landmark_corrector as tlc

from test_landmark_correction import ELBOWS, _detector_data


def test_a_patch_is_centred_on_its_landmark_and_black_outside_the_image():
    image = np.zeros((400, 300, 3), np.uint8)
    image[195:206, 95:106] = 255  # a bright square around (100, 200)
    box = (50.0, 50.0, 250.0, 350.0)  # larger side 300 px: a patch spans 0.16 x 300 = 48 px
    points = np.array([[100.0, 200.0], [100.0 + 0.16 * 300 * 0.4, 200.0], [-500.0, -500.0], [np.nan, 3.0]])
    patches = landmark_patches(image, points, box)
    assert patches.shape == (4, PATCH_SIZE, PATCH_SIZE) and patches.dtype == np.uint8
    c = PATCH_SIZE // 2
    assert patches[0, c - 1:c + 1, c - 1:c + 1].min() > 200 and patches[0, 0, 0] == 0
    # 40% of the patch's side to the right of the square: the square shows 40% to the left of centre.
    left = c - int(round(0.4 * PATCH_SIZE))
    assert patches[1, c, left] > 200 and patches[1, c, c] == 0
    assert not patches[2].any() and not patches[3].any()
    assert PATCH_BOX_SHARE == pytest.approx(0.16)
    with pytest.raises(ValueError, match="image"):
        landmark_patches(np.zeros((400, 300, 4), np.uint8), points, box)
    # A grey image converted once (grey_image) gives the same patches as the RGB one.
    assert np.array_equal(landmark_patches(grey_image(image), points, box), patches)


def test_mirrored_patches_are_the_mirror_images_patches():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    points = rng.uniform(60, 140, (33, 2))
    box = (20.0, 20.0, 180.0, 180.0)
    mirrored_points = points.copy()
    mirrored_points[:, 0] = 200 - points[:, 0]
    from genhmr_app.detection.landmark_correction import mirror_landmarks
    in_mirror = landmark_patches(image[:, ::-1], mirror_landmarks(mirrored_points[None])[0], (20.0, 20.0, 180.0, 180.0))
    flipped = mirror_patches(torch.from_numpy(landmark_patches(image, points, box))[None])[0].numpy()
    # The same pixels up to the half-pixel the mirror moves them (image x → 200 − x, pixel centres at +0.5).
    assert np.abs(in_mirror.astype(int) - flipped.astype(int)).mean() < 40
    assert torch.equal(mirror_patches(mirror_patches(torch.from_numpy(flipped)[None])), torch.from_numpy(flipped)[None])


def _with_patch_habit(folder, n: int, seed: int) -> None:
    """Detector data whose detector puts the elbows 6% of the height too low on half the samples, those
    where the image shows a bright mark at the elbow; the landmarks alone cannot tell which half."""
    _detector_data(folder, n, seed=seed, tracked=True)
    with np.load(dd.chunk_path(folder, 0)) as z:
        rows = {k: z[k] for k in z.files}
    rng = np.random.default_rng(seed)
    marked = rng.random(n) < 0.5
    height = np.ptp(rows["truth_px"][:, :, 1], axis=1)
    tracked = rows["truth_px"] + rng.normal(0, 1.0, rows["truth_px"].shape)
    tracked[marked[:, None] & np.isin(np.arange(33), ELBOWS)[None], 1] += 0.06 * np.repeat(height[marked], 2)
    rows.update(tracked_px=tracked.astype(np.float32), first_pass_px=tracked.astype(np.float32))
    patches = rng.integers(90, 110, (n, 33, PATCH_SIZE, PATCH_SIZE)).astype(np.uint8)
    c = PATCH_SIZE // 2
    patches[np.ix_(marked, ELBOWS)] = patches[np.ix_(marked, ELBOWS)]
    for i in np.nonzero(marked)[0]:
        patches[i, ELBOWS, c - 4:c + 4, c - 4:c + 4] = 250
    rows["patches"] = patches
    for stale in (dd.chunk_path(folder, 0), dd.chunk_path(folder, 0).with_suffix(".json")):
        stale.unlink()
    dd.write_chunk(folder, 0, rows, {"samples": n})


def test_a_patch_reading_corrector_learns_a_habit_only_the_image_shows(tmp_path, monkeypatch):
    monkeypatch.setenv("GENHMR_CACHE_DIR", str(tmp_path / "cache"))
    _with_patch_habit(tmp_path / "data", 600, seed=7)
    _detector_data(tmp_path / "old", 60, seed=8, tracked=True)  # a folder made without patches
    common = ["--data", str(tmp_path / "data"), str(tmp_path / "old"), "--log", str(tmp_path / "log.jsonl"),
              "--batch", "64", "--width", "64", "--block", "60", "--threads", "1", "--members", "2",
              "--looks", "last", "--two-looks", "--epochs", "25"]
    plain, reading = tmp_path / "plain.pt", tmp_path / "patches.pt"
    assert tlc.main(common + ["--out", str(plain), "--lr", "1e-3"]) == 0
    assert tlc.main(common + ["--out", str(reading), "--lr", "3e-3", "--init", str(plain), "--patches"]) == 0
    assert LandmarkCorrector.load(reading).reads_patches and not LandmarkCorrector.load(plain).reads_patches

    folders, data = dd.load_detector_datasets([tmp_path / "data", tmp_path / "old"])
    assert data["has_patches"].sum() == 600 and data["patches"].shape == (660, 33, PATCH_SIZE, PATCH_SIZE)
    truth = tlc.placed_truth_px(data, None)
    source = tlc.PatchSource(data.pop("patches"))
    arrays, target, held = tlc.with_looks(data, truth, ("last",), 60)
    rows = held & (arrays["patch_row"] >= 0)
    elbows = lambda path: np.linalg.norm(  # noqa: E731
        arrays["det_px"][rows] + tlc.mean_shift(LandmarkCorrector.load(path).nets,
                                                torch.from_numpy(tlc.features(tlc.rows_of(arrays, rows), True)),
                                                arrays["patch_row"][rows], source).numpy()
        * tlc.person_frame(arrays["det_px"][rows])[1] - target[rows], axis=-1)[:, ELBOWS].mean()
    assert elbows(reading) < 0.4 * elbows(plain)  # measured 1.7 against 7.8 px


@pytest.mark.parametrize("patch_size", [{}, {"patch_hidden": 16, "patch_embed": 4}])
def test_a_patch_reading_net_starts_as_the_corrector_it_is_fine_tuned_from(patch_size):
    torch.manual_seed(0)
    plain = CorrectorNet(CorrectorConfig(width=32, looks=True)).eval()
    x = torch.randn(5, plain.config.num_features)
    start = tlc._start_from(plain, CorrectorConfig(width=32, looks=True, patches=True, **patch_size), x).eval()
    patches = torch.randint(0, 255, (5, 33, PATCH_SIZE, PATCH_SIZE), dtype=torch.uint8)
    with torch.no_grad():
        for a, b in zip(plain(x), start(x, patches)):
            assert torch.allclose(a, b, atol=1e-6)
        assert start.patch_in.weight.shape[1] == start.config.patch_inputs and not start.patch_in.weight.any()
        # Without patches a row reads zeros and a flag of 0.
        assert torch.allclose(start(x)[0], start(x, patches, torch.zeros(5, dtype=torch.bool))[0])


def _patch_reading_reconstructor(monkeypatch):
    """A Reconstructor whose corrector is the shipped one made patch-reading (its patch inputs zero), and
    the list of patches each of its corrections was given."""
    from genhmr_app.pipeline.reconstructor import Reconstructor

    recon = Reconstructor()
    shipped = recon.corrector
    # The shipped networks without their patch reading (the landmark part of each, as a plain corrector) ...
    plain_config = CorrectorConfig(**{**shipped.nets[0].config.__dict__, "patches": False})
    plain_nets = []
    for net in shipped.nets:
        plain_net = CorrectorNet(plain_config)
        plain_net.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("patch_")})
        plain_nets.append(plain_net)
    plain = LandmarkCorrector(plain_nets, shipped.card)
    # ... made patch-reading again as a fine-tune starts: a fresh patch network, zero weights into the MLP.
    x = torch.zeros(1, plain_config.num_features)
    nets = [tlc._start_from(net, replace(plain_config, patches=True), x) for net in plain_nets]
    reading = LandmarkCorrector(nets, shipped.card)
    heard = []
    correct = reading.correct
    monkeypatch.setattr(reading, "correct", lambda *a, **k: heard.append(k.get("patches")) or correct(*a, **k))
    recon.use_corrector(reading)
    return recon, plain, heard


def test_the_fit_cuts_patches_from_the_persons_image_and_the_result_keeps_no_image(monkeypatch):
    from genhmr_app.pipeline.reconstructor import ReconstructionSettings
    from rendered import render_walker

    image, _focal, _body = render_walker((480, 480), frame=40, seed=5)
    recon, plain, heard = _patch_reading_reconstructor(monkeypatch)
    out = recon.run(image, ReconstructionSettings(iterations=1))
    assert out.people and heard and all(p is not None and p.shape == (33, PATCH_SIZE, PATCH_SIZE) for p in heard)
    person = out.people[0].detection
    # The patches are those of the look the fit ended on (the last tracking pass's), cut from the image.
    wrist = MP33_INDEX["left_wrist"]
    assert np.array_equal(heard[-1][wrist], landmark_patches(image, person.tracked_px, person.bbox)[wrist])
    assert person.image is None and all(p.image is None for p in out.detection.people)
    # The zero-initialised patch inputs leave the correction as the plain corrector's.
    recon.use_corrector(plain)
    again = recon.run(image, ReconstructionSettings(iterations=1))
    assert np.allclose(again.people[0].vertices, out.people[0].vertices, atol=1e-4)


def test_the_shipped_correctors_card_says_what_its_weights_read():
    """The session decides from the card alone whether to carry patches to the model process
    (card_reads_patches): a card that disagreed with its weights would send none to a corrector that
    reads them, and the app would correct differently from the bench."""
    from genhmr_app.detection.landmark_correction import CORRECTOR_PATH, card_reads_patches, load_corrector

    corrector, warning = load_corrector(CORRECTOR_PATH)
    assert corrector is not None, warning
    assert card_reads_patches(CORRECTOR_PATH) == corrector.reads_patches


def test_a_detection_sent_without_its_image_carries_each_looks_patches(monkeypatch):
    """The model process gets no image (pipeline/session.py _for_model_process): a detection with its
    patches cut (DetectionResult.with_patches_cut) is corrected there exactly as with the image here,
    on the first pass's look and on the last, and a pickled copy is small."""
    import pickle

    from genhmr_app.detection.landmark_correction import card_reads_patches
    from genhmr_app.pipeline.reconstructor import ReconstructionSettings
    from rendered import render_walker

    image, _focal, _body = render_walker((480, 480), frame=40, seed=5)
    recon, _plain, heard = _patch_reading_reconstructor(monkeypatch)
    settings = ReconstructionSettings(iterations=1, tracking_passes=2)
    detection = recon.look_again(image, recon.detector("image", 1).detect(image), settings.tracking_passes)
    person = detection.people[0]
    assert person.image is not None and person.first_pass_px is not None and len(person.looks()) == 3
    with_image = recon.reconstruct_detection(detection, settings)
    from_image = list(heard)
    heard.clear()
    sent = pickle.loads(pickle.dumps(detection.with_patches_cut()))
    assert sent.people[0].image is None and len(sent.people[0].cut_patches) == 3
    assert len(pickle.dumps(sent)) < 100_000
    without_image = recon.reconstruct_detection(sent, settings)
    assert len(heard) == len(from_image) >= 2  # the first pass's look, then the last
    assert all(a is not None and np.array_equal(a, b) for a, b in zip(from_image, heard))
    assert np.allclose(with_image.people[0].vertices, without_image.people[0].vertices, atol=1e-5)
    assert not without_image.people[0].detection.cut_patches  # a result keeps no patches either
    # A look it has no patches for gets none (the corrector then reads zeros), and without_images drops them.
    assert sent.people[0].patches_around(person.landmarks_px + 1) is None
    assert not detection.with_patches_cut().without_images().people[0].cut_patches
    assert card_reads_patches(Path("/nonexistent/corrector.pt")) is False


def test_data_where_every_folder_has_patches_is_read_with_them(tmp_path, monkeypatch):
    monkeypatch.setenv("GENHMR_CACHE_DIR", str(tmp_path / "cache"))
    _with_patch_habit(tmp_path / "data", 100, seed=9)
    heard = {}
    train = tlc.train
    monkeypatch.setattr(tlc, "train", lambda data, *a, **k: heard.setdefault("rows", data["patch_row"]) is None
                        or train(data, *a, **k))
    assert tlc.main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "c.pt"), "--log", str(tmp_path / "l.jsonl"),
                     "--epochs", "1", "--batch", "32", "--width", "16", "--block", "10", "--threads", "1",
                     "--members", "1", "--looks", "last", "--two-looks", "--patches"]) == 0
    assert (heard["rows"] >= 0).all()  # each tracked look reads its sample's patches
