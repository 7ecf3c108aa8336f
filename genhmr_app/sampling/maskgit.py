"""Uncertainty-guided iterative sampling (MaskGIT, Chang et al. 2022), as GenHMR uses it.

Start with every pose token masked. At each of N iterations:
1. run the transformer and sample a code for every masked token at temperature T (T=0: greedy);
2. score each newly sampled token by its confidence, the model's probability of the chosen code;
3. keep the most confident tokens and re-mask the rest, so that fewer stay masked each time
   (cosine schedule: after iteration t, floor(K · cos(π/2 · (t+1)/N)) remain masked).
Tokens kept earlier are never re-sampled. Like MaskGIT, a little Gumbel noise, annealed to zero over
the iterations and scaled by T, is added to the confidences before ranking, so that hypotheses differ
in which tokens they commit to first.

Every iteration is recorded (chosen codes, confidences, which tokens were re-masked) for the app's
uncertainty plot. S hypotheses run as one batch with independent seeded generators.

Besides the codes, each token keeps the distribution it was committed under. The refinement can start
from the expected code under those distributions (the posterior mean, `expected` in
ReconstructionSettings) instead of the sampled code: the transformer's auxiliary pose loss is taken
through exactly that mixture, so it decodes closer to the truth than one draw from it.

A self-conditioned generator (GeneratorConfig.self_condition) is sampled with soft commits: every free
token is fed as [MASK] together with its belief (the distribution it was committed under, or the last
iteration's prediction), so the spread of a draw never reaches later predictions; only tokens a person
locked are fed as codes. The drawn codes are still what the records show and the app locks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from genhmr_app.conditioning.features import ConditionBatch
from genhmr_app.generator.model import GeneratorOutput, MaskedPoseTransformer


class NonFiniteOutputError(RuntimeError):
    """The transformer produced NaN/inf logits; callers fall back or report."""


@dataclass(frozen=True)
class SamplingSettings:
    iterations: int = 5
    temperature: float = 1.0
    hypotheses: int = 1
    seed: int = 0
    # A feedback generator (GeneratorConfig.feedback): only the last this many iterations see the
    # reprojection feedback (None: every iteration after the first; 0: none). Each feedback costs a soft
    # decode and a posed body, ~1.4 ms on this CPU (frozen, refinement/feedback.FrozenFeedback). Fortieth
    # session, the shipped generator on validation scenes against None: the last 3 / 2 / 1 +0.18 / +0.09 /
    # +0.32 mm (seed 12), the last 2 +0.35 (seed 10): every iteration sees it.
    feedback_last: int | None = None


@dataclass
class IterationRecord:
    """One sampling iteration, per hypothesis: arrays are (S, K)."""

    iteration: int
    codes: np.ndarray  # the current code of every token (sampled this time or kept from before)
    confidence: np.ndarray  # probability of that code when it was chosen
    remasked: np.ndarray  # bool: sampled this iteration but sent back to [MASK]
    masked_after: np.ndarray  # bool: still masked after this iteration

    @property
    def mean_confidence(self) -> np.ndarray:
        return self.confidence.mean(axis=1)


@dataclass
class SamplingResult:
    tokens: torch.Tensor  # (S, K) final codes
    confidence: torch.Tensor  # (S, K) probability of each final code when it was committed
    log_likelihood: torch.Tensor  # (S,) sum of log-confidences: the model's score of the hypothesis
    output: GeneratorOutput  # the last iteration's forward (orientation, betas, camera)
    committed: torch.Tensor  # (S, K, C) the distribution each token was committed under (one-hot if locked)
    records: list[IterationRecord] = field(default_factory=list)


class SamplingStep(NamedTuple):
    """What `iterate` yields after each iteration."""

    record: IterationRecord
    tokens: torch.Tensor  # (S, K) the current codes, `mask_id` where still masked
    output: GeneratorOutput  # this iteration's forward
    committed: torch.Tensor  # (S, K, C) the distribution each committed token was chosen from; 0 while masked


def masked_count_after(iteration: int, iterations: int, num_tokens: int) -> int:
    """How many tokens stay masked after iteration `iteration` (0-based); 0 after the last."""
    ratio = math.cos(math.pi / 2 * (iteration + 1) / iterations)
    return int(math.floor(num_tokens * ratio + 1e-6)) if iteration + 1 < iterations else 0


def _generators(settings: SamplingSettings, device: torch.device) -> list[torch.Generator]:
    return [torch.Generator(device=device).manual_seed(settings.seed * 1000 + s) for s in range(settings.hypotheses)]


def draw_codes(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(K, C) probabilities → (K,) one code drawn from each row, by inverting its cumulative distribution.
    The same law as torch.multinomial(probs, 1), whose one-draw path on the CPU draws an exponential for
    every code: 0.54 ms for 40 x 512 against 0.03 ms here (one thread), five times a still."""
    cdf = probs.double().cumsum(-1)
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device, dtype=cdf.dtype) * cdf[:, -1:]
    # right=True: a code of probability 0 spans an empty interval, so it is never drawn
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp_max(probs.shape[-1] - 1)


def _sample_codes(probs: torch.Tensor, temperature: float, gens: list[torch.Generator]) -> torch.Tensor:
    if temperature <= 0:
        return probs.argmax(-1)
    tempered = torch.softmax(torch.log(probs.clamp_min(1e-12)) / temperature, dim=-1)
    return torch.stack([draw_codes(tempered[s], g) for s, g in enumerate(gens)])


FeedbackFn = Callable[[torch.Tensor, GeneratorOutput, ConditionBatch], torch.Tensor]


