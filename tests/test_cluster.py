"""`infer --cluster`: a local Ray cluster gives the single-process results, survives a killed worker,
and every bad input gets a clear message while the rest goes on (issue 13)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genhmr_app.pipeline import batch

REPO = Path(__file__).resolve().parents[1]
# Small settings keep the suite fast; both runs use the same ones, which is what the comparison needs.
FAST = ["--iterations", "2", "--refine-steps", "3", "--seed", "7"]


def _quiet_env(**extra: str) -> dict:
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", **extra)
    env.pop("RAY_ADDRESS", None)
    return env


def _infer(args: list[str], timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "main.py"), "infer", *args], capture_output=True, text=True,
                          timeout=timeout, env=env or _quiet_env(), cwd=REPO)


def _strip_timing(data: dict) -> dict:
    data = dict(data)
    data.pop("timing_ms", None)
    return data


def _results(out: Path) -> dict[str, dict]:
    return {str(p.relative_to(out)): _strip_timing(json.loads(p.read_text())) for p in sorted(out.rglob("*.json"))}


@pytest.fixture(scope="module")
def batch_inputs(tmp_path_factory, shared_images: Path) -> Path:
    """≥ 20 real photos (some repeated under new names), one damaged file and a 6-frame video."""
    import cv2
    from clips import taiji_clip

    folder = tmp_path_factory.mktemp("batch_in")
    photos = sorted((shared_images / "photos").glob("*.jpg")) + sorted((shared_images / "photos").glob("*.png"))
    assert photos, "no shared photos"
    for i in range(20):
        src = photos[i % len(photos)]
        img = cv2.imread(str(src))
        scale = 480 / max(img.shape[:2])  # small copies: the comparison, not the pixels, is the point
        cv2.imwrite(str(folder / f"img_{i:02d}.jpg"), cv2.resize(img, None, fx=scale, fy=scale))
    (folder / "damaged.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    taiji_clip(shared_images, folder / "clip.avi", 6, (480, 270))
    return folder


@pytest.fixture(scope="module")
def single_process_results(batch_inputs: Path, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("single")
    proc = _infer([str(batch_inputs), "--out", str(out), *FAST])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_plan_groups_video_frames_and_skips_complete_items(batch_inputs: Path, tmp_path: Path):
    items, problems = batch.plan_work([str(batch_inputs)])
    assert not problems
    frames = [it for it in items if it.frame is not None]
    assert [it.frame for it in frames] == list(range(6))
    assert len(items) == 21 + 6  # 20 photos, the damaged file (it fails later, with a reason), 6 frames
    tasks = batch.make_tasks(items)
    assert [it for t in tasks for it in t.items] == items
    for t in tasks:  # a task never mixes a video with images, nor jumps within a video
        kinds = {it.frame is None for it in t.items}
        assert len(kinds) == 1
    (tmp_path / "img_00.json").write_text('{"image": "img_00.jpg", "people": []}')
    (tmp_path / "img_01.json").write_text('{"image": "img_01.jpg", "peo')  # half-written: not complete
    todo, skipped = batch.pending(items, tmp_path)
    assert skipped == 1 and len(todo) == len(items) - 1


def test_single_process_reports_the_damaged_file_and_does_the_rest(single_process_results, batch_inputs):
    out, proc = single_process_results
    assert "damaged.jpg" in proc.stderr
    assert "done 26, skipped 0" in proc.stdout and "failed 1" in proc.stdout
    assert len(list(out.glob("img_*.json"))) == 20
    assert len(list((out / "clip").glob("frame_*.json"))) == 6
    # A second run skips everything that is complete (and only retries the damaged file).
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}
    again = _infer([str(batch_inputs), "--out", str(out), *FAST])
    assert again.returncode == 0, again.stderr[-2000:]
    assert "done 0, skipped 26" in again.stdout and "failed 1" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.json")} == before


def test_cluster_matches_single_process_and_survives_a_killed_worker(batch_inputs, single_process_results, tmp_path):
    pytest.importorskip("ray")
    single_out, _ = single_process_results
    out = tmp_path / "cluster"
    proc = subprocess.Popen([sys.executable, str(REPO / "main.py"), "infer", str(batch_inputs), "--out", str(out),
                             "--cluster", "--workers", "2", *FAST], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_quiet_env(), cwd=REPO)
    killed = None
    deadline = time.time() + 400
    try:
        # Kill one worker in the middle of a task: after the first results, while tasks are running.
        while proc.poll() is None and time.time() < deadline and killed is None:
            time.sleep(0.5)
            if len(list(out.rglob("*.json"))) < 2:
                continue
            for pid in _ray_task_pids():
                os.kill(pid, signal.SIGKILL)
                killed = pid
                break
        stdout, stderr = proc.communicate(timeout=max(10, deadline - time.time()))
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    assert killed is not None, "no running Ray task process was found to kill"
    assert "done 26" in stdout and "failed 1" in stdout, stdout
    assert "damaged.jpg" in stderr
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")], "a half-written file was left behind"
    cluster = _results(out)
    single = _results(single_out)
    assert set(cluster) == set(single) and len(cluster) == 26
    for name in single:
        assert cluster[name] == single[name], f"{name} differs between the cluster and one process"


def _ray_task_pids() -> list[int]:
    """Ray worker processes that are running our task (Ray names them after the function)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith("ray::_run_task"):
            pids.append(int(entry.name))
    return pids


