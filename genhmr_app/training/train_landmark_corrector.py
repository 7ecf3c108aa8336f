"""Train the landmark corrector (detection/landmark_correction.py) on the detector data.

Each detector-data sample pairs what MediaPipe reported on a render with the pose, shape and camera
it was rendered from. The target is where the detector would have put each landmark had it been right:
the true body's keypoints carrying the landmark placement (detection/placement.py), projected. The
network predicts the shift from MediaPipe's landmark to that point (in person-box units) and a spread
per landmark, trained together by the negative log-likelihood of a 2D Laplace-like error
(|error| / spread + 2 log spread), which keeps the shift robust to the detector's gross mistakes and
teaches the spread to say which landmarks those are. Every sample also trains mirrored (left and right
swapped, x flipped): the detector has no side of its own.

Every tenth block of 1,000 samples is held out (a chunk's sequences stay on one side); the card and
the log give the limb landmarks' 2D error on them before and after.

    python main.py train-landmark-corrector [--data FOLDER ...] [--epochs 40] [--seed 0]

Checkpointed every epoch to the user cache; a rerun with the same settings resumes there. A non-finite
loss stops the run and keeps the last good checkpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from genhmr_app.body.model import load_body_model
from genhmr_app.conditioning.camera import project
from genhmr_app.detection.landmark_correction import (CORRECTOR_PATH, LIMB_LANDMARKS, MAX_SHIFT, CorrectorConfig,
                                                      CorrectorNet, INPUT_SETS, LandmarkCorrector, corrector_features,
                                                      mirror_landmarks, person_frame)
from genhmr_app.detection.placement import LandmarkPlacement
from genhmr_app.paths import REPO_ROOT, user_cache_dir
from genhmr_app.training.detector_data import DetectorDataError, load_detector_datasets

log = logging.getLogger(__name__)

DEFAULT_LOG = REPO_ROOT / "docs" / "training_logs" / "landmark_corrector.jsonl"
BLOCK = 1000
HOLDOUT_EVERY = 10
LIMBS = list(LIMB_LANDMARKS)


class TrainingStopped(RuntimeError):
    """Training met a non-finite loss; the last good checkpoint is kept."""


def placed_truth_px(data: dict[str, np.ndarray], placement: LandmarkPlacement | None, batch: int = 2048) -> np.ndarray:
    """(N, 33, 2) px: the true bodies' MediaPipe keypoints where the detector puts them, projected."""
    body = load_body_model()
    sparse = placement.keypoint_body(body) if placement is not None else None
    out = []
    for i in range(0, len(data["focal"]), batch):
        t = {k: torch.as_tensor(data[k][i:i + batch], dtype=torch.float32)
             for k in ("global_orient", "body_pose", "betas", "transl", "focal", "image_wh")}
        with torch.no_grad():
            if sparse is not None:
                points = sparse.mediapipe33(t["global_orient"], t["body_pose"], t["betas"], t["transl"])
                out.append(project(points, t["focal"], t["image_wh"]).numpy())
            else:  # no placement: the body's own keypoints, as rendered
                out.append(data["truth_px"][i:i + batch])
    return np.concatenate(out).astype(np.float32)


def training_arrays(det_px, det_z, visibility, presence, world, target_px) -> tuple[np.ndarray, np.ndarray]:
    """Features (B, F) and target shifts (B, 66) in person-box units."""
    _, scale = person_frame(det_px)
    shift = ((target_px - det_px) / scale).clip(-MAX_SHIFT, MAX_SHIFT)
    return corrector_features(det_px, det_z, visibility, presence, world), shift.reshape(len(det_px), -1).astype(np.float32)


def mirrored(det_px, det_z, visibility, presence, world, target_px, image_wh):
    """The same samples as seen in a mirror: x → width − x, world x negated, left and right swapped."""
    def flip_px(px):
        px = mirror_landmarks(px)
        px[..., 0] = image_wh[:, None, 0] - px[..., 0]
        return px
    world = mirror_landmarks(world)
    world[..., 0] *= -1
    swap = lambda a: mirror_landmarks(a[..., None])[..., 0]  # noqa: E731
    return flip_px(det_px), swap(det_z), swap(visibility), swap(presence), world, flip_px(target_px)


def limb_errors_px(nets: list[CorrectorNet], det, target) -> tuple[float, float, float, float]:
    """Held-out limb landmarks: mean and median px error of MediaPipe's and of the corrected points (the
    nets' mean shift)."""
    features = torch.from_numpy(corrector_features(*det))
    with torch.no_grad():  # as LandmarkCorrector.predict, without freezing a net still in training
        shift = torch.stack([net(features)[0] for net in nets]).mean(0)
    _, scale = person_frame(det[0])
    corrected = det[0] + shift.numpy() * scale
    before = np.linalg.norm(det[0] - target, axis=-1)[:, LIMBS]
    after = np.linalg.norm(corrected - target, axis=-1)[:, LIMBS]
    return float(before.mean()), float(after.mean()), float(np.median(before)), float(np.median(after))


