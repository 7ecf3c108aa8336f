"""Train the masked pose transformer (or its deterministic regression twin) on synthesised samples.

`python main.py train-generator [--mode generate|regress] [--steps N] [--minutes M] [--seed S]`

Seeded and resumable (checkpoint in the run folder every 200 steps), tqdm progress, JSON-lines log.
Losses: cross-entropy on masked tokens (cosine masking schedule), plus auxiliary losses on the decoded
pose (joints and keypoints through the tokenizer's decoder and the body model) and on the 2D
reprojection, plus global orientation, shape and camera. The final weights and a JSON card go to
weights/genhmr/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import math
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from genhmr_app.body.model import load_body_model
from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project, translation_to_weak_perspective, weak_perspective_to_translation
from genhmr_app.conditioning.features import ConditionBatch
from genhmr_app.detection.error_model import detector_like_keypoints
from genhmr_app.detection.placement import LandmarkPlacement
from genhmr_app.device import describe_device, resolve_device
from genhmr_app.generator.model import (GeneratorConfig, GeneratorOutput, MaskedPoseTransformer, load_generator,
                                        save_generator)
from genhmr_app.mocap.augment import JointLimits
from genhmr_app.paths import REPO_ROOT, WEIGHTS_DIR
from genhmr_app.refinement.feedback import reprojection_feedback
from genhmr_app.sampling.maskgit import FeedbackFn
from genhmr_app.tokens.data import load_pose_splits
from genhmr_app.tokens.model import PoseTokenizer, load_tokenizer
from genhmr_app.tokens.train import TrainConfig, augment_batch, augment_kinds, seed_everything
from genhmr_app.training.loop import optimisation_step, restore_training_state, save_training_state
from genhmr_app.training.synthesis import SynthBatch, Synthesizer, uniform

log = logging.getLogger(__name__)

TOKENIZER_PATH = WEIGHTS_DIR / "tokenizer" / "pose_tokenizer.pt"
GENERATOR_PATH = WEIGHTS_DIR / "genhmr" / "generator.pt"
REGRESSOR_PATH = WEIGHTS_DIR / "genhmr" / "regressor.pt"


# Inputs a fine-tune may add to a trained model; they start at zero and learn 10x faster (see train()).
FRESH_INPUTS = ("previous_proj", "feedback_in", "latent_head")


def file_sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def random_mask(b: int, k: int, gen: torch.Generator, device: torch.device | str | None = None) -> torch.Tensor:
    """MaskGIT's cosine schedule: mask ratio cos(pi/2 * u), u ~ U(0, 1); at least one token. Drawn
    from `gen` on its device, returned on `device`."""
    ratio = torch.cos(math.pi / 2 * torch.rand(b, generator=gen, device=gen.device))
    n = (ratio * k).ceil().clamp(1, k).long()
    ranks = torch.rand(b, k, generator=gen, device=gen.device).argsort(-1).argsort(-1)
    return (ranks < n[:, None]).to(device)


def first_forward(model: MaskedPoseTransformer, condition: torch.Tensor) -> tuple[torch.Tensor, GeneratorOutput]:
    """(B, K, C) the model's distributions with every token masked (no gradient), and the forward's
    output: what the first sampling iteration sees."""
    with torch.no_grad():
        out = model(condition)
        return torch.softmax(out.logits.float(), -1), out


def first_pass(model: MaskedPoseTransformer, condition: torch.Tensor) -> torch.Tensor:
    """(B, K, C) the first sampling iteration's distributions (first_forward's)."""
    return first_forward(model, condition)[0]


def own_samples(model: MaskedPoseTransformer, condition: torch.Tensor, gen: torch.Generator,
                probs: torch.Tensor | None = None) -> torch.Tensor:
    """(B, K) codes drawn from the model's own prediction with every token masked: what the sampler
    commits at run time, right or wrong. `probs`: that prediction, when already made (first_pass)."""
    probs = first_pass(model, condition) if probs is None else probs
    b, k, c = probs.shape
    # Drawn where `gen` lives (the trainers' CPU generator), returned beside `probs`.
    draws = torch.multinomial(probs.reshape(b * k, c).to(gen.device), 1, generator=gen)
    return draws.reshape(b, k).to(probs.device)


# Share of each batch decoded for the auxiliary pose losses. Decoding costs as much as the transformer;
# a quarter is enough for a tokens-only model, a latent offset head may want more (--aux-share).
AUX_SHARE = 0.25


def camera_joint_loss(pred: torch.Tensor, true: torch.Tensor, in_plane_weight: float = 1.0) -> torch.Tensor:
    """Mean joint distance in the camera's frame, pelvis (joint 0) aligned: pred, true (B, J, 3), metres,
    z the depth. `in_plane_weight` scales the image-plane (x, y) part of each error before its length is
    taken (1: the plain 3D distance, as MPJPE measures it; 0: depth alone)."""
    d = (pred - pred[:, :1]) - (true - true[:, :1])
    scale = torch.tensor([in_plane_weight, in_plane_weight, 1.0], dtype=d.dtype, device=d.device)
    return ((d * scale).square().sum(-1) + 1e-10).sqrt().mean()  # the epsilon keeps the gradient finite at 0


def generator_losses(model: MaskedPoseTransformer, tokenizer: PoseTokenizer, body: SparseBody, batch: SynthBatch,
                     gen: torch.Generator, own_share: float = 0.0, blind_share: float = 0.0,
                     self_condition_share: float = 0.0, unroll_share: float = 0.0,
                     feedback_fn: FeedbackFn | None = None, aux_share: float = AUX_SHARE,
                     camera_loss: float = 0.0, in_plane_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """`own_share`: the share of samples whose unmasked tokens are the model's own draws instead of the
    true codes. Trained on true codes only, the model trusts whatever the sampler committed as if it
    were the truth, so later iterations build on its mistakes (exposure bias); with its own draws in
    view it learns how far to trust them.
    `blind_share`: the share of the auxiliary pose loss's samples whose pose is decoded from a forward
    with every token masked (all tokens soft), the way the first sampling iteration sees a person and
    refinement starts from it; otherwise the random mask's mix of soft and given codes is decoded.
    `self_condition_share` (a self-conditioned model): the share of samples seen as a second sampling
    iteration sees a person: every token masked, each with the distribution the first, all-masked
    forward predicted for it (no gradient through that forward).
    `unroll_share`: the share of those samples seen as a third or later iteration sees a person: their
    beliefs come from a second forward that itself saw the first one's (no gradient through either).
    `feedback_fn` (a feedback model): the self-conditioned samples also see the reprojection residuals of
    the estimate their beliefs decode to, as the sampler gives them (refinement/feedback.py).
    `aux_share`: the share of the batch whose pose is decoded for the auxiliary pose losses, the only
    losses that train a latent offset head.
    `camera_loss`: the weight of a joint loss in the camera's frame (predicted orientation, pose and shape
    against the true ones, pelvis aligned), where the body-frame `joints` loss ignores how an orientation
    error moves far joints. `in_plane_weight` scales its image-plane (x, y) part against the depth (z):
    the joint fit after the generator pulls the body onto the 2D keypoints, which corrects in-plane
    errors and leaves depth to the generator, so a generator trained for the fit can spend less on them."""
    b, device = batch.body_pose.shape[0], batch.body_pose.device
    cfg = model.config
    losses: dict[str, torch.Tensor] = {}
    if cfg.mode == "generate":
        with torch.no_grad():
            target = tokenizer.encode(batch.body_pose)
        mask = random_mask(b, cfg.num_tokens, gen, device)
        given = target
        self_conditioning = self_condition_share > 0 and cfg.self_condition
        # Own draws and self-conditioning both start from the all-masked forward: it is made once.
        first, first_out = first_forward(model, batch.condition) if own_share > 0 or self_conditioning else (None, None)
        if own_share > 0:
            own = (uniform(gen, device, b) < own_share)[:, None]
            given = torch.where(own, own_samples(model, batch.condition, gen, first), target)
        previous = feedback = None
        if self_conditioning:
            rows = (uniform(gen, device, b) < self_condition_share)[:, None]
            mask = mask | rows
            cond_batch = ConditionBatch(batch.condition, batch.crop, batch.focal, batch.image_wh)
            beliefs, residuals = first, None
            with torch.no_grad():
                if feedback_fn is not None:
                    residuals = feedback_fn(first, first_out, cond_batch)
                if unroll_share > 0:
                    deeper = (uniform(gen, device, b) < unroll_share)[:, None, None]
                    second_out = model(batch.condition, torch.full_like(target, model.mask_id), first, residuals)
                    second = torch.softmax(second_out.logits.float(), -1)
                    beliefs = torch.where(deeper, second, first)
                    if residuals is not None:
                        residuals = torch.where(deeper, feedback_fn(second, second_out, cond_batch), residuals)
            previous = torch.where(rows[..., None], beliefs, torch.zeros_like(beliefs))
            if residuals is not None:  # zero residuals add nothing: the other samples see none
                feedback = torch.where(rows[..., None], residuals, torch.zeros_like(residuals))
        inputs = torch.where(mask, torch.full_like(target, model.mask_id), given)
        out = model(batch.condition, inputs, previous, feedback)
        losses["ce"] = F.cross_entropy(out.logits[mask], target[mask], label_smoothing=0.1)
        with torch.no_grad():
            losses["acc"] = (out.logits[mask].argmax(-1) == target[mask]).float().mean()
        # Auxiliary pose loss through the decoder: the expected code under the predicted distribution
        # at masked positions, the given code elsewhere.
        a = max(1, int(b * aux_share))
        soft = torch.softmax(out.logits[:a], -1)
        onehot = F.one_hot(given[:a], cfg.codebook_size).float()  # the pose is what was in view plus the predictions
        weights = torch.where(mask[:a, ..., None], soft, onehot)
        if blind_share > 0:
            blind = uniform(gen, device, a) < blind_share
            masked_all = torch.full((a, cfg.num_tokens), model.mask_id, dtype=torch.long, device=device)
            blind_soft = torch.softmax(model(batch.condition[:a], masked_all).logits, -1)
            weights = torch.where(blind[:, None, None], blind_soft, weights)
        latents = tokenizer.soft_latents(weights)
        if out.latent_offset is not None:  # the continuous detail, trained by the pose losses alone
            latents = latents + out.latent_offset[:a]
        pose = tokenizer.decode_latents(latents)
    else:
        out = model(batch.condition)
        a = b
        pose = out.body_pose
        losses["rot"] = F.mse_loss(pose, batch.body_pose)
    eye = torch.eye(3, dtype=pose.dtype, device=device).expand(a, 3, 3)
    pred = body(eye, pose, batch.betas[:a])
    with torch.no_grad():
        true = body(eye, batch.body_pose[:a], batch.betas[:a])
    losses["joints"] = (pred.joints - true.joints).norm(dim=-1).mean()
    losses["orient"] = F.mse_loss(out.global_orient, batch.global_orient)
    losses["betas"] = F.mse_loss(out.betas, batch.betas)
    cam_target = translation_to_weak_perspective(batch.transl, batch.crop, batch.focal, batch.image_wh)
    losses["cam"] = F.smooth_l1_loss(out.cam, cam_target, beta=0.05)
    transl = weak_perspective_to_translation(out.cam[:a], batch.crop[:a], batch.focal[:a], batch.image_wh[:a])
    full = body(out.global_orient[:a], pose, out.betas[:a], transl)
    px = project(full.mediapipe33, batch.focal[:a], batch.image_wh[:a])
    r = (px - batch.keypoints_2d[:a]).norm(dim=-1) / batch.crop[:a, 2:3]
    losses["reproj"] = r.clamp(max=1.0).mean()
    if camera_loss > 0:  # the true body turned by its orientation (about the pelvis, which the loss aligns)
        true_cam = true.joints @ batch.global_orient[:a].transpose(-1, -2)
        losses["cam_joints"] = camera_joint_loss(full.joints, true_cam, in_plane_weight)
    losses["total"] = (losses.get("ce", 0) + losses.get("rot", 0) * 5 + 10 * losses["joints"] + 2 * losses["orient"]
                       + 0.05 * losses["betas"] + 2 * losses["cam"] + 2 * losses["reproj"]
                       + camera_loss * losses.get("cam_joints", 0))
    return losses


class DetectorSamples:
    """Training samples from the real detector (generate-detector-data): what MediaPipe reported on
    a render, paired with the pose, shape and camera it was rendered from, as SynthBatch rows."""

    def __init__(self, folders: list[Path], z_scale: float) -> None:
        from genhmr_app.conditioning.camera import crop_from_points
        from genhmr_app.conditioning.features import build_condition_tokens
        from genhmr_app.training.detector_data import load_detector_data

        parts = [load_detector_data(f) for f in folders]
        d = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        keep = self.same_person(d["det_px"], d["truth_px"])
        log.info("real-detector samples: %d of %d kept (the rest locked onto something else)", int(keep.sum()), len(keep))
        d = {k: v[keep] for k, v in d.items()}
        t = lambda k: torch.as_tensor(d[k])  # noqa: E731
        crops = torch.tensor([crop_from_points(px, vis).as_tuple() for px, vis in zip(d["det_px"], d["visibility"])],
                             dtype=torch.float32)
        focal, wh = t("focal"), t("image_wh").float()
        self.condition = build_condition_tokens(t("det_px"), t("det_z") / z_scale, t("visibility"), t("presence"),
                                                t("world"), crops, focal, wh)
        self.crop, self.focal, self.wh = crops, focal, wh
        self.body_pose, self.orient, self.betas, self.transl = t("body_pose"), t("global_orient"), t("betas"), t("transl")
        self.truth_px, self.det_px, self.visibility = t("truth_px"), t("det_px"), t("visibility")

    def __len__(self) -> int:
        return len(self.focal)

    @staticmethod
    def same_person(det_px, truth_px, limit: float = 0.15):
        """(N,) bool: the detection is this body (median landmark error under `limit` of its height,
        with or without a left/right swap, which is a detector error the model should learn)."""
        from genhmr_app.detection.landmarks import MP33_FLIP_INDEX

        box = np.ptp(truth_px[:, :, 1], axis=1).clip(min=1.0)
        err = np.linalg.norm(det_px - truth_px, axis=-1)
        err_swapped = np.linalg.norm(det_px[:, list(MP33_FLIP_INDEX)] - truth_px, axis=-1)
        return np.minimum(np.median(err, 1), np.median(err_swapped, 1)) < limit * box

    def sample(self, n: int, gen: torch.Generator) -> SynthBatch:
        i = torch.randint(0, len(self), (n,), generator=gen)
        return SynthBatch(self.condition[i], self.crop[i], self.focal[i], self.wh[i], self.body_pose[i], self.orient[i],
                          self.betas[i], self.transl[i], self.truth_px[i], self.det_px[i], self.visibility[i])


def mix_batches(synthetic: SynthBatch, real: SynthBatch) -> SynthBatch:
    """The first rows of the synthetic batch replaced by real-detector rows (same batch size)."""
    n = real.condition.shape[0]
    return SynthBatch(*[torch.cat([r, s[n:]]) for s, r in zip(synthetic.fields(), real.fields())])


def widened_feedback(start_from: MaskedPoseTransformer, cfg: GeneratorConfig) -> dict[str, torch.Tensor]:
    """`start_from`'s weights for a model of `cfg`: a 2D feedback model gaining depth feedback gets its
    feedback input's first layer widened, the depth columns zero, so it begins exactly as it was (the
    flattened residuals are landmark-major: landmark l's channel ch is column l x channels + ch)."""
    state = dict(start_from.state_dict())
    key = "feedback_in.0.weight"
    old, new = start_from.config.feedback_channels, cfg.feedback_channels
    if cfg.feedback and key in state and old != new:
        w = state[key].reshape(state[key].shape[0], -1, old)
        state[key] = torch.cat([w, w.new_zeros(*w.shape[:2], new - old)], dim=-1).reshape(w.shape[0], -1)
    return state


