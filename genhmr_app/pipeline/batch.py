"""Batch reconstruction: images, folders and videos → one JSON per image or per video frame.

The same plan and the same task function serve one process (`infer`) and a Ray cluster
(`infer --cluster`, see cluster.py), so both give identical results for the same seed and settings:
- `plan_work` lists every image and every video frame with its output name, and `make_tasks` groups
  them into tasks (consecutive frames of one video stay together so a task decodes them in order);
- `TaskRunner` loads the models once per process and turns a task into results; a bad input fails
  only its own item;
- the caller writes results atomically (temporary file, fsync, rename) and a second run skips every
  item whose JSON is already complete.
Every process uses one torch thread and the detector runs without time budgets: results must not
depend on how work is spread over processes or how busy a machine is (float sums differ with the
thread count; a budget cuts a search short on a slow machine), and the cores are used by running more
processes.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genhmr_app.export.safe_write import atomic_write_text as _atomic_write_text  # patched in tests
from genhmr_app.image.loading import IMAGE_SUFFIXES
from genhmr_app.image.sources import VIDEO_SUFFIXES
from genhmr_app.pipeline.reconstructor import ReconstructionSettings

log = logging.getLogger(__name__)

TASK_IMAGES = 4  # images per task: small enough to spread work, large enough to amortise scheduling
TASK_FRAMES = 8  # video frames per task


@dataclass(frozen=True)
class WorkItem:
    source: str  # image or video path
    frame: int | None  # video frame index, None for an image
    output: str  # JSON path relative to the output folder

    @property
    def name(self) -> str:
        return Path(self.source).name if self.frame is None else f"{Path(self.source).name}#frame{self.frame:06d}"


@dataclass(frozen=True)
class Task:
    items: tuple[WorkItem, ...]


@dataclass
class ItemResult:
    item: WorkItem
    data: dict | None = None  # the infer contract's JSON
    vertices: list[np.ndarray] | None = None  # per person, when --save-vertices
    error: str | None = None


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0  # already complete from an earlier run
    failed: list[tuple[str, str]] = field(default_factory=list)  # (item, reason)
    seconds: float = 0.0
    workers: int = 1

    @property
    def items_per_s(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def report(self) -> str:
        lines = [f"done {self.done}, skipped {self.skipped} (already complete), failed {len(self.failed)}; "
                 f"{self.seconds:.1f} s, {self.items_per_s:.2f} items/s with {self.workers} worker(s)"]
        lines += [f"  failed: {name}: {reason}" for name, reason in self.failed[:50]]
        if len(self.failed) > 50:
            lines.append(f"  ... and {len(self.failed) - 50} more")
        return "\n".join(lines)


class BatchError(Exception):
    """The batch cannot run at all (models, output folder, cluster); per-item problems are not this."""


# --- the plan --------------------------------------------------------------------------------------------

def video_frame_count(path: Path) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()


def plan_work(inputs: Iterable[str]) -> tuple[list[WorkItem], list[str]]:
    """Every image and video frame under `inputs`, in a stable order, and the inputs that gave nothing."""
    items: list[WorkItem] = []
    problems: list[str] = []
    suffixes = set(IMAGE_SUFFIXES) | set(VIDEO_SUFFIXES)
    for entry in inputs:
        p = Path(entry)
        if p.is_dir():
            files = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in suffixes)
            if not files:
                problems.append(f"{p}: no images or videos in this folder")
        elif p.is_file():
            files = [p]
        else:
            problems.append(f"{p}: not found")
            continue
        for f in files:
            if f.suffix.lower() in VIDEO_SUFFIXES:
                n = video_frame_count(f)
                if n <= 0:
                    problems.append(f"{f}: not a readable video")
                items.extend(WorkItem(str(f), i, f"{f.stem}/frame_{i:06d}.json") for i in range(n))
            else:
                items.append(WorkItem(str(f), None, f"{f.stem}.json"))
    return items, problems


def make_tasks(items: list[WorkItem], images_per_task: int = TASK_IMAGES,
               frames_per_task: int = TASK_FRAMES) -> list[Task]:
    tasks: list[Task] = []
    current: list[WorkItem] = []

    def flush() -> None:
        if current:
            tasks.append(Task(tuple(current)))
            current.clear()

    for item in items:
        if current:
            prev = current[-1]
            same_video = item.frame is not None and prev.source == item.source and prev.frame == item.frame - 1
            kind_changed = (item.frame is None) != (prev.frame is None)
            full = len(current) >= (frames_per_task if item.frame is not None else images_per_task)
            if kind_changed or full or (item.frame is not None and not same_video):
                flush()
        current.append(item)
    flush()
    return tasks


def is_complete(out_dir: Path, item: WorkItem) -> bool:
    """A result counts as done only when its JSON parses and is the contract's (a half-written file can't)."""
    path = out_dir / item.output
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "people" in data and "image" in data


# --- running -----------------------------------------------------------------------------------------------

class TaskRunner:
    """Models load once per process (on the first task); each item is independent and seeded."""

    def __init__(self, settings: ReconstructionSettings, device: str = "cpu", save_vertices: bool = False) -> None:
        self.settings = settings
        self.device = device
        self.save_vertices = save_vertices
        self._recon = None

    def _reconstructor(self):
        if self._recon is None:
            import torch

            from genhmr_app.pipeline.reconstructor import Reconstructor

            torch.set_num_threads(1)
            try:
                self._recon = Reconstructor(device=self.device, time_budgets=False)
            except Exception as exc:  # noqa: BLE001 - every loading failure is the same story for the user
                raise BatchError(f"cannot load the models on this machine: {exc}") from exc
        return self._recon

    def close(self) -> None:
        if self._recon is not None:
            self._recon.close()
            self._recon = None

    def run(self, task: Task) -> list[ItemResult]:
        from genhmr_app.export.contract import reconstruction_to_dict

        recon = self._reconstructor()
        results = []
        for item, rgb, error in _read_items(task.items):
            if error is not None:
                results.append(ItemResult(item, error=error))
                continue
            try:
                path = Path(item.source) if item.frame is None else None
                out = recon.run(rgb, self.settings, image_path=path)
                npz = [f"{Path(item.output).stem}_person{i}_vertices.npz" for i in range(len(out.people))] \
                    if self.save_vertices else None
                results.append(ItemResult(
                    item, data=reconstruction_to_dict(out, item.name, npz),
                    vertices=[p.vertices for p in out.people] if self.save_vertices else None))
            except Exception as exc:  # noqa: BLE001 - one bad input must not stop the batch
                log.warning("%s failed: %s", item.name, exc)
                results.append(ItemResult(item, error=f"{type(exc).__name__}: {exc}"))
        return results


def _read_items(items: tuple[WorkItem, ...]):
    """(item, rgb, error) for each item; a task's video frames are decoded in order from one capture."""
    from genhmr_app.image.loading import ImageLoadError, load_image

    cap = None
    next_frame = None
    try:
        for item in items:
            if item.frame is None:
                try:
                    yield item, load_image(Path(item.source)).rgb, None
                except ImageLoadError as exc:
                    yield item, None, str(exc)
                except OSError as exc:
                    yield item, None, f"cannot read {item.source}: {exc}"
                continue
            import cv2

            if cap is None:
                cap = cv2.VideoCapture(item.source)
                if not cap.isOpened():
                    cap = None
                    yield item, None, f"cannot open video {item.source}"
                    continue
                cap.set(cv2.CAP_PROP_POS_FRAMES, item.frame)
                next_frame = item.frame
            while next_frame is not None and next_frame < item.frame:  # skip to the wanted frame
                cap.grab()
                next_frame += 1
            ok, bgr = cap.read()
            next_frame = item.frame + 1
            if not ok or bgr is None or bgr.size == 0:
                yield item, None, f"frame {item.frame} of {Path(item.source).name} could not be decoded"
                continue
            yield item, np.ascontiguousarray(bgr[..., ::-1]), None
    finally:
        if cap is not None:
            cap.release()


