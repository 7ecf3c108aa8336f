"""Train the pose tokenizer: `python main.py train-tokenizer [--steps N] [--tokens K] [--codes C] ...`.

Seeded, resumable (checkpoint every `--ckpt-every` steps in the run folder), with a tqdm bar and a
JSON-lines log of losses and codebook perplexity/usage. The final weights and a JSON card go to
`--out` (default weights/tokenizer/pose_tokenizer.pt).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from genhmr_app.device import describe_device, resolve_device
from genhmr_app.mocap.augment import JointLimits, fold_legs, mirror, mix_parts, wide_limbs
from genhmr_app.paths import REPO_ROOT, WEIGHTS_DIR
from genhmr_app.tokens.data import load_pose_splits, rest_body
from genhmr_app.tokens.model import PoseTokenizer, TokenizerConfig, save_tokenizer
from genhmr_app.training.loop import optimisation_step, restore_training_state, save_training_state

log = logging.getLogger(__name__)

DEFAULT_OUT = WEIGHTS_DIR / "tokenizer" / "pose_tokenizer.pt"


@dataclass
class TrainConfig:
    steps: int = 6000
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    w_rot: float = 1.0
    w_joints: float = 20.0  # metres → a 1 cm joint error costs as much as 0.2 in rotmat MSE units
    w_verts: float = 20.0
    w_commit: float = 0.25
    p_mirror: float = 0.5
    p_mix: float = 0.25
    p_perturb: float = 0.25
    p_fold: float = 0.15  # with "fold": legs folded (sitting, squatting, kneeling; mocap/augment.fold_legs)
    p_wide: float = 0.25  # with "wide": limbs drawn anywhere inside the joint limits (mocap/augment.wide_limbs)
    seed: int = 0
    splits: str = "train"  # "train" or "all" (train+val+test+heldout, for the shipped weights)
    augment: str = "mirror,mix,perturb"
    vertex_subset: int = 512  # vertices in the vertex loss (a fixed random subset of the mesh)
    threads: int = 0  # 0: torch's default


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def augment_kinds(augment: str) -> dict[str, float | None]:
    """'mirror,mix,wide:0.5' → {"mirror": None, "mix": None, "wide": 0.5}: each kind with the share of
    poses it applies to, None for TrainConfig's default."""
    kinds: dict[str, float | None] = {}
    for item in filter(None, augment.split(",")):
        name, _, share = item.partition(":")
        kinds[name] = float(share) if share else None
    return kinds


def augment_batch(pose: torch.Tensor, cfg: TrainConfig, limits: JointLimits | None, gen: torch.Generator) -> torch.Tensor:
    kinds = augment_kinds(cfg.augment)
    b = pose.shape[0]

    def chosen(kind: str, default: float) -> torch.Tensor:
        share = kinds[kind] if kinds[kind] is not None else default
        return (torch.rand(b, generator=gen) < share)[:, None, None, None]

    if "mirror" in kinds:
        pose = torch.where(chosen("mirror", cfg.p_mirror), mirror(pose), pose)
    if "mix" in kinds:
        pose = torch.where(chosen("mix", cfg.p_mix), mix_parts(pose, gen), pose)
    if "perturb" in kinds and limits is not None:
        pose = torch.where(chosen("perturb", cfg.p_perturb), limits.perturb(pose, generator=gen), pose)
    if "fold" in kinds:
        pose = torch.where(chosen("fold", cfg.p_fold), fold_legs(pose, gen), pose)
    if "wide" in kinds:
        pose = torch.where(chosen("wide", cfg.p_wide), wide_limbs(pose, gen), pose)
    return pose


