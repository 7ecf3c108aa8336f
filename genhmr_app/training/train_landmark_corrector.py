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
    # the shipped two-look corrector (thirty-third session; thirty-fourth: three data folders, 74,000
    # renders): the thirtieth session's one fine-tuned on data with the tracking passes' looks
    # (generate-detector-data --tracking-passes 2); its card has the exact commands
    python main.py train-landmark-corrector --data FOLDER [FOLDER ...] --init PATH --looks image,first,last --two-looks --epochs 10 --lr 3e-4

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
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from genhmr_app.body.model import load_body_model
from genhmr_app.conditioning.camera import project
from genhmr_app.detection.landmark_correction import (CORRECTOR_PATH, FEATURES, LIMB_LANDMARKS, LOOK_FEATURES, MAX_SHIFT,
                                                      CorrectorConfig, CorrectorError, CorrectorNet,
                                                      INPUT_SETS, LandmarkCorrector, mirror_landmarks, mirror_patches,
                                                      network_inputs, person_frame)
from genhmr_app.detection.placement import LandmarkPlacement
from genhmr_app.paths import REPO_ROOT, user_cache_dir
from genhmr_app.training.detector_data import DetectorDataError, load_detector_datasets

log = logging.getLogger(__name__)

DEFAULT_LOG = REPO_ROOT / "docs" / "training_logs" / "landmark_corrector.jsonl"
BLOCK = 1000
HOLDOUT_EVERY = 10
LIMBS = list(LIMB_LANDMARKS)
PATCH_LR_FACTOR = 3.0


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


def features(arrays: dict[str, np.ndarray], looks: bool) -> np.ndarray:
    """(B, F) the networks' input for samples as with_looks gives them; `looks`: a two-look corrector's."""
    return network_inputs(*(arrays[k] for k in KEYS), looks, arrays.get("first_look_px"), arrays.get("look_conf"),
                          arrays.get("is_pass"))


def training_arrays(arrays: dict[str, np.ndarray], target_px: np.ndarray, looks: bool) -> tuple[np.ndarray, np.ndarray]:
    """Features (B, F) and target shifts (B, 66) in person-box units."""
    det_px = arrays["det_px"]
    _, scale = person_frame(det_px)
    shift = ((target_px - det_px) / scale).clip(-MAX_SHIFT, MAX_SHIFT)
    return features(arrays, looks), shift.reshape(len(det_px), -1).astype(np.float32)


def mirrored(arrays: dict[str, np.ndarray], target_px: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The same samples as seen in a mirror: x → width − x, world x negated, left and right swapped."""
    width = arrays["image_wh"][:, None, 0]

    def flip_px(px):
        px = mirror_landmarks(px)
        px[..., 0] = width - px[..., 0]
        return px
    world = mirror_landmarks(arrays["world"])
    world[..., 0] *= -1
    swap = lambda a: mirror_landmarks(a[..., None])[..., 0]  # noqa: E731
    out = dict(arrays, det_px=flip_px(arrays["det_px"]), det_z=swap(arrays["det_z"]),
               visibility=swap(arrays["visibility"]), presence=swap(arrays["presence"]), world=world)
    if "first_look_px" in arrays:
        out.update(first_look_px=flip_px(arrays["first_look_px"]), look_conf=swap(arrays["look_conf"]))
    return out, flip_px(target_px)


def rows_of(arrays: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in arrays.items()}


class PatchSource:
    """The detector data's patches (N, 33, P, P) uint8 for a corrector that reads them: training rows point
    at a sample's patches (`patch_row`, −1: none for that row's look) and may be mirrored (`flip`)."""

    def __init__(self, patches: np.ndarray) -> None:
        self.patches = patches

    def batch(self, patch_row: np.ndarray, flip: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) rows → patches (B, 33, P, P) uint8 (zeros where a row has none) and has_patches (B,) bool."""
        has = patch_row >= 0
        out = torch.from_numpy(self.patches[np.where(has, patch_row, 0)])
        if flip is not None and flip.any():
            rows = torch.from_numpy(np.nonzero(flip)[0])
            out[rows] = mirror_patches(out[rows])
        return out, torch.from_numpy(has)


def mean_shift(nets: list[CorrectorNet], x: torch.Tensor, patch_row: np.ndarray | None = None,
               patches: PatchSource | None = None, batch: int = 4096) -> torch.Tensor:
    """The nets' mean shift (B, 33, 2) for features x (B, F), in batches (a patch-reading net's activations
    are large); `patch_row` (B,) into `patches` for a patch-reading net."""
    out = []
    with torch.no_grad():  # as LandmarkCorrector.predict, without freezing a net still in training
        for i in range(0, len(x), batch):
            p = h = None
            if patches is not None and patch_row is not None and nets[0].config.patches:
                p, h = patches.batch(patch_row[i:i + batch])
            out.append(torch.stack([net(x[i:i + batch], p, h)[0] for net in nets]).mean(0))
    return torch.cat(out)


