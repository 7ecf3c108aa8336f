"""The masked transformer: condition tokens + K pose tokens → a distribution over the codebook for every
pose token, plus global orientation, shape and camera.

Sequence layout: [M condition tokens][1 global token][K pose tokens]. The 34 condition features
(33 landmarks + the crop/camera token) are mixed by an MLP into M=8 condition tokens: a token per
landmark would triple the sequence, and the sequence length is what training time on two CPU cores
pays for. Masked pose positions hold a learned [MASK] embedding. Bidirectional self-attention over the
whole sequence (as in MaskGIT); at our size (d=128, 4 layers, 25 tokens) one forward is ~2 ms on a
CPU, so N sampling iterations cost N full forwards and no key/value cache is needed.

`mode="regress"` builds the deterministic baseline of the benchmark from the same trunk: no pose
tokens are fed, and a head on the global token predicts the 23 joint rotations (6D) directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from genhmr_app.checkpoints import load_state, open_checkpoint, save_checkpoint
from genhmr_app.conditioning.features import FEATURE_DIM, NUM_CONDITION_TOKENS
from genhmr_app.tokens.rotation6d import sixd_to_rotmat

NUM_BETAS = 10
NUM_FEEDBACK_LANDMARKS = 33  # MediaPipe's landmarks, the ones the condition holds


class GeneratorCheckpointError(Exception):
    """A generator file that is missing, corrupt, or does not match the tokenizer."""


@dataclass(frozen=True)
class GeneratorConfig:
    num_tokens: int = 16  # K, must equal the tokenizer's
    codebook_size: int = 512  # C, must equal the tokenizer's
    width: int = 128
    layers: int = 4
    heads: int = 4
    dropout: float = 0.1
    mode: str = "generate"  # or "regress" (deterministic baseline)
    condition_tokens: int = NUM_CONDITION_TOKENS
    condition_dim: int = FEATURE_DIM
    condition_slots: int = 8  # M tokens the condition is mixed into
    # Self-conditioning (Chen et al. 2022, "Analog Bits"): from the second sampling iteration on, every
    # free token is also given its belief so far (sampling/maskgit.py), so an iteration can build on
    # the last one's estimate instead of starting from [MASK] again. Eleventh session: a 3,000-step
    # fine-tune into it measured within noise of the shipped generator; not shipped.
    self_condition: bool = False
    # Reprojection feedback (twelfth session; needs self_condition): from the second iteration on, the
    # model also sees where its current estimate's keypoints project against the detected ones (the
    # residual per landmark, in crop units), as iterative error feedback (Carreira et al. 2016; HMR).
    # An iteration then sees how its estimate misses the image, which a single forward cannot. Fortieth
    # session: the shipped generator fine-tuned into it four times 2,400 steps beats its own N=1 on the
    # bench by 1.2 mm and 0.1 px (docs/candidates/generator_round40_feedback.json), but the live path
    # does not keep up with the still path it improves; not shipped yet.
    feedback: bool = False
    # Depth in the feedback too (thirty-ninth session; needs feedback): besides each landmark's 2D residual,
    # MediaPipe's relative depth of it minus the estimate's (the condition's z channel against the posed
    # body's). The joint fit after the generator pulls the body onto the 2D keypoints, which undoes most
    # of what the 2D feedback corrects (validation: N=5 − N=1 −1.9 mm before the fit, −0.2 after); depth
    # is what the fit leaves to the generator.
    feedback_depth: bool = False
    # A continuous offset to the latents the tokens decode from (thirteenth session). Every pose
    # position also predicts a latent vector; those of one slot's levels are summed and added to the
    # expected codes. Why: from perfect detector output the tokens alone landed 76 mm from the truth
    # where the regressor's continuous head reached 51; the second residual level was predicted at
    # chance (8% of codes) and added nothing, though the true codes there take 64 mm down to the 13 mm
    # floor. The categorical tokens stay for sampling and uncertainty; the fine detail is regressed.
    # 0: none; otherwise the tokenizer's code dimension, with `latent_slots` its latent slots.
    latent_offset_dim: int = 0
    latent_slots: int = 0

    @property
    def feedback_channels(self) -> int:
        """Numbers per landmark in the feedback: (u, v), or (u, v, z) with feedback_depth."""
        return 3 if self.feedback_depth else 2


@dataclass
class GeneratorOutput:
    logits: torch.Tensor | None  # (B, K, C); None in regress mode
    body_pose: torch.Tensor | None  # (B, 23, 3, 3) only in regress mode
    global_orient: torch.Tensor  # (B, 3, 3) camera frame
    betas: torch.Tensor  # (B, 10)
    cam: torch.Tensor  # (B, 3) weak perspective (s, tx, ty) in crop units
    latent_offset: torch.Tensor | None = None  # (B, slots, D) added to the tokens' latents; None: no offset head


class MaskedPoseTransformer(nn.Module):
    def __init__(self, config: GeneratorConfig = GeneratorConfig()) -> None:
        super().__init__()
        self.config = c = config
        self.mask_id = c.codebook_size
        flat = c.condition_tokens * c.condition_dim
        self.cond_in = nn.Sequential(nn.Linear(flat, 4 * c.width), nn.GELU(), nn.Linear(4 * c.width, 4 * c.width),
                                     nn.GELU(), nn.Linear(4 * c.width, c.condition_slots * c.width))
        self.cond_pos = nn.Parameter(torch.zeros(1, c.condition_slots, c.width))
        self.global_token = nn.Parameter(torch.zeros(1, 1, c.width))
        n_pose = c.num_tokens if c.mode == "generate" else 0
        self.token_embed = nn.Embedding(c.codebook_size + 1, c.width) if n_pose else None
        self.pose_pos = nn.Parameter(torch.zeros(1, n_pose, c.width)) if n_pose else None
        # The previous beliefs enter as their expected code embedding (the learned table's scale, so the
        # projection learns quickly) through a projection that is zero at the start: a model fine-tuned
        # into self-conditioning begins exactly as it was.
        self.previous_proj = nn.Linear(c.width, c.width, bias=False) if n_pose and c.self_condition else None
        if self.previous_proj is not None:
            nn.init.zeros_(self.previous_proj.weight)
        if c.feedback and not (n_pose and c.self_condition):
            raise ValueError("reprojection feedback needs a self-conditioned generate-mode model")
        if c.feedback_depth and not c.feedback:
            raise ValueError("depth feedback is part of the reprojection feedback (feedback=True)")
        # Residuals (33 landmarks x 2 or 3) into the condition slots and the global token. No biases: a zero
        # residual (no estimate yet, or a perfect fit) adds nothing; the output layer starts at zero, so
        # a model fine-tuned into feedback begins exactly as it was.
        self.feedback_in = nn.Sequential(
            nn.Linear(NUM_FEEDBACK_LANDMARKS * c.feedback_channels, 2 * c.width, bias=False), nn.GELU(),
            nn.Linear(2 * c.width, (c.condition_slots + 1) * c.width, bias=False)) if c.feedback else None
        if self.feedback_in is not None:
            nn.init.zeros_(self.feedback_in[2].weight)
        layer = nn.TransformerEncoderLayer(c.width, c.heads, 4 * c.width, c.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.trunk = nn.TransformerEncoder(layer, c.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(c.width)
        self.token_head = nn.Linear(c.width, c.codebook_size) if n_pose else None
        self.pose_head = nn.Linear(c.width, 23 * 6) if c.mode == "regress" else None
        if c.latent_offset_dim and not (n_pose and c.latent_slots and c.num_tokens % c.latent_slots == 0):
            raise ValueError("a latent offset needs a generate-mode model whose tokens are whole levels of its slots")
        # Zero at the start: a model fine-tuned into the offset begins exactly as it was.
        self.latent_head = nn.Linear(c.width, c.latent_offset_dim) if c.latent_offset_dim else None
        if self.latent_head is not None:
            nn.init.zeros_(self.latent_head.weight)
            nn.init.zeros_(self.latent_head.bias)
        # Orientation starts near "upright, facing the camera", cam near a typical framing: the
        # network then learns residuals instead of climbing out of a degenerate start.
        self.orient_head = nn.Linear(c.width, 6)
        self.betas_head = nn.Linear(c.width, NUM_BETAS)
        self.cam_head = nn.Linear(c.width, 3)
        for p in (self.cond_pos, self.global_token) + ((self.pose_pos,) if n_pose else ()):
            nn.init.normal_(p, std=0.02)
        nn.init.zeros_(self.orient_head.weight)
        with torch.no_grad():
            self.orient_head.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, -1.0, 0.0]))
        nn.init.zeros_(self.cam_head.weight)
        with torch.no_grad():
            self.cam_head.bias.copy_(torch.tensor([0.9, 0.0, 0.0]))

    def forward(self, condition: torch.Tensor, tokens: torch.Tensor | None = None,
                previous: torch.Tensor | None = None, feedback: torch.Tensor | None = None) -> GeneratorOutput:
        """condition (B, 34, 8); tokens (B, K) long with `mask_id` at masked positions (generate mode);
        previous (B, K, C): each free token's belief (the distribution it was committed under, or the
        last iteration's prediction), zero rows for tokens fed as codes; used only by a self-conditioned
        model (None: the first iteration, no beliefs yet). feedback (B, 33, 2), or (B, 33, 3) with
        feedback_depth: the detected landmarks minus the current estimate's, in crop units
        (refinement/feedback.py); used only by a feedback model."""
        b = condition.shape[0]
        cond = self.cond_in(condition.reshape(b, -1)).reshape(b, self.config.condition_slots, -1)
        parts = [cond + self.cond_pos, self.global_token.expand(b, -1, -1)]
        if self.feedback_in is not None and feedback is not None:
            added = self.feedback_in(feedback.reshape(b, -1).to(cond.dtype)).reshape(b, self.config.condition_slots + 1, -1)
            parts = [parts[0] + added[:, :-1], parts[1] + added[:, -1:]]
        if self.token_embed is not None:
            if tokens is None:
                tokens = torch.full((b, self.config.num_tokens), self.mask_id, dtype=torch.long, device=condition.device)
            pose = self.token_embed(tokens) + self.pose_pos
            if self.previous_proj is not None and previous is not None:
                expected = previous.to(pose.dtype) @ self.token_embed.weight[: self.config.codebook_size]
                pose = pose + self.previous_proj(expected)
            parts.append(pose)
        h = self.norm(self.trunk(torch.cat(parts, dim=1)))
        g = h[:, self.config.condition_slots]
        logits = body_pose = offset = None
        if self.token_head is not None:
            logits = self.token_head(h[:, self.config.condition_slots + 1:])
        if self.latent_head is not None:  # each slot's levels summed, as residual quantisation sums them
            c = self.config
            offset = self.latent_head(h[:, c.condition_slots + 1:]).reshape(
                b, c.num_tokens // c.latent_slots, c.latent_slots, -1).sum(1)
        if self.pose_head is not None:
            body_pose = sixd_to_rotmat(self.pose_head(g).reshape(b, 23, 6))
        cam = self.cam_head(g)
        cam = torch.cat([nn.functional.softplus(cam[:, :1] * 4) / 4 + 1e-3, cam[:, 1:]], dim=1)
        return GeneratorOutput(logits, body_pose, sixd_to_rotmat(self.orient_head(g)), self.betas_head(g), cam, offset)


FORMAT = "genhmr-generator/1"


def save_generator(model: MaskedPoseTransformer, path: Path, tokenizer_sha: str, card: dict | None = None) -> None:
    save_checkpoint(path, FORMAT, asdict(model.config), model.state_dict(), card, tokenizer_sha=tokenizer_sha)


def load_generator(path: Path, tokenizer_config=None, tokenizer_sha: str | None = None,
                   device: str | torch.device = "cpu") -> MaskedPoseTransformer:
    blob = open_checkpoint(path, FORMAT, "Generator", GeneratorCheckpointError,
                           "Train them with `python main.py train-generator`.", device)
    config = GeneratorConfig(**blob["config"])
    name = Path(path).name
    if tokenizer_config is not None and config.mode == "generate" and (
            config.num_tokens != tokenizer_config.num_tokens or config.codebook_size != tokenizer_config.codebook_size):
        raise GeneratorCheckpointError(
            f"{name} was trained for {config.num_tokens} tokens x {config.codebook_size} codes, but the tokenizer "
            f"has {tokenizer_config.num_tokens} x {tokenizer_config.codebook_size}: the weights don't match its codebook.")
    if tokenizer_sha is not None and blob.get("tokenizer_sha") not in (None, tokenizer_sha):
        raise GeneratorCheckpointError(
            f"{name} was trained with another tokenizer (sha {blob.get('tokenizer_sha', '?')[:12]} vs "
            f"{tokenizer_sha[:12]}): its token ids would mean different poses. Retrain or restore the matching tokenizer.")
    model = MaskedPoseTransformer(config)
    load_state(model, blob, path, "Generator", GeneratorCheckpointError)
    return model.to(device).eval()