def posed_points(body, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Joints and vertex subset of the mean-shape body in this pose, root at the origin."""
    out = body(torch.eye(3, device=pose.device).expand(pose.shape[0], 3, 3), pose)
    root = out.joints[:, :1]
    return out.joints - root, out.vertices - root


def tokenizer_losses(model: PoseTokenizer, body, pose: torch.Tensor, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    out = model(pose)
    j_pred, v_pred = posed_points(body, out.body_pose)
    with torch.no_grad():
        j_true, v_true = posed_points(body, pose)
    losses = {
        "rot": F.mse_loss(out.body_pose, pose),
        "joints": (j_pred - j_true).norm(dim=-1).mean(),
        "verts": (v_pred - v_true).norm(dim=-1).mean(),
        "commit": out.commitment_loss,
    }
    losses["total"] = (cfg.w_rot * losses["rot"] + cfg.w_joints * losses["joints"]
                       + cfg.w_verts * losses["verts"] + cfg.w_commit * losses["commit"])
    losses["perplexity"] = out.perplexity.detach()
    losses["_indices"] = out.indices.detach()
    return losses


def train(model_cfg: TokenizerConfig, cfg: TrainConfig, run_dir: Path, out_path: Path | None,
          command: str = "", show_progress: bool = True, device: str = "auto") -> dict:
    """`device` (resolve_device: "auto" is CUDA when torch sees one): where the model and the body model
    run; the poses are drawn and augmented on the CPU with the seeded generator, then moved there."""
    seed_everything(cfg.seed)
    train_device = resolve_device(device)
    if cfg.threads:
        # One thread degrades gracefully when other jobs share the CPU; two spin-wait on each other.
        torch.set_num_threads(cfg.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    splits = load_pose_splits()
    train_names = ["train"] if cfg.splits == "train" else [s for s in splits if s != "meta"]
    data = torch.cat([splits[s] for s in train_names])
    log.info("training %s on %d poses (%s)", model_cfg.name, len(data), "+".join(train_names))
    body = rest_body(extra_vertices=cfg.vertex_subset).to(train_device)
    limits = JointLimits.from_data(data) if "perturb" in augment_kinds(cfg.augment) else None

    model = PoseTokenizer(model_cfg).to(train_device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(cfg.seed)
    ckpt_path = run_dir / "checkpoint.pt"
    step = 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False, map_location="cpu")  # resumable on another device
        same = lambda a, b: {k: v for k, v in a.items() if k != "threads"} == {k: v for k, v in b.items() if k != "threads"}  # noqa: E731
        if ckpt["model_cfg"] == asdict(model_cfg) and same(ckpt["train_cfg"], asdict(cfg)):
            step = restore_training_state(ckpt, model, opt, sched, gen)
            log.info("resumed from step %d", step)
        else:
            log.warning("checkpoint in %s is from another configuration; starting over", run_dir)

    log_file = (run_dir / "log.jsonl").open("a")
    usage = torch.zeros(model_cfg.codebook_size)
    model.train()
    start = time.time()
    bar = tqdm(total=cfg.steps, initial=step, disable=not show_progress, desc=model_cfg.name, dynamic_ncols=True)
    while step < cfg.steps:
        idx = torch.randint(0, len(data), (cfg.batch,), generator=gen)
        pose = augment_batch(data[idx], cfg, limits, gen)
        losses = tokenizer_losses(model, body, pose.to(train_device), cfg)
        optimisation_step(losses["total"], model, opt, sched, step=step)
        step += 1
        usage += torch.bincount(losses["_indices"].reshape(-1).cpu(), minlength=model_cfg.codebook_size)
        bar.update(1)
        if step % 100 == 0 or step == cfg.steps:
            record = {k: float(v) for k, v in losses.items() if not k.startswith("_")}
            record.update(step=step, lr=sched.get_last_lr()[0], usage=float((usage > 0).float().mean()),
                          elapsed_s=round(time.time() - start, 1))
            usage.zero_()
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
            bar.set_postfix(mpjpe_mm=f"{record['joints'] * 1000:.1f}", ppl=f"{record['perplexity']:.0f}",
                            use=f"{record['usage']:.2f}")
        if step % 500 == 0 or step == cfg.steps:
            save_training_state(ckpt_path, model, opt, sched, gen, step,
                                model_cfg=asdict(model_cfg), train_cfg=asdict(cfg))
    bar.close()
    log_file.close()
    model.eval()
    card = {
        "model": "GenHMR pose tokenizer (VQ-VAE, EMA codebook)",
        "config": asdict(model_cfg),
        "training": asdict(cfg),
        "data": {"splits": train_names, "poses": len(data), "meta": splits.get("meta_info", {})},
        "train_time_s": round(time.time() - start, 1),
        "device": describe_device(train_device),
        "date": dt.date.today().isoformat(),
        "command": command,
        "licence": "Trained on Bandai-Namco (CC BY-NC 4.0) and CMU motion capture: non-commercial use only.",
    }
    model.cpu()  # saved loadable without the device
    save_tokenizer(model, run_dir / "final.pt")
    if out_path is not None:
        save_tokenizer(model, out_path, card)
    return card


def build_argparser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="main.py train-tokenizer", description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=TokenizerConfig.num_tokens)
    p.add_argument("--codes", type=int, default=TokenizerConfig.codebook_size)
    p.add_argument("--code-dim", type=int, default=TokenizerConfig.code_dim)
    p.add_argument("--hidden", type=int, default=TokenizerConfig.hidden)
    p.add_argument("--depth", type=int, default=TokenizerConfig.depth)
    p.add_argument("--levels", type=int, default=TokenizerConfig.levels, help="residual quantisation levels")
    p.add_argument("--parts", action="store_true", help="part-local encoders (torso, legs, arms)")
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--batch", type=int, default=TrainConfig.batch)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--commit", type=float, default=TrainConfig.w_commit, help="commitment loss weight")
    p.add_argument("--splits", choices=["train", "all"], default="train")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--device", default="auto",
                   help="where the model trains: auto (CUDA when torch sees one, else the CPU), cpu, cuda, cuda:N")
    p.add_argument("--augment", default=TrainConfig.augment,
                   help="comma list of mirror,mix,perturb,fold,wide, each optionally :share ('' for none)")
    p.add_argument("--run-dir", type=Path, default=None, help="checkpoints and log (default runs/tokenizer/<config>)")
    p.add_argument("--out", type=Path, default=None, help=f"final weights (default {DEFAULT_OUT.relative_to(REPO_ROOT)}); 'none' to skip")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_argparser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model_cfg = TokenizerConfig(args.tokens, args.codes, args.code_dim, args.hidden, args.depth, args.levels, args.parts)
    cfg = TrainConfig(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, splits=args.splits,
                      augment=args.augment, threads=args.threads, w_commit=args.commit)
    aug_tag = args.augment.replace(",", "+").replace(":", "") or "noaug"
    run_dir = args.run_dir or REPO_ROOT / "runs" / "tokenizer" / f"{model_cfg.name}-{aug_tag}-{args.splits}-c{args.commit}-s{args.seed}-{args.steps}"
    out = DEFAULT_OUT if args.out is None else (None if str(args.out).lower() == "none" else args.out)
    command = "python main.py train-tokenizer " + shlex.join(argv if argv is not None else sys.argv[1:])
    card = train(model_cfg, cfg, run_dir, out, command=command, device=args.device)
    print(json.dumps({k: card[k] for k in ("config", "train_time_s")}, indent=2))
    return 0
