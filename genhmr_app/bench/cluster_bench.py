"""`python main.py bench-cluster [--images N] [--workers 2]`: batch throughput, one process vs Ray.

Runs the same images through `infer`'s task path twice: in this process (one torch thread, as the
batch always uses) and on a local Ray cluster with `--workers` worker processes. Prints images per
second for each, both steady-state (from the first finished image to the last, which is what a long
batch sees) and end to end (with start-up and model loading), and the scaling per added worker.
Images: the shared photos (or --folder), repeated under new names up to --images.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from genhmr_app.paths import shared_data_dir
from genhmr_app.pipeline.batch import ResultSink, Summary, TaskRunner, make_tasks, plan_work, run_local
from genhmr_app.pipeline.reconstructor import ReconstructionSettings


def _stage_images(folder: Path, count: int, into: Path) -> None:
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise SystemExit(f"no images in {folder}")
    for i in range(count):
        src = photos[i % len(photos)]
        shutil.copy(src, into / f"img_{i:03d}{src.suffix.lower()}")


def _measure(run, n: int) -> dict:
    stamps: list[float] = []
    summary = Summary()
    t0 = time.perf_counter()
    run(summary, lambda: stamps.append(time.perf_counter()))
    total = time.perf_counter() - t0
    steady = (n - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
    return {"images": summary.done, "failed": len(summary.failed), "end_to_end_s": round(total, 2),
            "end_to_end_per_s": round(summary.done / total, 3), "steady_per_s": round(steady, 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="main.py bench-cluster", description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--folder", type=Path, default=None, help="images to use (default: the shared photos)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    folder = args.folder or shared_data_dir() / "images" / "photos"
    settings = ReconstructionSettings()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        (tmp_path / "in").mkdir()
        _stage_images(folder, args.images, tmp_path / "in")
        items, _ = plan_work([str(tmp_path / "in")])
        tasks = make_tasks(items)

        def single(summary: Summary, tick) -> None:
            runner = TaskRunner(settings, "cpu")
            try:
                run_local(tasks, runner, ResultSink(tmp_path / "out1", summary, tick))
            finally:
                runner.close()

        def cluster(summary: Summary, tick) -> None:
            from genhmr_app.pipeline.cluster import run_on_ray

            run_on_ray(tasks, settings, "cpu", False, ResultSink(tmp_path / "out2", summary, tick), None, args.workers)

        one = _measure(single, len(items))
        print("1 process:", json.dumps(one), flush=True)
        many = _measure(cluster, len(items))
        print(f"Ray, {args.workers} workers:", json.dumps(many), flush=True)
    speedup = many["steady_per_s"] / one["steady_per_s"] if one["steady_per_s"] else 0.0
    per_worker = speedup / args.workers
    result = {"one_process": one, "cluster": many, "workers": args.workers, "steady_speedup": round(speedup, 2),
              "efficiency_per_worker": round(per_worker, 2)}
    print(f"\nimages/s, steady state: 1 process {one['steady_per_s']:.2f}, Ray with {args.workers} workers "
          f"{many['steady_per_s']:.2f} ({speedup:.2f}x, {per_worker:.0%} of a process per worker)")
    print(f"images/s, end to end:   1 process {one['end_to_end_per_s']:.2f}, Ray {many['end_to_end_per_s']:.2f} "
          f"(Ray's start-up and per-worker model loading included)")
    print(f"Expect about {one['steady_per_s'] * per_worker:.2f} images/s more per added worker (one CPU each) "
          f"on machines like this one, while the driver keeps up.")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