def iterate(model: MaskedPoseTransformer, condition: ConditionBatch, settings: SamplingSettings,
            start_tokens: torch.Tensor | None = None, feedback_fn: FeedbackFn | None = None) -> Iterator[SamplingStep]:
    """Yield a SamplingStep after every iteration. The app shows partial results from these; `sample`
    runs it to the end.

    `start_tokens` (K,) or (S, K): tokens a person locked, with `model.mask_id` at the free positions.
    Only the free positions are sampled (the schedule counts them alone); locked tokens are never
    re-masked, so they come out identical.
    `feedback_fn(beliefs (S, K, C), output, condition) → (S, 33, 2)`: the reprojection residuals of the
    estimate so far, for a feedback generator (others ignore it; without it such a model sees none)."""
    if settings.iterations < 1 or settings.hypotheses < 1:
        raise ValueError("iterations and hypotheses must be at least 1")
    if settings.feedback_last is not None and settings.feedback_last < 0:
        raise ValueError("feedback_last is a number of iterations (0 or more) or None")
    device = condition.tokens.device
    s, k = settings.hypotheses, model.config.num_tokens
    cond = condition.repeat(s) if condition.tokens.shape[0] == 1 else condition
    gens = _generators(settings, device)
    mask_id = model.mask_id
    tokens = torch.full((s, k), mask_id, dtype=torch.long, device=device)
    if start_tokens is not None:
        tokens = torch.as_tensor(start_tokens, dtype=torch.long, device=device).reshape(-1, k).expand(s, k).clone()
    free = int((tokens[0] == mask_id).sum())
    confidence = torch.where(tokens == mask_id, 0.0, 1.0).to(device)
    c = model.config.codebook_size
    locked = tokens != mask_id
    committed = torch.zeros(s, k, c, device=device)
    committed[locked] = torch.nn.functional.one_hot(tokens[locked], c).float()
    self_conditioned = model.config.self_condition
    # Soft commits: the sampler's own commitments are seen as beliefs, not as drawn codes (a draw would
    # add its spread to every later prediction); only a person's locked tokens are fed as codes.
    soft_inputs = torch.where(locked, tokens, torch.full_like(tokens, mask_id)) if self_conditioned else None
    previous = feedback = None
    with_feedback = feedback_fn is not None and getattr(model.config, "feedback", False)
    for it in range(settings.iterations):
        if not self_conditioned:
            out = model(cond.tokens, tokens)
        elif feedback is None:
            out = model(cond.tokens, soft_inputs, previous)
        else:
            out = model(cond.tokens, soft_inputs, previous, feedback)
        if not bool(torch.isfinite(out.logits).all()):
            raise NonFiniteOutputError(f"non-finite logits at sampling iteration {it + 1}")
        probs = torch.softmax(out.logits.float(), dim=-1)
        masked = tokens == mask_id
        sampled = _sample_codes(probs, settings.temperature, gens)
        sampled_conf = probs.gather(-1, sampled[..., None]).squeeze(-1)
        candidate = torch.where(masked, sampled, tokens)
        cand_conf = torch.where(masked, sampled_conf, confidence)
        n_keep_masked = masked_count_after(it, settings.iterations, free)
        remask = torch.zeros_like(masked)
        if n_keep_masked > 0:
            score = torch.log(cand_conf.clamp_min(1e-12))
            anneal = settings.temperature * (1 - (it + 1) / settings.iterations)
            if anneal > 0:
                u = torch.stack([torch.rand(k, generator=g, device=device) for g in gens])
                score = score + anneal * -torch.log(-torch.log(u.clamp(1e-9, 1 - 1e-9)))
            score = torch.where(masked, score, torch.full_like(score, float("inf")))  # never re-mask kept tokens
            lowest = score.argsort(dim=-1)[:, :n_keep_masked]
            remask.scatter_(1, lowest, True)
        committed = torch.where((masked & ~remask)[..., None], probs, committed)
        if self_conditioned:  # each free token's belief: as committed, or this iteration's prediction
            previous = torch.where(locked[..., None], torch.zeros_like(probs),
                                   torch.where(remask[..., None], probs, committed))
            # the next iteration sees the estimate so far (beliefs and locked codes), if it is one of those asked
            seen_next = settings.feedback_last is None or it + 1 >= settings.iterations - settings.feedback_last
            if with_feedback and it + 1 < settings.iterations and seen_next:
                feedback = feedback_fn(torch.where(locked[..., None], committed, previous), out, cond)
        tokens = torch.where(remask, torch.full_like(candidate, mask_id), candidate)
        confidence = torch.where(remask, torch.zeros_like(cand_conf), cand_conf)
        record = IterationRecord(
            iteration=it,
            codes=candidate.cpu().numpy(),
            confidence=cand_conf.float().cpu().numpy(),
            remasked=remask.cpu().numpy(),
            masked_after=(tokens == mask_id).cpu().numpy(),
        )
        yield SamplingStep(record, tokens, out, committed)


@torch.no_grad()
def sample(model: MaskedPoseTransformer, condition: ConditionBatch, settings: SamplingSettings = SamplingSettings()
           ) -> SamplingResult:
    records: list[IterationRecord] = []
    step = None
    for step in iterate(model, condition, settings):
        records.append(step.record)
    # Orientation, shape and camera from the last iteration's forward, as the app's reconstructor takes
    # them (one more forward with the drawn codes in view measured within 0.2 mm, tenth session).
    conf = torch.as_tensor(records[-1].confidence, device=step.tokens.device)
    return SamplingResult(step.tokens, conf, torch.log(conf.clamp_min(1e-12)).sum(-1), step.output, step.committed,
                          records)
