"""The pose tokenizer network: 23 joint rotations (6D) ↔ K tokens from a C x D codebook.

An MLP encoder/decoder over the whole body: every token can describe correlated motion of several
joints, which a per-joint code cannot, and at our sizes (138 inputs) an MLP is both the fastest and the
most accurate choice on a CPU. The decoder also accepts continuous latents and soft codebook mixtures,
which the 2D-guided refinement optimises.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from genhmr_app.checkpoints import load_state, open_checkpoint, save_checkpoint
from genhmr_app.tokens.quantizer import EMAQuantizer, QuantizerOutput
from genhmr_app.tokens.rotation6d import rotmat_to_6d, sixd_to_rotmat

NUM_BODY_JOINTS = 23


class TokenizerCheckpointError(Exception):
    """A tokenizer file that is missing, corrupt or from another configuration."""


@dataclass(frozen=True)
class TokenizerConfig:
    num_tokens: int = 16  # K
    codebook_size: int = 512  # C
    code_dim: int = 32  # D
    hidden: int = 512
    depth: int = 3  # residual MLP blocks on each side
    # Residual quantisation: each latent slot is the sum of `levels` codes, one token per level, so the
    # K tokens describe K / levels slots. More levels keep finer pose detail for the same codebook.
    levels: int = 1
    # Part-local encoders (torso, two legs, two arms), each owning K / levels / 5 slots: a token then
    # describes one body part, and unseen combinations of known part poses stay representable.
    parts: bool = False

    def __post_init__(self) -> None:
        if self.num_tokens % self.levels:
            raise ValueError(f"num_tokens {self.num_tokens} is not a multiple of levels {self.levels}")
        if self.parts and self.slots % len(BODY_PARTS):
            raise ValueError(f"{self.slots} latent slots cannot be split over {len(BODY_PARTS)} body parts")

    @property
    def slots(self) -> int:
        """Continuous latent slots (B, slots, D) that the decoder reads."""
        return self.num_tokens // self.levels

    @property
    def name(self) -> str:
        extra = ((f"-H{self.hidden}" if self.hidden != 512 else "") + (f"-L{self.levels}" if self.levels > 1 else "")
                 + ("-parts" if self.parts else ""))
        return f"K{self.num_tokens}-C{self.codebook_size}-D{self.code_dim}{extra}"


# Body parts as indices into body_pose (SMPL joint index - 1): spine1..head, the legs hip → foot,
# the arms collar → hand. Together they cover the 23 body joints once.
BODY_PARTS: dict[str, tuple[int, ...]] = {
    "torso": (2, 5, 8, 11, 14),
    "left_leg": (0, 3, 6, 9),
    "right_leg": (1, 4, 7, 10),
    "left_arm": (12, 15, 17, 19, 21),
    "right_arm": (13, 16, 18, 20, 22),
}


class _ResBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.GELU(), nn.Linear(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def _mlp(n_in: int, width: int, n_out: int, depth: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), *[_ResBlock(width) for _ in range(depth)],
                         nn.LayerNorm(width), nn.Linear(width, n_out))


@dataclass
class TokenizerOutput:
    body_pose: torch.Tensor  # (B, 23, 3, 3) decoded rotations
    indices: torch.Tensor  # (B, K)
    commitment_loss: torch.Tensor
    perplexity: torch.Tensor


class PoseTokenizer(nn.Module):
    """Tokens are ordered level-major: tokens[:, l * slots + s] is level l of latent slot s."""

    def __init__(self, config: TokenizerConfig = TokenizerConfig()) -> None:
        super().__init__()
        self.config = config
        s, d = config.slots, config.code_dim
        if config.parts:
            per = s // len(BODY_PARTS)
            self.part_joints = [list(j) for j in BODY_PARTS.values()]
            self.encoders = nn.ModuleList(_mlp(len(j) * 6, config.hidden, per * d, config.depth) for j in self.part_joints)
            self.decoders = nn.ModuleList(_mlp(per * d, config.hidden, len(j) * 6, config.depth) for j in self.part_joints)
        else:
            self.encoder = _mlp(NUM_BODY_JOINTS * 6, config.hidden, s * d, config.depth)
            self.decoder = _mlp(s * d, config.hidden, NUM_BODY_JOINTS * 6, config.depth)
        self.quantizer = EMAQuantizer(config.codebook_size, d)  # level 0 (the name old files use)
        self.residual_quantizers = nn.ModuleList(EMAQuantizer(config.codebook_size, d) for _ in range(config.levels - 1))

    @property
    def quantizers(self) -> list[EMAQuantizer]:
        return [self.quantizer, *self.residual_quantizers]

    # -- the pieces ------------------------------------------------------------------------
    def encode_latents(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(B, 23, 3, 3) → continuous pre-quantisation latents (B, slots, D)."""
        x = rotmat_to_6d(body_pose)  # (B, 23, 6)
        b, d = x.shape[0], self.config.code_dim
        if self.config.parts:
            return torch.cat([enc(x[:, j].reshape(b, -1)).reshape(b, -1, d)
                              for enc, j in zip(self.encoders, self.part_joints)], dim=1)
        return self.encoder(x.reshape(b, -1)).reshape(b, self.config.slots, d)

    def quantize(self, latents: torch.Tensor) -> QuantizerOutput:
        """(B, slots, D) → residual quantisation over all levels; indices (B, K) level-major."""
        residual, codes, indices, commit, perplexity = latents, 0.0, [], 0.0, 0.0
        for q in self.quantizers:
            out = q(residual)
            residual = residual - out.quantized.detach()
            codes = codes + out.quantized.detach()
            indices.append(out.indices)
            commit, perplexity = commit + out.commitment_loss, perplexity + out.perplexity
        n = len(self.quantizers)
        quantized = latents + (codes - latents).detach()  # straight-through for the sum of all levels
        return QuantizerOutput(quantized, torch.cat(indices, dim=1), commit / n, perplexity / n)

    def encode(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(B, 23, 3, 3) → token indices (B, K)."""
        latents = self.encode_latents(body_pose)
        indices = []
        for q in self.quantizers:
            idx = q.nearest(latents)
            latents = latents - q.lookup(idx)
            indices.append(idx)
        return torch.cat(indices, dim=1)

    def latents(self, indices: torch.Tensor) -> torch.Tensor:
        """Token indices (B, K) → the decoder's continuous latents (B, slots, D)."""
        s = self.config.slots
        return sum(q.lookup(indices[:, i * s:(i + 1) * s]) for i, q in enumerate(self.quantizers))

    def soft_latents(self, weights: torch.Tensor) -> torch.Tensor:
        """Soft codebook mixtures (B, K, C) → (B, slots, D)."""
        s = self.config.slots
        return sum(q.soft_lookup(weights[:, i * s:(i + 1) * s]) for i, q in enumerate(self.quantizers))

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Continuous (B, slots, D) latents → (B, 23, 3, 3). Differentiable: refinement optimises these."""
        b = latents.shape[0]
        if self.config.parts:
            per = self.config.slots // len(BODY_PARTS)
            out = latents.new_empty(b, NUM_BODY_JOINTS, 6)
            for i, (dec, j) in enumerate(zip(self.decoders, self.part_joints)):
                out[:, j] = dec(latents[:, i * per:(i + 1) * per].reshape(b, -1)).reshape(b, len(j), 6)
        else:
            out = self.decoder(latents.reshape(b, -1))
        return sixd_to_rotmat(out.reshape(-1, NUM_BODY_JOINTS, 6))

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Token indices (B, K) → (B, 23, 3, 3)."""
        return self.decode_latents(self.latents(indices))

    def decode_soft(self, weights: torch.Tensor) -> torch.Tensor:
        """Soft codebook mixtures (B, K, C), rows summing to 1 → (B, 23, 3, 3)."""
        return self.decode_latents(self.soft_latents(weights))

    def forward(self, body_pose: torch.Tensor) -> TokenizerOutput:
        q = self.quantize(self.encode_latents(body_pose))
        return TokenizerOutput(self.decode_latents(q.quantized), q.indices, q.commitment_loss, q.perplexity)

    @property
    def codebook(self) -> torch.Tensor:
        return self.quantizer.codebook


# -- files -----------------------------------------------------------------------------------
FORMAT = "genhmr-pose-tokenizer/1"


def save_tokenizer(model: PoseTokenizer, path: Path, card: dict | None = None) -> None:
    save_checkpoint(path, FORMAT, asdict(model.config), model.state_dict(), card)


def load_tokenizer(path: Path, expected: TokenizerConfig | None = None, device: str | torch.device = "cpu") -> PoseTokenizer:
    blob = open_checkpoint(path, FORMAT, "Tokenizer", TokenizerCheckpointError,
                           "Train them with `python main.py train-tokenizer`.", device)
    config = TokenizerConfig(**blob["config"])
    if expected is not None and expected != config:
        diffs = ", ".join(f"{k}: file {v} vs expected {getattr(expected, k)}"
                          for k, v in asdict(config).items() if getattr(expected, k) != v)
        raise TokenizerCheckpointError(f"Tokenizer {Path(path).name} has another configuration ({diffs}).")
    model = PoseTokenizer(config)
    load_state(model, blob, path, "Tokenizer", TokenizerCheckpointError)
    return model.to(device).eval()