def write_result(out_dir: Path, result: ItemResult) -> None:
    """Atomic and durable; the vertices first, so a JSON never names a file that is not there yet."""
    from genhmr_app.export.contract import write_vertices_npz

    target = out_dir / result.item.output
    target.parent.mkdir(parents=True, exist_ok=True)
    for i, verts in enumerate(result.vertices or []):
        write_vertices_npz(verts, target.with_name(f"{target.stem}_person{i}_vertices.npz"))
    _atomic_write_text(target, json.dumps(result.data, indent=1))


def pending(items: list[WorkItem], out_dir: Path) -> tuple[list[WorkItem], int]:
    todo = [it for it in items if not is_complete(out_dir, it)]
    return todo, len(items) - len(todo)


class ResultSink:
    """Writes results as they arrive, counts them, and keeps going when the disk fills up: the
    failed items are named and a rerun after freeing space completes them."""

    def __init__(self, out_dir: Path, summary: Summary, on_item: Callable[[], None] | None = None) -> None:
        self.out_dir, self.summary, self.on_item = out_dir, summary, on_item

    def add(self, results: list[ItemResult]) -> None:
        for r in results:
            if r.error is not None:
                self.summary.failed.append((r.item.name, r.error))
            else:
                try:
                    write_result(self.out_dir, r)
                    self.summary.done += 1
                except OSError as exc:
                    reason = exc.strerror or str(exc)
                    self.summary.failed.append((r.item.name, f"could not write {r.item.output}: {reason}"))
            if self.on_item:
                self.on_item()


def run_local(tasks: list[Task], runner: TaskRunner, sink: ResultSink) -> None:
    for task in tasks:
        sink.add(runner.run(task))


def check_output_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise BatchError(f"cannot write to the output folder {out_dir}: {exc.strerror or exc}") from exc


def timed(fn: Callable[[], None], summary: Summary) -> None:
    start = time.perf_counter()
    try:
        fn()
    finally:
        summary.seconds = time.perf_counter() - start