def limb_errors_px(nets: list[CorrectorNet], arrays: dict[str, np.ndarray], target,
                   patches: PatchSource | None = None) -> tuple[float, float, float, float]:
    """Held-out limb landmarks: mean and median px error of MediaPipe's and of the corrected points (the
    nets' mean shift)."""
    x = torch.from_numpy(features(arrays, nets[0].config.looks))
    shift = mean_shift(nets, x, arrays.get("patch_row"), patches)
    det_px = arrays["det_px"]
    _, scale = person_frame(det_px)
    corrected = det_px + shift.numpy() * scale
    before = np.linalg.norm(det_px - target, axis=-1)[:, LIMBS]
    after = np.linalg.norm(corrected - target, axis=-1)[:, LIMBS]
    return float(before.mean()), float(after.mean()), float(np.median(before)), float(np.median(after))


def nll(shift: torch.Tensor, log_spread: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over landmarks of |error| / spread + 2 log spread (a 2D Laplace-like likelihood)."""
    error = (shift - target.reshape(shift.shape)).norm(dim=-1)
    return (error * torch.exp(-log_spread) + 2 * log_spread).mean()


KEYS = ("det_px", "det_z", "visibility", "presence", "world")


def _sha256_file(path: Path | None) -> str:
    return "" if path is None else hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def held_out(samples: int, block: int = BLOCK) -> np.ndarray:
    """(samples,) bool: every HOLDOUT_EVERY-th block of `block` samples."""
    return (np.arange(samples) // block) % HOLDOUT_EVERY == 0


LOOKS = ("image", "first", "last")


def with_looks(data: dict[str, np.ndarray], target_px: np.ndarray, looks: tuple[str, ...], block: int = BLOCK
               ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The samples once per look the corrector should learn to correct: "image", MediaPipe's IMAGE-mode (or
    VIDEO-mode) landmarks; "first" / "last", the first / last tracking pass's landmarks on a still (where
    the data has them, DetectorDataConfig.tracking_passes), with the rest of the first look's output and,
    for a two-look corrector, the first look's landmarks and the pass's heatmap peaks beside them.
    Returns the arrays (KEYS, "first_look_px", "look_conf", "is_pass", "image_wh", and "look": the look's
    index), the targets and the held-out mask; a sample's looks are all held out or none."""
    n = len(target_px)
    held = held_out(n, block)
    tracked = data.get("tracked", np.zeros(n, bool))
    parts = []
    for look in looks:
        if look == "image":
            parts.append((np.ones(n, bool), data["det_px"], np.zeros((n, 33), np.float32), False))
        elif look == "first":
            parts.append((tracked, data["first_pass_px"], data["first_pass_conf"], True))
        else:
            parts.append((tracked, data["tracked_px"], data["tracked_conf"], True))
    out = {k: np.concatenate([data[k][rows] for rows, *_ in parts]) for k in KEYS[1:] + ("image_wh",) + (("dressed",) if "dressed" in data else ())}
    out["det_px"] = np.concatenate([px[rows] for rows, px, *_ in parts])
    out["first_look_px"] = np.concatenate([data["det_px"][rows] if is_pass else np.zeros_like(data["det_px"][rows])
                                           for rows, _, _, is_pass in parts])
    out["look_conf"] = np.concatenate([conf[rows] for rows, _, conf, _ in parts])
    out["is_pass"] = np.concatenate([np.full(int(rows.sum()), is_pass) for rows, _, _, is_pass in parts])
    out["look"] = np.concatenate([np.full(int(rows.sum()), i) for i, (rows, *_) in enumerate(parts)])
    # Patches (data made with --patches) are cut around the landmarks the still path fits: the last pass's
    # where there was one, else the first look's. Only those looks read them.
    has = data.get("has_patches", np.full(n, "patches" in data))
    sample = np.arange(n)
    out["patch_row"] = np.concatenate([
        np.where(rows & has & ((look == "last") | ((look == "image") & ~tracked)), sample, -1)[rows]
        for look, (rows, *_) in zip(looks, parts)])
    return out, np.concatenate([target_px[rows] for rows, *_ in parts]), np.concatenate([held[rows] for rows, *_ in parts])


def _start_from(init: CorrectorNet, config: CorrectorConfig, x: torch.Tensor) -> CorrectorNet:
    """A network for `config` that begins as the trained `init`: a two-look network from a one-look one gets
    zero weights on the new inputs (so it starts out correcting as `init` does) and their own normalisation."""
    net = CorrectorNet(config)
    state = init.state_dict()
    if config.looks and not init.config.looks:
        first = state["mlp.0.weight"]
        state["mlp.0.weight"] = torch.cat([first, torch.zeros(first.shape[0], LOOK_FEATURES)], 1)
        state["feature_mean"] = torch.cat([state["feature_mean"], x[:, FEATURES:].mean(0)])
        state["feature_std"] = torch.cat([state["feature_std"], x[:, FEATURES:].std(0) + 1e-3])
    if config.patches and not init.config.patches:  # a fresh PatchEncoder, zero weights into the first layer
        state.update({f"patch_encoder.{k}": v for k, v in net.patch_encoder.state_dict().items()})
        state["patch_in.weight"] = torch.zeros_like(net.patch_in.weight)
    net.load_state_dict(state)
    for p in net.parameters():
        p.requires_grad_(True)
    return net


def train(data: dict[str, np.ndarray], target_px: np.ndarray, config: CorrectorConfig, epochs: int, batch: int,
          lr: float, seed: int, checkpoint: Path, log_path: Path | None, held: np.ndarray,
          init: CorrectorNet | None = None, patches: PatchSource | None = None) -> CorrectorNet:
    """One member, trained from `seed` (resumed from `checkpoint` when it holds a part of this run).
    `init`: a trained member to fine-tune (its feature normalisation is kept). `patches`: the data's
    patches, for a patch-reading net (CorrectorConfig.patches)."""
    torch.manual_seed(seed)
    fit = rows_of(data, ~held)
    x1, y1 = training_arrays(fit, target_px[~held], config.looks)
    x2, y2 = training_arrays(*mirrored(fit, target_px[~held]), config.looks)
    x, y = torch.from_numpy(np.concatenate([x1, x2])), torch.from_numpy(np.concatenate([y1, y2]))
    reads_patches = config.patches and patches is not None
    if reads_patches:  # the second half of the rows is the mirror image
        patch_row = np.concatenate([fit["patch_row"], fit["patch_row"]])
        flip = np.repeat([False, True], len(x1))
    held_det = rows_of(data, held)
    if init is not None:
        net = _start_from(init, config, x)
    else:
        net = CorrectorNet(config)
        net.feature_mean.copy_(x.mean(0))
        net.feature_std.copy_(x.std(0) + 1e-3)
    # A patch-reading net's patch weights learn PATCH_LR_FACTOR times faster: fine-tuned from a corrector
    # that reads no patches, they start at zero while the rest is already trained.
    patch_params = [] if net.patch_encoder is None else [*net.patch_encoder.parameters(), *net.patch_in.parameters()]
    patch_ids = {id(p) for p in patch_params}
    groups = [{"params": [p for p in net.parameters() if id(p) not in patch_ids], "lr": lr}]
    if patch_params:
        groups.append({"params": patch_params, "lr": lr * PATCH_LR_FACTOR})
    opt = torch.optim.AdamW(groups, lr, weight_decay=1e-4)
    steps_per_epoch = len(x) // batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [g["lr"] for g in groups], total_steps=epochs * steps_per_epoch)
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
            if reads_patches:
                rows = idx.numpy()
                shift, log_spread = net(x[idx], *patches.batch(patch_row[rows], flip[rows]))
            else:
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
        errors = limb_errors_px([net], held_det, target_px[held], patches)
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


def ensemble_metrics(nets: list[CorrectorNet], data: dict[str, np.ndarray], target_px: np.ndarray,
                     held: np.ndarray, looks: tuple[str, ...] = ("image",), before: list[CorrectorNet] | None = None,
                     patches: PatchSource | None = None) -> dict:
    """Held-out limb landmarks' 2D error before and after the correction; per look, and (with `before`, the
    corrector fine-tuned from) that corrector's on the same samples; where the data says which samples were
    dressed, per look for the flat and the dressed samples too."""
    metrics = _held_out_metrics(nets, data, target_px, held, patches)
    groups = {"": np.ones(len(held), bool)}
    if "dressed" in data and data["dressed"].any():
        groups.update({" flat": ~data["dressed"], " dressed": data["dressed"]})
    for i, look in enumerate(looks if len(looks) > 1 or before is not None else ()):
        for name, group in groups.items():
            rows = held & group & (data["look"] == i) if "look" in data else held & group
            if rows.any():
                errors = limb_errors_px(nets, rows_of(data, rows), target_px[rows], patches)
                entry = {"mediapipe_mean": round(errors[0], 2), "corrected_mean": round(errors[1], 2)}
                if before is not None:
                    entry["before_fine_tuning_mean"] = round(
                        limb_errors_px(before, rows_of(data, rows), target_px[rows], patches)[1], 2)
                metrics.setdefault("held_out_limb_px_by_look", {})[look + name] = entry
    return metrics


def _held_out_metrics(nets: list[CorrectorNet], data: dict[str, np.ndarray], target_px: np.ndarray,
                      held: np.ndarray, patches: PatchSource | None = None) -> dict:
    errors = limb_errors_px(nets, rows_of(data, held), target_px[held], patches)
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
    parser.add_argument("--looks", default="image",
                        help="comma-separated looks to learn from: image (MediaPipe's first look), first / last "
                             "(the still's first / last tracking pass, where the data has them)")
    parser.add_argument("--two-looks", action="store_true",
                        help="a two-look corrector: a tracking pass's look is corrected knowing MediaPipe's first look "
                             "and the pass's heatmap peaks (CorrectorConfig.looks)")
    parser.add_argument("--patches", action="store_true",
                        help="a patch-reading corrector: it also reads a grey image patch around each landmark "
                             "(CorrectorConfig.patches; needs data made with generate-detector-data --patches)")
    parser.add_argument("--patch-hidden", type=int, default=CorrectorConfig.patch_hidden,
                        help="the patch network's hidden width (a corrector that starts reading patches here)")
    parser.add_argument("--patch-embed", type=int, default=CorrectorConfig.patch_embed,
                        help="numbers the patch network makes of each patch")
    parser.add_argument("--init", type=Path, default=None,
                        help="fine-tune this corrector's members (member i from its member i) instead of starting afresh")
    args = parser.parse_args(argv)
    looks = tuple(look.strip() for look in args.looks.split(",") if look.strip())
    if not looks or any(look not in LOOKS for look in looks):
        parser.error(f"--looks: choose from {', '.join(LOOKS)}")
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
    if args.patches and "patches" not in data:
        parser.error("--patches: none of the data has patches (generate-detector-data --patches)")
    if "patches" in data:  # every folder has them: load_detector_datasets adds has_patches only for a mix
        data.setdefault("has_patches", np.ones(len(data["found"]), bool))
    patches = PatchSource(data.pop("patches")) if args.patches else None
    data, target_px, held = with_looks(data, target_px, looks, args.block)
    log.info("%d samples over the looks %s (%d held out)", len(target_px), ", ".join(looks), int(held.sum()))
    init = None
    if args.init is not None:
        try:
            init = LandmarkCorrector.load(args.init)
        except CorrectorError as exc:
            parser.error(str(exc))
    patch_size = {"patch_hidden": args.patch_hidden, "patch_embed": args.patch_embed}
    config = CorrectorConfig(args.width, args.layers, args.inputs, args.two_looks, args.patches, **patch_size) \
        if init is None else replace(init.nets[0].config, looks=args.two_looks or init.nets[0].config.looks,
                                     patches=args.patches or init.nets[0].config.patches,
                                     **(patch_size if not init.nets[0].config.patches else {}))
    if args.log is not None:
        args.log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    nets = []
    for seed in range(args.seed, args.seed + args.members):
        key = json.dumps([[str(f) for f in folders], len(target_px), asdict(config), args.epochs, args.batch, args.lr,
                          seed, args.block] + ([] if looks == ("image",) and init is None
                                               else [looks, str(args.init), _sha256_file(args.init)]))
        checkpoint = user_cache_dir() / "landmark_corrector" / f"{hashlib.sha256(key.encode()).hexdigest()[:12]}.ckpt"
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        try:
            member = None if init is None else init.nets[(seed - args.seed) % len(init.nets)]
            nets.append(train(data, target_px, config, args.epochs, args.batch, args.lr, seed, checkpoint, args.log,
                              held, member, patches))
        except TrainingStopped as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    metrics = ensemble_metrics(nets, data, target_px, held, looks, None if init is None else init.nets, patches)
    card = {"model": f"landmark corrector (an ensemble of {args.members} MLPs on MediaPipe's landmarks"
                     f"{' and image patches around them' if config.patches else ''})",
            "config": asdict(config), "members": args.members,
            "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed, "command": command,
            "data": [f.name for f in folders], "looks": list(looks),
            "fine_tuned_from": None if init is None else {"path": str(args.init), "card": init.card}, "target": "true body keypoints with the landmark placement, projected",
            "train_time_s": round(time.perf_counter() - t0, 1), "metrics": metrics}
    LandmarkCorrector(nets, card).save(args.out)
    print(json.dumps(metrics, indent=1))
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
