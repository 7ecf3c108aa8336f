"""Uncertainty-guided refinement (refinement/uncertainty.py): the joint fit's prior from the generator's
token distributions, on a small untrained tokenizer (no weights needed)."""

from __future__ import annotations

import pytest
import torch

from genhmr_app.refinement.uncertainty import UncertaintyPriorSettings, joint_prior_weights, joint_spread
from genhmr_app.tokens.model import PoseTokenizer, TokenizerConfig


@pytest.fixture(scope="module")
def tokenizer():
    torch.manual_seed(0)
    return PoseTokenizer(TokenizerConfig(num_tokens=8, codebook_size=64, code_dim=16, hidden=128, depth=1)).eval()


def test_certain_tokens_give_no_spread_and_the_firmest_prior(tokenizer):
    codes = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(1))
    certain = torch.nn.functional.one_hot(codes, 64).float()
    spread = joint_spread(tokenizer, certain, tokenizer.decode(codes), 16, torch.Generator().manual_seed(0))
    assert spread.shape == (2, 23) and float(spread.max()) < 1e-8
    s = UncertaintyPriorSettings()
    weights = joint_prior_weights(tokenizer, certain, tokenizer.decode(codes), s)
    assert torch.allclose(weights, torch.full((2, 23), s.scale / s.floor_rad2))


def test_spread_tokens_loosen_the_prior_and_the_result_is_seeded(tokenizer):
    g = torch.Generator().manual_seed(2)
    sharp = torch.softmax(torch.randn(1, 8, 64, generator=g) * 8, -1)
    flat = torch.full((1, 8, 64), 1 / 64)
    start = tokenizer.decode_soft(sharp)
    w_sharp = joint_prior_weights(tokenizer, sharp, start)
    w_flat = joint_prior_weights(tokenizer, flat, tokenizer.decode_soft(flat))
    assert float(w_flat.mean()) < float(w_sharp.mean())
    assert torch.equal(w_sharp, joint_prior_weights(tokenizer, sharp, start))  # same seed, same weights
    s = UncertaintyPriorSettings()
    assert float(w_flat.min()) >= s.min_weight - 1e-7 and float(w_sharp.max()) <= s.max_weight + 1e-7  # float32


def test_an_unfamiliar_person_is_held_more_loosely(tokenizer):
    """familiarity (the landmark corrector's domain check): 1 keeps the prior, 0 keeps `unfamiliar_share` of
    it, in between linearly; the weights stay within their bounds."""
    g = torch.Generator().manual_seed(3)
    beliefs = torch.softmax(torch.randn(1, 8, 64, generator=g) * 4, -1)
    start = tokenizer.decode_soft(beliefs)
    s = UncertaintyPriorSettings(min_weight=0.0, max_weight=10.0)  # no clamping: the shares show exactly
    familiar = joint_prior_weights(tokenizer, beliefs, start, s, familiarity=1.0)
    assert torch.equal(familiar, joint_prior_weights(tokenizer, beliefs, start, s))  # 1 is the default
    unfamiliar = joint_prior_weights(tokenizer, beliefs, start, s, familiarity=0.0)
    half = joint_prior_weights(tokenizer, beliefs, start, s, familiarity=0.5)
    assert 0 < s.unfamiliar_share < 1
    assert torch.allclose(unfamiliar, s.unfamiliar_share * familiar)
    assert torch.allclose(half, (1 + s.unfamiliar_share) / 2 * familiar)
    clamped = joint_prior_weights(tokenizer, beliefs, start, familiarity=0.0)
    assert float(clamped.min()) >= UncertaintyPriorSettings().min_weight - 1e-7