def train(mode: str, steps: int, minutes: float | None, batch_size: int, seed: int, run_dir: Path, out_path: Path,
          width: int, layers: int, command: str, threads: int | None = None, detector_data: list[Path] | None = None,
          real_share: float = 0.5, tokenizer_path: Path = TOKENIZER_PATH, init: Path | None = None,
          lr: float = 5e-4, augment: str = "mirror", own_share: float = 0.0, blind_share: float = 0.0,
          self_condition_share: float = 0.0, unroll_share: float = 0.0, feedback: bool = False,
          latent_offset: bool = False, aux_share: float = AUX_SHARE, placement: Path | None = None,
          device: str = "auto", camera_loss: float = 0.0, in_plane_weight: float = 1.0,
          feedback_depth: bool = False) -> dict:
    """`placement`: a landmark-placement file (detection/placement.py): the synthesised detections put
    their landmarks where MediaPipe does, as the real detector's (the detector data) do.
    `device` (resolve_device: "auto" is CUDA when torch sees one): where the model, the tokenizer and the
    losses' body model run. The batches are synthesised and drawn on the CPU with the seeded CPU
    generator, as before, and moved there, so a CPU run is the same as before the option existed."""
    seed_everything(seed)
    train_device = resolve_device(device)
    if threads:
        torch.set_num_threads(threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(tokenizer_path).to(train_device)
    for p in tokenizer.parameters():
        p.requires_grad_(False)
    body_model = load_body_model()
    body = SparseBody(body_model)  # the synthesis's, on the CPU
    loss_body = body if train_device.type == "cpu" else SparseBody(body_model).to(train_device)
    placed = LandmarkPlacement.load(placement) if placement is not None else None
    detector_body = None if placed is None else placed.keypoint_body(body_model)
    synth = Synthesizer(body, detector_body=detector_body)
    poses = load_pose_splits()["train"]
    # The synthesised share's poses go through the tokenizer's augmentations (mocap/augment.py): wider
    # limbs and folded legs reach poses the motion capture lacks; the real-detector share is as rendered.
    pose_aug = TrainConfig(augment=augment)
    limits = JointLimits.from_data(poses) if "perturb" in augment_kinds(augment) else None
    real = DetectorSamples(detector_data, synth.noise.landmark_z_scale) if detector_data else None
    cfg = GeneratorConfig(num_tokens=tokenizer.config.num_tokens, codebook_size=tokenizer.config.codebook_size,
                          width=width, layers=layers, mode=mode, self_condition=self_condition_share > 0,
                          feedback=feedback, feedback_depth=feedback_depth,
                          latent_offset_dim=tokenizer.config.code_dim if latent_offset else 0,
                          latent_slots=tokenizer.config.slots if latent_offset else 0)
    model = MaskedPoseTransformer(cfg)
    if init is not None:  # fine-tuning: start from trained weights of the same make and tokenizer
        start_from = load_generator(init, tokenizer.config, file_sha(tokenizer_path))
        if asdict(replace(start_from.config, self_condition=cfg.self_condition, feedback=cfg.feedback,
                          feedback_depth=cfg.feedback_depth, latent_offset_dim=cfg.latent_offset_dim,
                          latent_slots=cfg.latent_slots)) != asdict(cfg):
            raise SystemExit(f"{init} is a {start_from.config}, not the {cfg} asked for")
        # A model gaining self-conditioning, feedback or a latent offset keeps everything else; its new
        # inputs and heads start at zero.
        missing, unexpected = model.load_state_dict(widened_feedback(start_from, cfg), strict=False)
        if unexpected or any(not k.startswith(FRESH_INPUTS) for k in missing):
            raise SystemExit(f"{init} does not fit {cfg}: missing {missing}, unexpected {unexpected}")
    model.to(train_device)  # before the optimiser takes its parameters
    # The self-conditioning input starts at zero inside a trained model: at the model's learning rate it
    # grew to only ~5% of a token embedding's size in 1,000 fine-tuning steps, so it learns 10x faster.
    fresh = [p for n, p in model.named_parameters() if n.startswith(FRESH_INPUTS)]
    rest = [p for n, p in model.named_parameters() if not n.startswith(FRESH_INPUTS)]
    groups = [{"params": rest, "lr": lr}] + ([{"params": fresh, "lr": 10 * lr}] if fresh else [])
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in groups], total_steps=steps,
                                                pct_start=0.05)
    gen = torch.Generator().manual_seed(seed)
    feedback_fn = None
    if cfg.feedback:  # the residuals as the sampler computes them, with the noise model's detector-like hips
        def feedback_fn(beliefs, out, cond):
            return reprojection_feedback(tokenizer, loss_body, beliefs, out, cond,
                                         lambda points, orient: detector_like_keypoints(points, orient, synth.noise),
                                         depth=cfg.feedback_depth)
    ckpt = run_dir / "checkpoint.pt"
    step, elapsed_before = 0, 0.0
    if ckpt.exists():
        blob = torch.load(ckpt, weights_only=False, map_location="cpu")  # resumable on another device
        if blob["config"] == asdict(cfg) and blob["steps"] == steps:
            step = restore_training_state(blob, model, opt, sched, gen)
            elapsed_before = blob.get("elapsed", 0.0)
            log.info("resumed at step %d", step)
    log_file = (run_dir / "log.jsonl").open("a")
    start = time.time() - elapsed_before
    deadline = start + minutes * 60 if minutes else None
    bar = tqdm(total=steps, initial=step, desc=f"{mode}", dynamic_ncols=True)
    model.train()
    while step < steps:
        idx = torch.randint(0, len(poses), (batch_size,), generator=gen)
        pose = augment_batch(poses[idx], pose_aug, limits, gen)
        batch = synth(pose, gen)
        if real is not None:
            batch = mix_batches(batch, real.sample(round(batch_size * real_share), gen))
        losses = generator_losses(model, tokenizer, loss_body, batch.to(train_device), gen, own_share, blind_share,
                                  self_condition_share, unroll_share, feedback_fn, aux_share, camera_loss,
                                  in_plane_weight)
        optimisation_step(losses["total"], model, opt, sched, step=step)
        step += 1
        bar.update(1)
        if step % 50 == 0:
            rec = {k: round(float(v), 5) for k, v in losses.items()}
            rec.update(step=step, elapsed_s=round(time.time() - start, 1))
            log_file.write(json.dumps(rec) + "\n")
            log_file.flush()
            bar.set_postfix(j_mm=f"{rec['joints'] * 1000:.0f}", acc=f"{rec.get('acc', 0):.2f}", rp=f"{rec['reproj']:.3f}")
        if step % 200 == 0 or step == steps:
            save_training_state(ckpt, model, opt, sched, gen, step, steps=steps, config=asdict(cfg),
                                elapsed=time.time() - start)
        if deadline and time.time() > deadline:
            log.info("time budget reached at step %d", step)
            break
    bar.close()
    log_file.close()
    model.eval()
    card = {"model": f"GenHMR masked pose transformer ({mode})", "config": asdict(cfg), "steps_done": step,
            "steps_planned": steps, "batch": batch_size, "seed": seed, "train_time_s": round(time.time() - start, 1),
            "tokenizer": tokenizer_path.name, "tokenizer_sha256": file_sha(tokenizer_path),
            "initialised_from": str(init) if init is not None else None, "lr": lr,
            "augment": augment, "own_share": own_share, "blind_share": blind_share,
            "self_condition_share": self_condition_share, "unroll_share": unroll_share, "feedback": feedback,
            "feedback_depth": feedback_depth,
            "latent_offset": latent_offset, "aux_share": aux_share,
            "camera_loss": camera_loss, "in_plane_weight": in_plane_weight,
            "placement": str(placement) if placed is not None else None,
            "data": "tokenizer train-split poses, synthesised views (genhmr_app/training/synthesis.py)"
                    + (f"; {real_share:.0%} of each batch from the real detector on renders "
                       f"({len(real)} samples, generate-detector-data)" if real is not None else ""),
            "noise_model": synth.noise.source, "device": describe_device(train_device),
            "date": dt.date.today().isoformat(), "command": command,
            "licence": "Trained on Bandai-Namco (CC BY-NC 4.0) and CMU motion: non-commercial use only."}
    save_generator(model.cpu(), out_path, file_sha(tokenizer_path), card)  # loadable without the device
    return card


