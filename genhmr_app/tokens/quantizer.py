"""Vector quantiser with an EMA codebook, dead-code reset and a straight-through estimator.

Follows the VQ-VAE-2 / TokenHMR recipe: the codebook is not trained by gradients but tracks an
exponential moving average of the encoder outputs assigned to each code; codes that stop being used
are re-seeded from current encoder outputs so the codebook does not collapse.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # (B, K, D), straight-through: forward = codes, backward = identity
    indices: torch.Tensor  # (B, K) long
    commitment_loss: torch.Tensor
    perplexity: torch.Tensor


class EMAQuantizer(nn.Module):
    def __init__(self, num_codes: int, code_dim: int, decay: float = 0.99, eps: float = 1e-5,
                 dead_threshold: float = 0.05) -> None:
        super().__init__()
        self.num_codes, self.code_dim, self.decay, self.eps = num_codes, code_dim, decay, eps
        self.dead_threshold = dead_threshold
        self.register_buffer("codebook", torch.randn(num_codes, code_dim) * 0.1)
        self.register_buffer("ema_count", torch.ones(num_codes))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("initialised", torch.tensor(False))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        flat = z.reshape(-1, self.code_dim)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)[None]
        return dist.argmin(1).reshape(z.shape[:-1])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        return F.embedding(indices, self.codebook)

    def soft_lookup(self, weights: torch.Tensor) -> torch.Tensor:
        """(B, K, C) mixture weights (e.g. softmax of logits) → (B, K, D) continuous latents."""
        return weights @ self.codebook

    @torch.no_grad()
    def _seed(self, flat: torch.Tensor) -> None:
        """Seed the codebook from data so that no code starts far from every encoder output (and, in a
        residual stack, the next level's first residuals are those of real codes)."""
        pick = torch.randint(0, flat.shape[0], (self.num_codes,), device=flat.device)
        self.codebook.copy_(flat[pick])
        self.ema_sum.copy_(flat[pick])
        self.ema_count.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, onehot: torch.Tensor) -> None:
        self.ema_count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        n = self.ema_count.sum()
        count = (self.ema_count + self.eps) / (n + self.num_codes * self.eps) * n  # Laplace smoothing
        self.codebook.copy_(self.ema_sum / count[:, None])
        dead = self.ema_count < self.dead_threshold
        if dead.any():
            pick = torch.randint(0, flat.shape[0], (int(dead.sum()),), device=flat.device)
            self.codebook[dead] = flat[pick]
            self.ema_sum[dead] = flat[pick]
            self.ema_count[dead] = 1.0

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        if self.training and not bool(self.initialised):
            self._seed(z.detach().reshape(-1, self.code_dim))
        indices = self.nearest(z)
        quantized = self.lookup(indices)
        onehot = F.one_hot(indices.reshape(-1), self.num_codes).to(z.dtype)
        if self.training:
            self._ema_update(z.detach().reshape(-1, self.code_dim), onehot)
        commitment = F.mse_loss(z, quantized.detach())
        probs = onehot.mean(0)
        perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())
        quantized = z + (quantized - z).detach()
        return QuantizerOutput(quantized, indices, commitment, perplexity)