def test_unreachable_cluster_address_is_a_clear_message(batch_inputs, tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:  # a local port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.time()
    proc = _infer([str(batch_inputs / "img_00.jpg"), "--out", str(tmp_path), "--cluster", f"127.0.0.1:{port}"], timeout=120)
    assert proc.returncode == 2
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in proc.stderr
    assert time.time() - t0 < 60


def test_cluster_without_ray_says_how_to_install(monkeypatch):
    from genhmr_app.pipeline import cluster

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    with pytest.raises(batch.BatchError, match=r"pip install \"genhmr-studio\[cluster\]\""):
        cluster.require_ray()


def test_workers_without_models_fail_their_items_with_the_reason(batch_inputs, tmp_path):
    """A node without the weights: each item fails with the loading error; nothing is written."""
    empty = tmp_path / "no_weights"
    empty.mkdir()
    proc = _infer([str(batch_inputs / "img_00.jpg"), "--out", str(tmp_path / "out")],
                  env=_quiet_env(GENHMR_WEIGHTS_DIR=str(empty)))
    assert proc.returncode == 2
    assert "cannot load the models" in proc.stderr and "is missing" in proc.stderr
    assert not list((tmp_path / "out").glob("*.json"))


def test_a_cluster_worker_without_models_fails_each_item_with_the_reason(monkeypatch):
    """On a Ray node the same loading error becomes each item's failure reason; the batch goes on."""
    from genhmr_app.pipeline import cluster
    from genhmr_app.pipeline.reconstructor import ReconstructionSettings

    def no_models(self):
        raise batch.BatchError("cannot load the models on this machine: Tokenizer weights not found: /x/pose_tokenizer.pt")

    monkeypatch.setattr(batch.TaskRunner, "_reconstructor", no_models)
    monkeypatch.setattr(cluster, "_RUNNERS", {})
    task = batch.Task((batch.WorkItem("/in/a.jpg", None, "a.json"), batch.WorkItem("/in/b.jpg", None, "b.json")))
    results = cluster._run_task(task, ReconstructionSettings(), "cpu", False)
    assert [r.item.output for r in results] == ["a.json", "b.json"]
    assert all(r.data is None and "Tokenizer weights not found" in r.error and r.error.startswith("worker on ")
               for r in results)


def test_a_full_disk_fails_the_writes_names_them_and_a_rerun_completes(tmp_path, monkeypatch):
    """ENOSPC on some writes: those items are reported, the others are kept, a rerun finishes the job."""
    import errno

    items = [batch.WorkItem(f"/in/{i}.jpg", None, f"{i}.json") for i in range(4)]
    results = [batch.ItemResult(it, data={"image": it.source, "people": []}) for it in items]
    real_write = batch._atomic_write_text

    def flaky(path: Path, text: str) -> None:
        if path.name in ("1.json", "3.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, text)

    monkeypatch.setattr(batch, "_atomic_write_text", flaky)
    summary = batch.Summary()
    batch.ResultSink(tmp_path, summary).add(results)
    assert summary.done == 2 and [n for n, _ in summary.failed] == ["1.jpg", "3.jpg"]
    assert all("No space left on device" in r for _, r in summary.failed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.json", "2.json"]
    monkeypatch.setattr(batch, "_atomic_write_text", real_write)
    todo, skipped = batch.pending(items, tmp_path)
    assert skipped == 2 and [t.output for t in todo] == ["1.json", "3.json"]


def test_output_folder_that_cannot_be_written(tmp_path):
    target = tmp_path / "file_not_folder"
    target.write_text("x")
    with pytest.raises(batch.BatchError, match="cannot write to the output folder"):
        batch.check_output_dir(target / "sub")