# File systems refuse names over 255 bytes; a run on many data folders spells a longer key.
CHECKPOINT_FOLDER_NAME_LIMIT = 160


def checkpoint_folder_name(key: str) -> str:
    """The run's checkpoint folder: its key as it reads, or, when too long for a file name, the key's
    start and a hash of the whole (the same key always gives the same folder, so a run still resumes)."""
    if len(key) <= CHECKPOINT_FOLDER_NAME_LIMIT:
        return key
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return f"{key[:CHECKPOINT_FOLDER_NAME_LIMIT - 13]}-{digest}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="main.py train-generator", description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=["generate", "regress"], default="generate")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--minutes", type=float, default=None, help="stop early after this wall time (weights still saved)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--width", type=int, default=GeneratorConfig.width)
    p.add_argument("--layers", type=int, default=GeneratorConfig.layers)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto",
                   help="where the model trains: auto (CUDA when torch sees one, else the CPU), cpu, cuda, cuda:N")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--detector-data", type=Path, nargs="+", default=None,
                   help="folders of generate-detector-data chunks: mix real-detector samples into every batch")
    p.add_argument("--real-share", type=float, default=0.5, help="share of each batch from --detector-data")
    p.add_argument("--tokenizer", type=Path, default=TOKENIZER_PATH)
    p.add_argument("--init", type=Path, default=None, help="fine-tune: start from these generator weights")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (one-cycle)")
    p.add_argument("--augment", default="mirror",
                   help="pose augmentations of the synthesised share, as train-tokenizer's (e.g. mirror,mix,fold:0.1,wide:0.3)")
    p.add_argument("--own-share", type=float, default=0.0,
                   help="share of samples that see the model's own draws as their unmasked tokens (generate mode)")
    p.add_argument("--blind-share", type=float, default=0.0,
                   help="share of the auxiliary pose loss decoded from a forward with every token masked (generate mode)")
    p.add_argument("--self-condition", type=float, default=0.0, metavar="SHARE",
                   help="make the model self-conditioned; this share of samples sees a first forward's "
                        "distributions for its masked tokens (generate mode)")
    p.add_argument("--unroll", type=float, default=0.0, metavar="SHARE",
                   help="with --self-condition: this share of the self-conditioned samples sees the beliefs of a "
                        "second forward, as the third and later sampling iterations do")
    p.add_argument("--feedback", action="store_true",
                   help="with --self-condition: the self-conditioned samples also see how their estimate's keypoints "
                        "miss the detected ones (reprojection feedback)")
    p.add_argument("--feedback-depth", action="store_true",
                   help="with --feedback: the feedback also gives the detector's relative depth of each landmark minus "
                        "the estimate's (GeneratorConfig.feedback_depth)")
    p.add_argument("--latent-offset", action="store_true",
                   help="a continuous latent offset head beside the tokens (generate mode; see GeneratorConfig)")
    p.add_argument("--aux-share", type=float, default=AUX_SHARE,
                   help="share of each batch decoded for the auxiliary pose losses (generate mode; these alone "
                        "train the latent offset head)")
    p.add_argument("--placement", type=Path, default=None,
                   help="landmark-placement file (weights/detector/landmark_placement.json): simulate detections "
                        "that put their landmarks where MediaPipe does")
    p.add_argument("--camera-loss", type=float, default=0.0, metavar="WEIGHT",
                   help="add a joint loss in the camera's frame (orientation, pose and shape together) at this weight")
    p.add_argument("--in-plane-weight", type=float, default=1.0,
                   help="with --camera-loss: the image-plane part's weight against depth (1: a plain 3D distance)")
    args = p.parse_args(argv)
    if args.camera_loss < 0 or args.in_plane_weight < 0:
        p.error("--camera-loss and --in-plane-weight must not be negative")
    if not 0 < args.aux_share <= 1:
        p.error("--aux-share must be in (0, 1]")
    if args.latent_offset and args.mode != "generate":
        p.error("--latent-offset is for --mode generate: the regressor predicts the pose directly")
    if args.unroll and not args.self_condition:
        p.error("--unroll needs --self-condition: it deepens the self-conditioned samples")
    if args.feedback and not args.self_condition:
        p.error("--feedback needs --self-condition: the residuals come with the beliefs")
    if args.feedback_depth and not args.feedback:
        p.error("--feedback-depth needs --feedback: the depth residuals come with the 2D ones")
    for flag, value in (("--own-share", args.own_share), ("--blind-share", args.blind_share),
                        ("--self-condition", args.self_condition)):
        if value and args.mode != "generate":
            p.error(f"{flag} is for --mode generate: the regressor has no tokens in view")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    out = args.out or (GENERATOR_PATH if args.mode == "generate" else REGRESSOR_PATH)
    # One folder per configuration, so runs on different tokenizers keep their own checkpoint and log.
    tokenizer_tag = Path(args.tokenizer).stem if args.tokenizer else "shipped"
    # The data, its share and the step count are part of the key too: a fine-tune with other settings
    # must not resume another's checkpoint.
    key = (f"{args.mode}-w{args.width}-l{args.layers}-s{args.seed}-{tokenizer_tag}"
           + (f"-from-{args.init.stem}" if args.init else "")
           + (f"-real{args.real_share:g}-{'+'.join(f.name for f in args.detector_data)}"
              if args.detector_data else "")
           + (f"-{args.steps}steps" if args.init else "")
           + (f"-{args.augment.replace(',', '+').replace(':', '')}"
              if args.augment != "mirror" else "")
           + (f"-own{args.own_share:g}" if args.own_share else "")
           + (f"-blind{args.blind_share:g}" if args.blind_share else "")
           + (f"-self{args.self_condition:g}" if args.self_condition else "")
           + (f"-unroll{args.unroll:g}" if args.unroll else "")
           + ("-feedback" if args.feedback else "")
           + ("-depth" if args.feedback_depth else "")
           + ("-offset" if args.latent_offset else "")
           + (f"-aux{args.aux_share:g}" if args.aux_share != AUX_SHARE else "")
           + ("-placed" if args.placement else "")
           + (f"-cam{args.camera_loss:g}-xy{args.in_plane_weight:g}"
              if args.camera_loss else ""))
    run_dir = REPO_ROOT / "runs" / "generator" / checkpoint_folder_name(key)
    command = "python main.py train-generator " + shlex.join(argv if argv is not None else sys.argv[1:])
    card = train(args.mode, args.steps, args.minutes, args.batch, args.seed, run_dir, out, args.width, args.layers,
                 command, args.threads, args.detector_data, args.real_share, args.tokenizer, args.init, args.lr,
                 args.augment, args.own_share, args.blind_share, args.self_condition, args.unroll, args.feedback,
                 args.latent_offset, args.aux_share, args.placement, args.device, args.camera_loss,
                 args.in_plane_weight, args.feedback_depth)
    print(json.dumps({k: card[k] for k in ("steps_done", "train_time_s")}))
    return 0
