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

    @property
    def name(self) -> str:
        return f"K{self.num_tokens}-C{self.codebook_size}-D{self.code_dim}"


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
    def __init__(self, config: TokenizerConfig = TokenizerConfig()) -> None:
        super().__init__()
        self.config = config
        k, d = config.num_tokens, config.code_dim
        self.encoder = _mlp(NUM_BODY_JOINTS * 6, config.hidden, k * d, config.depth)
        self.decoder = _mlp(k * d, config.hidden, NUM_BODY_JOINTS * 6, config.depth)
        self.quantizer = EMAQuantizer(config.codebook_size, d)

    # -- the pieces ------------------------------------------------------------------------
    def encode_latents(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(B, 23, 3, 3) → continuous pre-quantisation latents (B, K, D)."""
        x = rotmat_to_6d(body_pose).reshape(body_pose.shape[0], -1)
        return self.encoder(x).reshape(-1, self.config.num_tokens, self.config.code_dim)

    def encode(self, body_pose: torch.Tensor) -> torch.Tensor:
        """(B, 23, 3, 3) → token indices (B, K)."""
        return self.quantizer.nearest(self.encode_latents(body_pose))

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Continuous (B, K, D) latents → (B, 23, 3, 3). Differentiable: refinement optimises these."""
        out = self.decoder(latents.reshape(latents.shape[0], -1))
        return sixd_to_rotmat(out.reshape(-1, NUM_BODY_JOINTS, 6))

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Token indices (B, K) → (B, 23, 3, 3)."""
        return self.decode_latents(self.quantizer.lookup(indices))

    def decode_soft(self, weights: torch.Tensor) -> torch.Tensor:
        """Soft codebook mixtures (B, K, C), rows summing to 1 → (B, 23, 3, 3)."""
        return self.decode_latents(self.quantizer.soft_lookup(weights))

    def forward(self, body_pose: torch.Tensor) -> TokenizerOutput:
        q: QuantizerOutput = self.quantizer(self.encode_latents(body_pose))
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
