"""Retrain the generator and the deterministic regressor on the GPU machine, with the same budget.

Issue 9 asks for the two models trained on the same inputs with the same budget. On this project's CPU
one generator step takes ~1 s (6,000 steps: 98 minutes, one thread), a regressor step ~0.1 s; on a GPU
the model's share of a step is milliseconds and the batch synthesis (~25 ms on one CPU thread) is what
is left. The device machine has no ../shared and no user cache, so what the trainers read travels in
the run's carry (64 MiB in all):

1. here, once:  .venv/bin/python scripts/device/train_on_device.py prepare [--detector-data DIR ...]
   fills runs/device_cache/ (git-ignored; hard links where it can): the pose cache the trainers draw
   from (mocap/smpl24_*.npz, ~11 MB) and as many detector-data folders as fit under --limit-mib, whole
   folders newest first (about 2.1 KB a sample: ~20,000 samples in 45 MiB);
2. on the device:  run(command="bash scripts/device/run_training.sh --steps 6000 --minutes 4",
                      carry=[".whl", "runs/device_cache"], timeout_s=600)
   trains the regressor, then the generator, each from its shipped weights with the shipped recipe
   (weights/genhmr/*.json "command"), the same steps, batch, seed and data, and writes under $OUT
   generator.pt / regressor.pt with their cards, each one's log.jsonl and summary.json;
3. here: `main.py validate --variant shipped= --variant g=weights=<files_at>/generator.pt ...` and the
   bench decide whether they replace the shipped weights (copy the card's figures into it).

A local smoke test of the same path, with the packages the GPU machine lacks refused:
    PYTHON=.venv/bin/python bash scripts/device/run_training.sh --device cpu --steps 2 --block-heavy
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from heavy import HeavyBlocker  # noqa: E402

CARRY_DIR = REPO / "runs" / "device_cache"
RUNS_DIR = REPO / "runs" / "device_runs"
# The shipped weights' recipe (weights/genhmr/generator.json and regressor.json, "command"): the
# regressor gets the same data, augmentation, steps, batch and seed; the generator's extra shares are
# how its own training works (its draws in view, self-conditioning), not more data.
SHARED_RECIPE = dict(lr=2e-4, real_share=0.4, augment="mirror,mix,fold:0.1,wide:0.3")
GENERATOR_RECIPE = dict(own_share=0.5, self_condition_share=0.5, unroll_share=0.5, latent_offset=True, aux_share=0.5)


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


def _size(paths) -> int:
    return sum(p.stat().st_size for p in paths)


def prepare(detector_data: list[Path] | None, limit_mib: float) -> int:
    """runs/device_cache/: the newest pose cache, then whole detector-data folders while they fit."""
    from genhmr_app.paths import user_cache_dir
    from genhmr_app.tokens.data import load_pose_splits

    try:
        meta = load_pose_splits()["meta_info"]  # builds the pose cache when ../shared has the mocap
    except FileNotFoundError as exc:
        print(f"no pose cache to carry: {exc}")
        return 1
    pose_cache = Path(meta["cache"])
    if CARRY_DIR.exists():
        shutil.rmtree(CARRY_DIR)
    _link_or_copy(pose_cache, CARRY_DIR / "mocap" / pose_cache.name)
    budget = limit_mib * 2**20 - pose_cache.stat().st_size
    folders = detector_data or sorted((user_cache_dir() / "detector_data").glob("*"), key=lambda p: p.stat().st_mtime,
                                      reverse=True)
    taken, left_out = [], []
    for folder in folders:
        files = sorted(folder.glob("chunk_*")) + sorted(p for p in folder.iterdir() if not p.name.startswith("chunk_")
                                                         and p.is_file())
        if not any(f.suffix == ".npz" for f in files):
            continue
        if _size(files) > budget:
            left_out.append(f"{folder.name} ({_size(files) / 2**20:.0f} MiB)")
            continue
        for f in files:
            _link_or_copy(f, CARRY_DIR / "detector_data" / folder.name / f.name)
        budget -= _size(files)
        taken.append(folder.name)
    total = _size(p for p in CARRY_DIR.rglob("*") if p.is_file())
    print(f"{CARRY_DIR.relative_to(REPO)}: pose cache {pose_cache.name}; detector data {taken or 'none'}; "
          f"{total / 2**20:.1f} MiB" + (f"; left out (over --limit-mib): {left_out}" if left_out else ""))
    if not taken:
        print("no detector data fits: run `main.py generate-detector-data` first, or raise --limit-mib")
        return 1
    return 0


def train_both(args: argparse.Namespace) -> int:
    import torch

    from genhmr_app.device import describe_device, resolve_device
    from genhmr_app.paths import user_cache_dir
    from genhmr_app.training.train_generator import GENERATOR_PATH, REGRESSOR_PATH, train

    out = Path(args.out or os.environ.get("OUT") or REPO / "runs" / "device_out")
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    if args.device.startswith("cuda") and device.type != "cuda":
        print(f"no CUDA device here (torch {torch.__version__}): refusing to train on the CPU by accident")
        return 1
    data = sorted(p for p in (user_cache_dir() / "detector_data").glob("*") if p.is_dir())
    if not data:
        print(f"no detector data under {user_cache_dir() / 'detector_data'} (carry runs/device_cache; see `prepare`)")
        return 1
    print(f"training on {describe_device(device)}; detector data {[p.name for p in data]}; torch {torch.__version__}",
          flush=True)
    summary: dict = {"device": describe_device(device), "detector_data": [p.name for p in data], "models": {}}
    for mode, init, recipe in (("regress", REGRESSOR_PATH, {}), ("generate", GENERATOR_PATH, GENERATOR_RECIPE)):
        name = "regressor" if mode == "regress" else "generator"
        run_dir = RUNS_DIR / f"{name}-s{args.seed}-{args.steps}"
        # The camera-frame joint loss, when asked, for both models alike (the comparison's same recipe).
        flags = {**SHARED_RECIPE, **recipe, "camera_loss": args.camera_loss}
        command = (f"python scripts/device/train_on_device.py train --device {args.device} --steps {args.steps} "
                   f"--batch {args.batch} --seed {args.seed} --minutes {args.minutes:g}"
                   + (" --from-scratch" if args.from_scratch else "") + f"  ({name}: {flags})")
        t0 = time.perf_counter()
        card = train(mode, args.steps, args.minutes, args.batch, args.seed, run_dir, out / f"{name}.pt",
                     width=128, layers=4, command=command, threads=args.threads, detector_data=data,
                     init=None if args.from_scratch else init, device=args.device, **flags)
        shutil.copy2(run_dir / "log.jsonl", out / f"{name}_log.jsonl")
        summary["models"][name] = {"steps_done": card["steps_done"], "train_time_s": card["train_time_s"],
                                   "wall_s": round(time.perf_counter() - t0, 1)}
        print(f"{name}: {card['steps_done']} steps in {card['train_time_s']} s", flush=True)
    steps = {m["steps_done"] for m in summary["models"].values()}
    summary["same_budget"] = len(steps) == 1
    if not summary["same_budget"]:
        print(f"NOTE: the time limit stopped one model early ({summary['models']}): the budgets differ")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="fill runs/device_cache for the run's carry")
    p.add_argument("--detector-data", type=Path, nargs="+", default=None, help="folders (default: the user cache's, newest first)")
    p.add_argument("--limit-mib", type=float, default=60.0, help="the carry holds 64 MiB in all, .whl included")
    t = sub.add_parser("train", help="train the regressor and the generator (the device side)")
    t.add_argument("--device", default="cuda")
    t.add_argument("--steps", type=int, default=6000)
    t.add_argument("--batch", type=int, default=96)
    t.add_argument("--seed", type=int, default=4)
    t.add_argument("--minutes", type=float, default=4.0, help="each model's wall-time limit (its weights are saved)")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads (the batch synthesis)")
    t.add_argument("--from-scratch", action="store_true", help="not from the shipped weights")
    t.add_argument("--camera-loss", type=float, default=0.0,
                   help="train-generator --camera-loss for both models (the twenty-ninth session: 10)")
    t.add_argument("--out", type=Path, default=None, help="default: $OUT, else runs/device_out")
    t.add_argument("--block-heavy", action="store_true", help="refuse the packages the GPU machine lacks (a local test)")
    args = ap.parse_args(argv)
    if args.command == "prepare":
        return prepare(args.detector_data, args.limit_mib)
    if args.block_heavy:
        sys.meta_path.insert(0, HeavyBlocker())
    return train_both(args)


if __name__ == "__main__":
    raise SystemExit(main())
