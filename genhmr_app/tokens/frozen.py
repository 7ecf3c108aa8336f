"""The tokenizer's decoder for CPU inference, traced and frozen by TorchScript.

Inference decodes at batch 1 to a few dozen (a hypothesis, the uncertainty prior's draws, a feedback
estimate), where PyTorch's per-operation overhead is most of the cost of the part decoders' small
MLPs: frozen, one decode takes about a quarter of the eager time, with the same outputs to ~1e-6.
The part decoders' reshapes are traced with fixed sizes, so one frozen graph is kept per batch size.
Anything that needs gradients (the refinement's latent steps) and anything off the CPU runs eagerly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genhmr_app.frozen_graphs import FrozenGraphs
from genhmr_app.tokens.model import NUM_BODY_JOINTS, PoseTokenizer, _ResBlock
from genhmr_app.tokens.rotation6d import sixd_to_rotmat


class _Decode(nn.Module):
    def __init__(self, tokenizer: PoseTokenizer) -> None:
        super().__init__()
        self.tokenizer = tokenizer

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.tokenizer.decode_latents(latents)


class _StackedPartDecode(nn.Module):
    """A part tokenizer's decoders run side by side: each layer of the five part MLPs as one batched
    matrix product over the parts, instead of five (8 products a decode instead of 40). Frozen, one
    decode took 0.70 → 0.50 ms at batch 1 and 1.08 → 0.91 ms at 16 here (fortieth session); what is left
    is mostly reading the weights. The same maths as PoseTokenizer.decode_latents, to float rounding;
    the last layer is padded to the largest part's output and the pad is dropped."""

    def __init__(self, tokenizer: PoseTokenizer) -> None:
        super().__init__()
        decoders = list(tokenizer.decoders)
        self.parts = len(decoders)
        self.depth = len(decoders[0]) - 3
        stack = lambda tensors: torch.stack([t.detach() for t in tensors])  # noqa: E731
        first = [d[0] for d in decoders]
        self.w_in, self.b_in = stack([m.weight.T for m in first]), stack([m.bias for m in first])[:, None]
        self.blocks = []
        for i in range(1, 1 + self.depth):
            blocks = [d[i].net for d in decoders]
            self.blocks.append((stack([b[0].weight for b in blocks])[:, None], stack([b[0].bias for b in blocks])[:, None],
                                stack([b[1].weight.T for b in blocks]), stack([b[1].bias for b in blocks])[:, None],
                                stack([b[3].weight.T for b in blocks]), stack([b[3].bias for b in blocks])[:, None]))
        self.ln_w = stack([d[-2].weight for d in decoders])[:, None]
        self.ln_b = stack([d[-2].bias for d in decoders])[:, None]
        self.eps = decoders[0][-2].eps
        outs = [d[-1].out_features for d in decoders]
        width = max(outs)
        self.w_out = torch.zeros(self.parts, decoders[0][-1].in_features, width)
        self.b_out = torch.zeros(self.parts, 1, width)
        for i, d in enumerate(decoders):
            self.w_out[i, :, :outs[i]] = d[-1].weight.detach().T
            self.b_out[i, 0, :outs[i]] = d[-1].bias.detach()
        # where each part's outputs go: (part, column) pairs in the order of the 23 joints' 6D numbers
        order = torch.empty(NUM_BODY_JOINTS * 6, dtype=torch.long)
        for i, joints in enumerate(tokenizer.part_joints):
            for n, j in enumerate(joints):
                order[j * 6:(j + 1) * 6] = i * width + n * 6 + torch.arange(6)
        self.order = order

    @staticmethod
    def fits(tokenizer: PoseTokenizer) -> bool:
        """Whether the tokenizer's decoders are five MLPs of one shape (a part tokenizer's)."""
        if not tokenizer.config.parts:
            return False
        shapes = {tuple(type(m).__name__ for m in d) for d in tokenizer.decoders}
        return len(shapes) == 1 and all(isinstance(m, _ResBlock) for m in tokenizer.decoders[0][1:-2])

    def _layer_norm(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], eps=self.eps) * weight + bias

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, slots, D) → (B, 23, 3, 3)."""
        b = latents.shape[0]
        x = latents.reshape(b, self.parts, -1).transpose(0, 1)  # (parts, B, per * D)
        x = torch.baddbmm(self.b_in, x, self.w_in)
        for ln_w, ln_b, w1, b1, w2, b2 in self.blocks:
            h = F.gelu(torch.baddbmm(b1, self._layer_norm(x, ln_w, ln_b), w1))
            x = x + torch.baddbmm(b2, h, w2)
        out = torch.baddbmm(self.b_out, self._layer_norm(x, self.ln_w, self.ln_b), self.w_out)  # (parts, B, width)
        sixd = out.transpose(0, 1).reshape(b, -1)[:, self.order]
        return sixd_to_rotmat(sixd.reshape(b, NUM_BODY_JOINTS, 6))


class FrozenDecoder:
    """Used in place of a PoseTokenizer at inference: decoding is frozen, all else is the tokenizer's."""

    MAX_GRAPHS = 8  # batch sizes seen in practice: 1, S hypotheses, 16·S uncertainty draws

    def __init__(self, tokenizer: PoseTokenizer) -> None:
        self.tokenizer = tokenizer
        decode = _StackedPartDecode(tokenizer) if _StackedPartDecode.fits(tokenizer) else _Decode(tokenizer)
        self._frozen = FrozenGraphs(decode, self.MAX_GRAPHS)
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
