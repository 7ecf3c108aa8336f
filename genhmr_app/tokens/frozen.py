"""The tokenizer's decoder for CPU inference, traced and frozen by TorchScript.

Inference decodes at batch 1 to a few dozen (a hypothesis, the uncertainty prior's draws, a feedback
estimate), where PyTorch's per-operation overhead is most of the cost of the part decoders' small
MLPs: frozen, one decode takes about a quarter of the eager time, with the same outputs to ~1e-6.
The part decoders' reshapes are traced with fixed sizes, so one frozen graph is kept per batch size.
Anything that needs gradients (the refinement's latent steps) and anything off the CPU runs eagerly.
"""

from __future__ import annotations

import torch
from torch import nn

from genhmr_app.frozen_graphs import FrozenGraphs
from genhmr_app.tokens.model import PoseTokenizer


class _Decode(nn.Module):
    def __init__(self, tokenizer: PoseTokenizer) -> None:
        super().__init__()
        self.tokenizer = tokenizer

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.tokenizer.decode_latents(latents)


class FrozenDecoder:
    """Used in place of a PoseTokenizer at inference: decoding is frozen, all else is the tokenizer's."""

    MAX_GRAPHS = 8  # batch sizes seen in practice: 1, S hypotheses, 16·S uncertainty draws

    def __init__(self, tokenizer: PoseTokenizer) -> None:
        self.tokenizer = tokenizer
        self._frozen = FrozenGraphs(_Decode(tokenizer), self.MAX_GRAPHS)
        self._traceable = next(tokenizer.parameters()).device.type == "cpu"
        if self._traceable:  # batch 1 (a live frame, a hypothesis) is traced now, with the models' loading
            self._frozen.graph(1, (torch.zeros(1, tokenizer.config.slots, tokenizer.config.code_dim),))

    @property
    def _graphs(self) -> dict:
        return self._frozen.graphs

    def __getattr__(self, name: str):  # config, latents, soft_latents, encode, ...: the tokenizer's own
        return getattr(self.tokenizer, name)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, slots, D) → (B, 23, 3, 3), as PoseTokenizer.decode_latents."""
        if not self._traceable or (torch.is_grad_enabled() and latents.requires_grad) or latents.device.type != "cpu":
            return self.tokenizer.decode_latents(latents)
        return self._frozen.run(latents.shape[0], latents)

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        return self.decode_latents(self.tokenizer.latents(indices))

    def decode_soft(self, weights: torch.Tensor) -> torch.Tensor:
        return self.decode_latents(self.tokenizer.soft_latents(weights))


__all__ = ["FrozenDecoder"]
