"""Measure pose tokenizers: `python main.py eval-tokenizer [--train-configs ...] [--ablate-augment]`.

For each configuration: reconstruction MPJPE and PVE (mm, full body-model forward, root-aligned) and
mean per-joint angle error (degrees) on the validation, test and held-out-content poses; codebook usage
and perplexity; encode + decode time per pose on the CPU. `--train-configs` first trains each listed
configuration for `--steps` steps on the train split (seeded, runs/tokenizer/...), so the whole
comparison is reproducible from one command. The table is printed and written as Markdown.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import roma
import torch

from genhmr_app.body.model import load_body_model
from genhmr_app.paths import REPO_ROOT
from genhmr_app.tokens.data import load_pose_splits
from genhmr_app.tokens.model import PoseTokenizer, TokenizerConfig, load_tokenizer
from genhmr_app.tokens.train import DEFAULT_OUT, TrainConfig, train

log = logging.getLogger(__name__)
EVAL_SPLITS = ("val", "test", "heldout")


def parse_config(text: str) -> TokenizerConfig:
    """'K16-C512', 'K16-C512-D32', 'K40-C512-L2-parts' or with -H<hidden> → TokenizerConfig."""
    fields = text.split("-")
    parts = {p[0]: int(p[1:]) for p in fields if p != "parts"}
    return TokenizerConfig(num_tokens=parts["K"], codebook_size=parts["C"], code_dim=parts.get("D", TokenizerConfig.code_dim),
                           hidden=parts.get("H", TokenizerConfig.hidden), levels=parts.get("L", 1),
                           parts="parts" in fields)


@torch.no_grad()
def reconstruction_metrics(model: PoseTokenizer, body, poses: torch.Tensor, max_poses: int = 2000, seed: int = 0) -> dict:
    if len(poses) > max_poses:
        poses = poses[torch.randperm(len(poses), generator=torch.Generator().manual_seed(seed))[:max_poses]]
    mpjpe, pve, angle = [], [], []
    counts = torch.zeros(model.config.codebook_size)
    eye = torch.eye(3)
    for chunk in poses.split(250):
        idx = model.encode(chunk)
        rec = model.decode(idx)
        counts += torch.bincount(idx.reshape(-1), minlength=model.config.codebook_size)
        go = eye.expand(len(chunk), 3, 3)
        a, b = body.forward(go, chunk), body.forward(go, rec)
        ra, rb = a.joints[:, :1], b.joints[:, :1]
        mpjpe.append(((a.joints - ra) - (b.joints - rb)).norm(dim=-1).mean(1))
        pve.append(((a.vertices - ra) - (b.vertices - rb)).norm(dim=-1).mean(1))
        angle.append(torch.rad2deg(roma.rotmat_geodesic_distance(chunk, rec)).mean(1))
    p = counts / counts.sum()
    return {
        "n": len(poses),
        "mpjpe_mm": float(torch.cat(mpjpe).mean() * 1000),
        "pve_mm": float(torch.cat(pve).mean() * 1000),
        "angle_deg": float(torch.cat(angle).mean()),
        "usage": float((counts > 0).float().mean()),
        "perplexity": float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum())),
    }


@torch.no_grad()
def codec_time_ms(model: PoseTokenizer, poses: torch.Tensor, repeats: int = 200) -> float:
    times = []
    for i in range(repeats):
        pose = poses[i % len(poses)][None]
        t = time.perf_counter()
        model.decode(model.encode(pose))
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times[10:])


def evaluate(model: PoseTokenizer, label: str, body, splits: dict) -> dict:
    row = {"config": label, "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 2)}
    for s in EVAL_SPLITS:
        row[s] = reconstruction_metrics(model, body, splits[s])
    usage_all = reconstruction_metrics(model, body, torch.cat([splits[s] for s in EVAL_SPLITS]), max_poses=6000)
    row["usage"], row["perplexity"] = usage_all["usage"], usage_all["perplexity"]
    row["codec_ms"] = codec_time_ms(model, splits["test"])
    return row


def markdown_table(rows: list[dict]) -> str:
    head = ("| config | val MPJPE / PVE / angle | test MPJPE / PVE / angle | held-out MPJPE / PVE / angle "
            "| usage | perplexity | enc+dec ms | params M |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        cells = [f"{r[s]['mpjpe_mm']:.1f} / {r[s]['pve_mm']:.1f} / {r[s]['angle_deg']:.1f}°" for s in EVAL_SPLITS]
        lines.append(f"| {r['config']} | " + " | ".join(cells)
                     + f" | {r['usage'] * 100:.0f}% | {r['perplexity']:.0f} | {r['codec_ms']:.2f} | {r['params_M']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="main.py eval-tokenizer", description=__doc__.splitlines()[0])
    p.add_argument("--train-configs", default="", help="comma list like K8-C256,K16-C512 to train and compare")
    p.add_argument("--ablate-augment", default="", help="config to retrain with each augmentation set, e.g. K16-C512")
    p.add_argument("--augment", default=TrainConfig.augment,
                   help="augmentations for --train-configs: comma list of mirror,mix,perturb,fold,wide, "
                        "each optionally :share ('' for none)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shipped", action="store_true", help="also evaluate weights/tokenizer/pose_tokenizer.pt")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "tokenizer_eval.md")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.manual_seed(args.seed)
    splits = load_pose_splits()
    body = load_body_model()
    rows: list[dict] = []
    sections: list[str] = []

    def run(cfg: TokenizerConfig, augment: str, label: str) -> None:
        tcfg = TrainConfig(steps=args.steps, seed=args.seed, augment=augment, threads=args.threads)
        tag = augment.replace(",", "+").replace(":", "") or "noaug"
        run_dir = REPO_ROOT / "runs" / "tokenizer" / f"{cfg.name}-{tag}-train-s{args.seed}-{args.steps}"
        if not (run_dir / "final.pt").exists():
            train(cfg, tcfg, run_dir, None, command="eval-tokenizer")
        rows.append(evaluate(load_tokenizer(run_dir / "final.pt"), label, body, splits))
        print(json.dumps(rows[-1]), flush=True)

    if args.train_configs:
        for name in args.train_configs.split(","):
            cfg = parse_config(name)
            run(cfg, args.augment, cfg.name + ("" if args.augment == TrainConfig.augment else f" aug={args.augment or 'none'}"))
        sections.append(f"### Configurations ({args.steps} steps each, augmentations {args.augment or 'none'}, "
                        f"seed {args.seed})\n\n"
                        + markdown_table(rows))
    if args.ablate_augment:
        start = len(rows)
        cfg = parse_config(args.ablate_augment)
        for aug in ("", "mirror", "mirror,mix", "mirror,mix,perturb", "mirror,mix,perturb,fold",
                    "mirror,mix,perturb,wide:0.5"):
            run(cfg, aug, f"{cfg.name} aug={aug or 'none'}")
        sections.append(f"### Augmentation ablation ({cfg.name}, {args.steps} steps)\n\n" + markdown_table(rows[start:]))
    if args.shipped:
        model = load_tokenizer(DEFAULT_OUT)
        card = json.loads(DEFAULT_OUT.with_suffix(".json").read_text()) if DEFAULT_OUT.with_suffix(".json").exists() else {}
        rows.append(evaluate(model, f"shipped {model.config.name}", body, splits))
        sections.append(f"### Shipped weights ({card.get('command', '?')})\n\n" + markdown_table(rows[-1:]))
    text = "\n\n".join(sections)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(f"# Pose tokenizer measurements\n\nCommand: `python main.py eval-tokenizer {' '.join(argv or [])}`\n"
                        f"Frames per split: {splits['meta_info']['frames']}\n\n{text}\n")
    return 0