def nll(shift: torch.Tensor, log_spread: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over landmarks of |error| / spread + 2 log spread (a 2D Laplace-like likelihood)."""
    error = (shift - target.reshape(shift.shape)).norm(dim=-1)
    return (error * torch.exp(-log_spread) + 2 * log_spread).mean()


KEYS = ("det_px", "det_z", "visibility", "presence", "world")


def held_out(samples: int, block: int = BLOCK) -> np.ndarray:
    """(samples,) bool: every HOLDOUT_EVERY-th block of `block` samples."""
    return (np.arange(samples) // block) % HOLDOUT_EVERY == 0


def train(data: dict[str, np.ndarray], target_px: np.ndarray, config: CorrectorConfig, epochs: int, batch: int,
          lr: float, seed: int, checkpoint: Path, log_path: Path | None, block: int = BLOCK) -> CorrectorNet:
    """One member, trained from `seed` (resumed from `checkpoint` when it holds a part of this run)."""
    torch.manual_seed(seed)
    held = held_out(len(target_px), block)
    fit = [data[k][~held] for k in KEYS] + [target_px[~held]]
    x1, y1 = training_arrays(*fit)
    x2, y2 = training_arrays(*mirrored(*fit, data["image_wh"][~held]))
    x, y = torch.from_numpy(np.concatenate([x1, x2])), torch.from_numpy(np.concatenate([y1, y2]))
    held_det = [data[k][held] for k in KEYS]
    net = CorrectorNet(config)
    net.feature_mean.copy_(x.mean(0))
    net.feature_std.copy_(x.std(0) + 1e-3)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-4)
    steps_per_epoch = len(x) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps_per_epoch)
    start = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start = state["epoch"]
        torch.set_rng_state(state["rng"])
        log.info("resuming at epoch %d from %s", start, checkpoint)
    t0 = time.perf_counter()
    for epoch in range(start, epochs):
        order = torch.randperm(len(x))
        total = 0.0
        for step in range(steps_per_epoch):
            idx = order[step * batch:(step + 1) * batch]
            shift, log_spread = net(x[idx])
            loss = nll(shift, log_spread, y[idx])
            if not torch.isfinite(loss):
                raise TrainingStopped(f"non-finite loss at epoch {epoch + 1}, step {step + 1}; the last good "
                                      f"checkpoint ({checkpoint}, epoch {start}) is kept")
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        net.eval()
        errors = limb_errors_px([net], held_det, target_px[held])
        net.train()
        record = {"seed": seed, "epoch": epoch + 1, "loss": round(total / steps_per_epoch, 4),
                  "held_out_limb_px": {"mediapipe_mean": round(errors[0], 2), "corrected_mean": round(errors[1], 2),
                                       "mediapipe_median": round(errors[2], 2), "corrected_median": round(errors[3], 2)},
                  "seconds": round(time.perf_counter() - t0, 1)}
        log.info("%s", record)
        if log_path is not None:
            with log_path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        tmp = checkpoint.with_suffix(".tmp")
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "epoch": epoch + 1, "rng": torch.get_rng_state()}, tmp)
        tmp.replace(checkpoint)
        start = epoch + 1
    return net.eval()


def ensemble_metrics(nets: list[CorrectorNet], data: dict[str, np.ndarray], target_px: np.ndarray, block: int) -> dict:
    held = held_out(len(target_px), block)
    errors = limb_errors_px(nets, [data[k][held] for k in KEYS], target_px[held])
    return {"samples_trained": int((~held).sum()), "samples_held_out": int(held.sum()),
               "held_out_limb_px_mediapipe_mean": round(errors[0], 2), "held_out_limb_px_corrected_mean": round(errors[1], 2),
               "held_out_limb_px_mediapipe_median": round(errors[2], 2),
               "held_out_limb_px_corrected_median": round(errors[3], 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="train-landmark-corrector", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, nargs="*", default=None,
                        help="detector-data folders (default: every folder under the cache's detector_data)")
    parser.add_argument("--out", type=Path, default=CORRECTOR_PATH)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--width", type=int, default=CorrectorConfig.width)
    parser.add_argument("--layers", type=int, default=CorrectorConfig.layers)
    parser.add_argument("--inputs", choices=sorted(INPUT_SETS), default=CorrectorConfig.inputs,
                        help="what the networks read: all of MediaPipe's output, or its 2D landmarks, visibility and presence")
    parser.add_argument("--seed", type=int, default=0, help="the first member's seed; member i trains from seed + i")
    parser.add_argument("--members", type=int, default=3, help="networks in the ensemble (their outputs are averaged)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--log", type=Path, default=DEFAULT_LOG)
    parser.add_argument("--block", type=int, default=BLOCK, help=f"samples per hold-out block (every {HOLDOUT_EVERY}th is held out)")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    command = "python main.py train-landmark-corrector " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        folders, data = load_detector_datasets(args.data)
    except DetectorDataError as exc:
        parser.error(str(exc))
    placement = LandmarkPlacement.load()
    target_px = placed_truth_px(data, placement)
    config = CorrectorConfig(args.width, args.layers, args.inputs)
    if args.log is not None:
        args.log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    nets = []
    for seed in range(args.seed, args.seed + args.members):
        key = json.dumps([[str(f) for f in folders], len(target_px), asdict(config), args.epochs, args.batch, args.lr,
                          seed, args.block])
        checkpoint = user_cache_dir() / "landmark_corrector" / f"{hashlib.sha256(key.encode()).hexdigest()[:12]}.ckpt"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        try:
            nets.append(train(data, target_px, config, args.epochs, args.batch, args.lr, seed, checkpoint, args.log,
                              args.block))
        except TrainingStopped as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    metrics = ensemble_metrics(nets, data, target_px, args.block)
    card = {"model": f"landmark corrector (an ensemble of {args.members} MLPs on MediaPipe's landmarks)",
            "config": asdict(config), "members": args.members,
            "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed, "command": command,
            "data": [f.name for f in folders], "target": "true body keypoints with the landmark placement, projected",
            "train_time_s": round(time.perf_counter() - t0, 1), "metrics": metrics}
    LandmarkCorrector(nets, card).save(args.out)
    print(json.dumps(metrics, indent=1))
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
