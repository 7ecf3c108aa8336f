"""`python main.py infer INPUTS... --out DIR [--cluster [ADDRESS]]`: one JSON per image or video frame.

Images, folders and video files (every frame) become `DIR/<image>.json` and
`DIR/<video>/frame_NNNNNN.json` (the contract in genhmr_app/export/contract.py). A second run skips
what is complete; a bad input is reported and skipped while the batch goes on; the summary at the end
lists what was done, skipped and failed, with reasons. With `--cluster` the same tasks run on Ray (a
local cluster on this machine, or the one at ADDRESS / $RAY_ADDRESS) with identical results.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm import tqdm

from genhmr_app.pipeline.batch import (
    BatchError,
    ResultSink,
    Summary,
    TaskRunner,
    check_output_dir,
    make_tasks,
    pending,
    plan_work,
    run_local,
    timed,
)
from genhmr_app.pipeline.reconstructor import ReconstructionSettings

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    d = ReconstructionSettings()
    ap = argparse.ArgumentParser(prog="main.py infer", description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="image files, video files or folders")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--iterations", type=int, default=d.iterations)
    ap.add_argument("--temperature", type=float, default=d.temperature)
    ap.add_argument("--refine-steps", type=int, default=d.refine_steps)
    ap.add_argument("--samples", type=int, default=d.hypotheses, help="hypotheses per person")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fov", type=float, default=d.vertical_fov_deg, help="vertical field of view in degrees (unknown intrinsics)")
    ap.add_argument("--max-people", type=int, default=d.max_people)
    ap.add_argument("--tracking-passes", type=int, default=d.tracking_passes,
                    help="MediaPipe tracking passes on each still image with one person: closer 2D keypoints, "
                         "~18 ms each (0: one look; videos are tracked anyway)")
    ap.add_argument("--save-vertices", action="store_true")
    ap.add_argument("--cluster", nargs="?", const="", default=None, metavar="ADDRESS",
                    help="run on Ray: a local cluster, or join ADDRESS (host:port, or $RAY_ADDRESS)")
    ap.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray cluster (with --cluster)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = ReconstructionSettings(args.iterations, args.temperature, args.refine_steps, args.samples, args.seed,
                                      vertical_fov_deg=args.fov, max_people=args.max_people,
                                      tracking_passes=args.tracking_passes)
    items, problems = plan_work(args.inputs)
    for msg in problems:
        print(f"skipped: {msg}", file=sys.stderr)
    try:
        check_output_dir(args.out)
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    todo, skipped = pending(items, args.out)
    summary = Summary(skipped=skipped)
    bar = tqdm(total=len(todo), desc="infer", unit="item", dynamic_ncols=True, file=sys.stderr)

    def tick() -> None:
        bar.update(1)
        bar.set_postfix(per_s=f"{summary.done / max(bar.format_dict['elapsed'], 1e-6):.2f}", failed=len(summary.failed))

    sink = ResultSink(args.out, summary, tick)
    tasks = make_tasks(todo)
    device = "cpu" if args.cluster is not None and args.device == "auto" else args.device
    try:
        if args.cluster is not None:
            from genhmr_app.pipeline.cluster import run_on_ray

            def started(cpus: int) -> None:
                summary.workers = cpus

            timed(lambda: run_on_ray(tasks, settings, device, args.save_vertices, sink, args.cluster or None,
                                     args.workers, started), summary)
        else:
            runner = TaskRunner(settings, args.device, args.save_vertices)
            try:
                timed(lambda: run_local(tasks, runner, sink), summary)
            finally:
                runner.close()
    except BatchError as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        print(summary.report())
        return 2
    bar.close()
    for name, reason in summary.failed:
        print(f"failed: {name}: {reason}", file=sys.stderr)
    print(summary.report())
    print(f"results in {args.out}")
    if not items:
        return 1 if problems else 0
    return 0 if summary.done + summary.skipped > 0 else 1
