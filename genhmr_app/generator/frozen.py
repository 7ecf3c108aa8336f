"""The generator for CPU inference, traced and frozen by TorchScript.

A live frame runs the generator once and a still N times, at batch 1 to a few hypotheses, where
PyTorch's per-operation overhead is most of the cost: traced, frozen (weights folded in as constants)
and optimised for inference, one call takes ~3 ms instead of ~5 on one CPU thread, with the same
outputs to ~1e-5. Training and GPUs use the eager module; if tracing fails, so does inference.
"""

from __future__ import annotations

import logging
import warnings

import torch
from torch import nn

from genhmr_app.generator.model import NUM_FEEDBACK_LANDMARKS, GeneratorOutput, MaskedPoseTransformer

log = logging.getLogger(__name__)


class _Outputs(nn.Module):
    """The generator with tensors out (TorchScript traces tensors, not dataclasses)."""

    def __init__(self, model: MaskedPoseTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, condition: torch.Tensor, tokens: torch.Tensor, previous: torch.Tensor | None = None,
                feedback: torch.Tensor | None = None):
        out = self.model(condition, tokens, previous, feedback)
        if out.latent_offset is not None:
            return out.logits, out.global_orient, out.betas, out.cam, out.latent_offset
        return out.logits, out.global_orient, out.betas, out.cam


class FrozenGenerator(nn.Module):
    """Called like MaskedPoseTransformer (generate mode); `model` stays for its config and weights."""

    def __init__(self, model: MaskedPoseTransformer) -> None:
        super().__init__()
        self.model = model
        self.config, self.mask_id = model.config, model.mask_id
        c = model.config
        example = (torch.zeros(1, c.condition_tokens, c.condition_dim),
                   torch.full((1, c.num_tokens), model.mask_id, dtype=torch.long))
        if c.self_condition:  # traced with the previous distributions as a third input (zeros: none yet)
            example = example + (torch.zeros(1, c.num_tokens, c.codebook_size),)
        if c.feedback:  # and the reprojection residuals as a fourth (zeros: nothing to correct)
            example = example + (torch.zeros(1, NUM_FEEDBACK_LANDMARKS, c.feedback_channels),)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on the transformer's fast-path checks
            traced = torch.jit.trace(_Outputs(model.eval()), example, check_trace=False)
            self._frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
            self._frozen(*example)  # the first call optimises the graph further: pay it now

    def forward(self, condition: torch.Tensor, tokens: torch.Tensor | None = None,
                previous: torch.Tensor | None = None, feedback: torch.Tensor | None = None) -> GeneratorOutput:
        b, c = condition.shape[0], self.config
        if tokens is None:
            tokens = torch.full((b, c.num_tokens), self.mask_id, dtype=torch.long, device=condition.device)
        inputs = (condition, tokens)
        if c.self_condition:
            if previous is None:
                previous = torch.zeros(b, c.num_tokens, c.codebook_size, device=condition.device)
            inputs = inputs + (previous,)
        if c.feedback:
            if feedback is None:
                feedback = torch.zeros(b, NUM_FEEDBACK_LANDMARKS, c.feedback_channels, device=condition.device)
            inputs = inputs + (feedback,)
        logits, orient, betas, cam, *offset = self._frozen(*inputs)
        return GeneratorOutput(logits, None, orient, betas, cam, offset[0] if offset else None)


def for_cpu_inference(model: MaskedPoseTransformer) -> nn.Module:
    """A FrozenGenerator for a generate-mode model on the CPU; the model itself otherwise, or when
    TorchScript cannot trace it."""
    if model.config.mode != "generate" or next(model.parameters()).device.type != "cpu":
        return model
    try:
        return FrozenGenerator(model)
    except Exception as exc:  # noqa: BLE001 - eager inference is correct, only slower
        log.info("generator not traced (%s); running it eagerly", exc)
        return model


__all__ = ["FrozenGenerator", "for_cpu_inference"]
