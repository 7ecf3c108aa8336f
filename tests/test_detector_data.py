"""Training data from the real detector (issue 9): render → detect → pair, in resumable, validated chunks."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from genhmr_app.training import detector_data as dd


def _rows(n: int, found: list[bool]) -> dict[str, np.ndarray]:
    rows = {k: np.zeros((n, *shape), dtype) for k, (dtype, shape) in dd.FIELDS.items()}
    rows["found"][:] = found
    rows["body_pose"][:] = np.eye(3)
    return rows


def test_chunks_round_trip_and_damage_is_detected(tmp_path, caplog):
    dd.write_chunk(tmp_path, 0, _rows(4, [True, False, True, True]), {"samples": 4})
    dd.write_chunk(tmp_path, 1, _rows(2, [True, True]), {"samples": 2})
    assert dd.chunk_is_complete(tmp_path, 0) and dd.chunk_is_complete(tmp_path, 1)
    data = dd.load_detector_data(tmp_path)
    assert len(data["found"]) == 5 and data["found"].all()  # the render where nobody was found is left out
    assert len(dd.load_detector_data(tmp_path, found_only=False)["found"]) == 6

    path = dd.chunk_path(tmp_path, 1)
    path.write_bytes(path.read_bytes()[:100])  # a crash or a full disk cut it short
    assert not dd.chunk_is_complete(tmp_path, 1)
    with pytest.raises(dd.DetectorDataError, match="chunk_00001.npz is missing, truncated"):
        dd.read_chunk(tmp_path, 1)
    with caplog.at_level("WARNING"):
        data = dd.load_detector_data(tmp_path)
    assert len(data["found"]) == 3 and "damaged chunk" in caplog.text
    dd.chunk_path(tmp_path, 0).unlink()
    dd.chunk_path(tmp_path, 1).unlink()
    with pytest.raises(dd.DetectorDataError, match="no detector-data chunks"):
        dd.load_detector_data(tmp_path / "empty")


def test_placement_frames_the_body():
    rng = np.random.default_rng(0)
    v = rng.normal(0, 0.3, (500, 3)) * np.array([0.3, 1.0, 0.2])
    v[:, 1] *= 1.7 / np.ptp(v[:, 1])
    f, wh = 600.0, (640, 480)
    t = dd.place_in_image(v, f, wh, 0.6, (0.5, 0.5))
    p = v + t
    px = p[:, :2] / p[:, 2:] * f + np.array(wh) / 2
    assert abs(np.ptp(px[:, 1]) / wh[1] - 0.6) < 0.06
    assert np.allclose((px.min(0) + px.max(0)) / 2, np.array(wh) / 2, atol=25)


@pytest.mark.slow
def test_generation_is_resumable_and_regenerates_a_damaged_chunk(tmp_path):
    """Real renders through the real landmarker (and, on the stills, the still path's two tracking passes):
    2 chunks of 3, one damaged, run again."""
    poses = roma.rotvec_to_rotmat(torch.randn(40, 23, 3) * 0.15).numpy()
    poses_file = tmp_path / "poses.npz"
    np.savez(poses_file, poses=poses, starts=np.array([0, 20, 40]))
    cfg = dd.DetectorDataConfig(chunk_size=3, sequence_share=0.5, sequence_length=3, seed=5, tracking_passes=2)
    out = tmp_path / "data"
    first = dd.generate(cfg, 6, 1, out, poses_file=poses_file, progress=False)
    assert first["chunks_complete"] == 2 and first["made_now"] == 6 and not first["worker_failures"]
    data = dd.load_detector_data(out, found_only=False)
    assert data["body_pose"].shape == (6, 23, 3, 3) and data["det_px"].shape == (6, 33, 2)
    found = data["found"]
    assert found.sum() >= 4, "the landmarker should find most rendered bodies"
    err = np.linalg.norm(data["det_px"][found] - data["truth_px"][found], axis=-1)
    box = np.ptp(data["truth_px"][found][:, :, 1], axis=1)
    assert np.median(err / box[:, None]) < 0.05  # detections pair with the truth they were rendered from
    tracked = data["tracked"]
    assert tracked.any() and not (tracked & (data["sequence"] >= 0)).any()  # stills only, as the app's still path
    for key in ("first_pass_px", "tracked_px"):
        err = np.linalg.norm(data[key][tracked] - data["truth_px"][tracked], axis=-1)
        assert np.median(err / np.ptp(data["truth_px"][tracked][:, :, 1], axis=1)[:, None]) < 0.05
    assert (data["tracked_conf"][tracked] > 0).any()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(r["throughput_per_s"] > 0 for r in log)

    before = dd.chunk_path(out, 0).read_bytes()
    again = dd.generate(cfg, 6, 1, out, poses_file=poses_file, progress=False)
    assert again["made_now"] == 0 and dd.chunk_path(out, 0).read_bytes() == before  # complete work is kept

    damaged = dd.chunk_path(out, 1)
    damaged.write_bytes(damaged.read_bytes()[:50])
    third = dd.generate(cfg, 6, 1, out, poses_file=poses_file, progress=False)
    assert third["made_now"] == 3 and third["chunks_complete"] == 2
    assert dd.chunk_is_complete(out, 1)


def test_occluders_over_any_body_box_from_tiny_to_whole_image():
    """Occluder textures are made for the shape's own box: a small body (a few pixels of shape) and a
    body filling the image must both work for every texture kind."""
    from genhmr_app.training.detector_data import draw_occluders

    image = np.full((240, 320, 3), 128, np.uint8)
    for seed in range(60):
        rng = np.random.default_rng(seed)
        tiny = (150.0, 100.0, 150.0 + rng.uniform(1, 12), 100.0 + rng.uniform(1, 12))
        box = tiny if seed % 2 else (0.0, 0.0, 320.0, 240.0)
        out = draw_occluders(image, box, rng)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert np.array_equal(image, np.full((240, 320, 3), 128, np.uint8))  # the input is not drawn on
        if seed % 2 == 0:
            assert (out != 128).any()  # a whole-image box always gets a visible occluder


def test_poses_beyond_the_clips_get_their_own_dataset_and_older_data_keeps_its_folder():
    plain = dd.DetectorDataConfig()
    # The key of a dataset made before fold/wide shares, looks and tracking looks existed (asdict without them).
    old = {k: v for k, v in asdict(plain).items()
           if k not in ("fold_share", "wide_share", "look", "tracking_passes", "patches")}
    assert plain.key == hashlib.sha1(json.dumps(old, sort_keys=True).encode()).hexdigest()[:10]
    assert dd.DetectorDataConfig(fold_share=0.15).key != plain.key != dd.DetectorDataConfig(wide_share=0.3).key
    assert dd.DetectorDataConfig(look="dressed").key not in (plain.key, dd.DetectorDataConfig(look="mixed").key)
    assert dd.DetectorDataConfig(patches=True).key != plain.key


def test_training_reads_several_detector_datasets_as_one(tmp_path):
    from genhmr_app.training.train_generator import DetectorSamples

    for name, n in (("a", 3), ("b", 2)):
        rows = _rows(n, [True] * n)
        rows["truth_px"][:] = np.linspace(0, 300, 33)[None, :, None]  # a body 300 px tall
        rows["det_px"][:] = rows["truth_px"]
        rows["visibility"][:] = 1.0
        rows["focal"][:] = 500.0
        rows["image_wh"][:] = (640, 480)
        rows["betas"][:, 0] = {"a": 1.0, "b": 2.0}[name]
        (tmp_path / name).mkdir()
        dd.write_chunk(tmp_path / name, 0, rows, {"samples": n})
    samples = DetectorSamples([tmp_path / "a", tmp_path / "b"], z_scale=2.0)
    assert len(samples) == 5
    assert sorted(samples.betas[:, 0].tolist()) == [1.0, 1.0, 1.0, 2.0, 2.0]
    batch = samples.sample(4, torch.Generator().manual_seed(0))
    assert batch.condition.shape[0] == 4 and torch.isfinite(batch.condition).all()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_stops_when_its_parent_is_killed():
    """A killed generate-detector-data left its render workers running (found using a core for an
    hour): they now die with their parent."""
    child_code = ("from genhmr_app.training.detector_data import die_with_parent; die_with_parent(); "
                  "print('ready', flush=True); import time; time.sleep(60)")
    parent_code = ("import subprocess, sys, time\n"
                   f"c = subprocess.Popen([sys.executable, '-c', {child_code!r}], stdout=subprocess.PIPE, text=True)\n"
                   "assert c.stdout.readline().strip() == 'ready'\n"
                   "print(c.pid, flush=True)\n"
                   "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    child_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()

    def alive() -> bool:
        try:
            state = Path(f"/proc/{child_pid}/status").read_text()
        except FileNotFoundError:
            return False
        return "\nState:\tZ" not in state

    deadline = time.time() + 10
    while alive() and time.time() < deadline:
        time.sleep(0.1)
    still = alive()
    if still:
        os.kill(child_pid, signal.SIGKILL)
    assert not still, "the worker outlived its killed parent"


def test_an_unknown_look_is_refused():
    with pytest.raises(ValueError, match="look"):
        dd.DetectorDataConfig(look="tuxedo")
