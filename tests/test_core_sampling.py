"""MaskGIT sampling and 2D-guided refinement, on small untrained networks (fast, no weights needed)."""

from __future__ import annotations

import numpy as np
import pytest
import roma
import torch

from genhmr_app.body.model import load_body_model
from genhmr_app.body.sparse import SparseBody
from genhmr_app.conditioning.camera import project
from genhmr_app.conditioning.features import ConditionBatch
from genhmr_app.generator.model import GeneratorConfig, MaskedPoseTransformer
from genhmr_app.refinement.refine import RefinementSettings, refine
from genhmr_app.sampling.maskgit import SamplingSettings, draw_codes, iterate, masked_count_after, sample
from genhmr_app.tokens.model import PoseTokenizer, TokenizerConfig


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    tok = PoseTokenizer(TokenizerConfig(num_tokens=8, codebook_size=64, code_dim=16, hidden=128, depth=1)).eval()
    gen = MaskedPoseTransformer(GeneratorConfig(num_tokens=8, codebook_size=64, width=64, layers=2, heads=2)).eval()
    return tok, gen


def _condition(seed=0):
    g = torch.Generator().manual_seed(seed)
    return ConditionBatch(torch.randn(1, 34, 8, generator=g), torch.tensor([[320.0, 240.0, 300.0]]),
                          torch.tensor([460.0]), torch.tensor([[640.0, 480.0]]))


def test_schedule_unmasks_everything():
    for n in (1, 3, 5, 10):
        counts = [masked_count_after(i, n, 16) for i in range(n)]
        assert counts[-1] == 0 and all(a >= b for a, b in zip(counts, counts[1:]))


def test_drawn_codes_follow_their_distribution_and_never_take_an_impossible_one():
    probs = torch.tensor([[0.0, 0.5, 0.0, 0.25, 0.25],
                          [0.0, 0.0, 0.0, 0.0, 1.0],
                          [0.1, 0.2, 0.3, 0.4, 0.0]])
    g = torch.Generator().manual_seed(3)
    draws = torch.stack([draw_codes(probs, g) for _ in range(20000)])  # (draws, rows)
    freq = torch.stack([torch.bincount(draws[:, r], minlength=5).float() / len(draws) for r in range(3)])
    assert torch.all(freq[probs == 0] == 0)
    # 20,000 draws: a frequency's standard error is at most 0.0035
    assert torch.allclose(freq, probs, atol=0.015)
    again = torch.stack([draw_codes(probs, torch.Generator().manual_seed(3)) for _ in range(2)])
    assert torch.equal(again[0], again[1])


def test_same_seed_same_result_and_different_seed_differs(nets):
    _, gen = nets
    cond = _condition()
    a = sample(gen, cond, SamplingSettings(iterations=5, temperature=1.0, hypotheses=3, seed=7))
    b = sample(gen, cond, SamplingSettings(iterations=5, temperature=1.0, hypotheses=3, seed=7))
    c = sample(gen, cond, SamplingSettings(iterations=5, temperature=1.0, hypotheses=3, seed=8))
    assert torch.equal(a.tokens, b.tokens)
    assert torch.allclose(a.output.global_orient, b.output.global_orient)
    assert not torch.equal(a.tokens, c.tokens)
    # The S hypotheses of one run are independent samples.
    assert len({tuple(t.tolist()) for t in a.tokens}) > 1


def test_confidences_are_probabilities_and_records_are_consistent(nets):
    _, gen = nets
    res = sample(gen, _condition(1), SamplingSettings(iterations=4, temperature=1.0, hypotheses=2, seed=0))
    assert len(res.records) == 4
    for rec in res.records:
        assert rec.confidence.shape == (2, 8)
        assert np.all(rec.confidence >= 0) and np.all(rec.confidence <= 1)
        assert np.all(rec.codes >= 0) and np.all(rec.codes < 64)
        # A re-masked token is still masked afterwards; nothing else is.
        assert np.array_equal(rec.remasked, rec.masked_after)
    assert not res.records[-1].masked_after.any()
    assert torch.all(res.tokens < 64)
    assert torch.allclose(res.log_likelihood, torch.log(res.confidence.clamp_min(1e-12)).sum(-1))


def test_each_token_keeps_the_distribution_it_was_committed_under(nets):
    tok, gen = nets
    res = sample(gen, _condition(3), SamplingSettings(iterations=4, temperature=1.0, hypotheses=2, seed=0))
    assert res.committed.shape == (2, 8, 64)
    assert torch.allclose(res.committed.sum(-1), torch.ones(2, 8), atol=1e-5)
    # The committed code's probability under that distribution is its recorded confidence.
    chosen = res.committed.gather(-1, res.tokens[..., None])[..., 0]
    assert torch.allclose(chosen, res.confidence, atol=1e-6)
    # Those distributions are real mixtures (an untrained net is unsure), so the expected latents lie
    # off the codes; with one-hot weights they are the codes' latents.
    onehot = torch.nn.functional.one_hot(res.tokens, 64).float()
    assert torch.allclose(tok.soft_latents(onehot), tok.latents(res.tokens), atol=1e-6)
    assert not torch.allclose(tok.soft_latents(res.committed), tok.latents(res.tokens), atol=1e-3)
    # Locked tokens count as committed with certainty before the first iteration.
    start = torch.full((8,), gen.mask_id)
    start[[0, 5]] = torch.tensor([3, 9])
    with torch.no_grad():
        first = next(iterate(gen, _condition(3), SamplingSettings(iterations=4, hypotheses=1), start))
    assert first.committed[0, 0, 3] == 1 and first.committed[0, 5, 9] == 1
    assert first.committed[0, 0].sum() == 1
    assert float(first.committed[first.tokens == gen.mask_id].abs().sum()) == 0


def test_greedy_is_deterministic_without_seed(nets):
    _, gen = nets
    a = sample(gen, _condition(2), SamplingSettings(iterations=3, temperature=0.0, hypotheses=1, seed=1))
    b = sample(gen, _condition(2), SamplingSettings(iterations=3, temperature=0.0, hypotheses=1, seed=99))
    assert torch.equal(a.tokens, b.tokens)


def test_refinement_reduces_2d_error_on_a_synthetic_case(nets):
    tok, _ = nets
    torch.manual_seed(0)
    body = SparseBody(load_body_model())
    s = 2
    z_true = tok.quantizer.codebook[torch.randint(0, 64, (s, 8))] + 0.05 * torch.randn(s, 8, 16)
    orient = torch.diag(torch.tensor([1.0, -1.0, -1.0])).expand(s, 3, 3)
    betas = torch.zeros(s, 10)
    transl = torch.tensor([[0.0, 0.1, 4.0]]).expand(s, 3)
    focal, wh = torch.full((s,), 800.0), torch.tensor([[640.0, 480.0]]).expand(s, 2)
    with torch.no_grad():
        target = project(body(orient, tok.decode_latents(z_true), betas, transl).mediapipe33, focal, wh)
    z0 = z_true + 0.4 * torch.randn_like(z_true)
    orient0 = orient @ roma.rotvec_to_rotmat(torch.tensor([0.0, 0.25, 0.0])).expand(s, 3, 3)
    res = refine(tok, body, z0, orient0, betas, transl + torch.tensor([0.05, -0.03, 0.3]), target,
                 torch.ones(s, 33), torch.full((s,), 300.0), focal, wh,
                 RefinementSettings(steps=30, lr=0.03, latent_prior=0.0))
    assert torch.all(res.error_after <= res.error_before)
    assert torch.all(res.error_after < 0.7 * res.error_before), (res.error_before, res.error_after)


def test_refinement_never_reports_worse(nets):
    tok, _ = nets
    body = SparseBody(load_body_model())
    z = tok.quantizer.codebook[:8][None]
    orient = torch.diag(torch.tensor([1.0, -1.0, -1.0]))[None]
    focal, wh = torch.tensor([800.0]), torch.tensor([[640.0, 480.0]])
    transl = torch.tensor([[0.0, 0.0, 4.0]])
    with torch.no_grad():
        target = project(body(orient, tok.decode_latents(z), torch.zeros(1, 10), transl).mediapipe33, focal, wh)
    # Already perfect: a huge learning rate can only make it worse, so the start must be kept.
    res = refine(tok, body, z, orient, torch.zeros(1, 10), transl, target, torch.ones(1, 33), torch.tensor([300.0]),
                 focal, wh, RefinementSettings(steps=5, lr=5.0))
    assert int(res.best_step[0]) == 0 and float(res.error_after[0]) == pytest.approx(float(res.error_before[0]))


def test_the_traced_generator_gives_the_eager_ones_outputs():
    """generator/frozen.py: what CPU inference runs (traced, frozen) is the same network."""
    from genhmr_app.generator.frozen import FrozenGenerator, for_cpu_inference
    from genhmr_app.generator.model import GeneratorConfig, MaskedPoseTransformer

    torch.manual_seed(0)
    model = MaskedPoseTransformer(GeneratorConfig(num_tokens=8, codebook_size=32, width=64, layers=2, heads=2)).eval()
    frozen = for_cpu_inference(model)
    assert isinstance(frozen, FrozenGenerator) and frozen.mask_id == model.mask_id
    for batch in (1, 3):
        cond = torch.randn(batch, model.config.condition_tokens, model.config.condition_dim)
        tokens = torch.randint(0, model.config.codebook_size + 1, (batch, 8))
        with torch.inference_mode():
            for a, b in ((model(cond, tokens), frozen(cond, tokens)), (model(cond), frozen(cond))):
                for name in ("logits", "global_orient", "betas", "cam"):
                    assert torch.allclose(getattr(a, name), getattr(b, name), atol=1e-4), name
    regressor = MaskedPoseTransformer(GeneratorConfig(num_tokens=8, codebook_size=32, width=64, layers=2, heads=2,
                                                      mode="regress"))
    assert for_cpu_inference(regressor) is regressor  # only the generative model is traced


def test_a_self_conditioned_generator_sees_its_beliefs_instead_of_its_draws():
    """Self-conditioning with soft commits: iteration 1 sees every free token masked and nothing else;
    every later iteration again sees them masked, each with its belief: the distribution it was
    committed under, or the last iteration's prediction while it is still free (rows sum to 1). Only a
    person's locked tokens are fed as codes (and get no belief). The new input starts at zero, so a
    model fine-tuned into it begins exactly as it was; the traced copy takes the same third input."""
    from genhmr_app.generator.frozen import FrozenGenerator

    torch.manual_seed(0)
    model = MaskedPoseTransformer(GeneratorConfig(num_tokens=8, codebook_size=32, width=64, layers=2, heads=2,
                                                  self_condition=True)).eval()
    cond = _condition()
    beliefs = torch.softmax(torch.randn(1, 8, 32), -1)
    tokens = torch.full((1, 8), model.mask_id)
    with torch.no_grad():
        assert torch.equal(model(cond.tokens, tokens, beliefs).logits, model(cond.tokens, tokens).logits)
        torch.nn.init.normal_(model.previous_proj.weight, std=0.5)
        seen = model(cond.tokens, tokens, beliefs).logits
        assert not torch.allclose(seen, model(cond.tokens, tokens).logits)
        assert torch.allclose(FrozenGenerator(model)(cond.tokens, tokens, beliefs).logits, seen, atol=1e-4)

    calls = []
    forward = model.forward

    def spy(condition, tokens=None, previous=None):
        calls.append((tokens.clone(), None if previous is None else previous.clone()))
        return forward(condition, tokens, previous)

    model.forward = spy
    start = torch.full((8,), model.mask_id)
    start[[1, 6]] = torch.tensor([3, 7])
    with torch.no_grad():
        steps = list(iterate(model, cond, SamplingSettings(iterations=4, hypotheses=2), start_tokens=start))
    locked = torch.zeros(8, dtype=torch.bool)
    locked[[1, 6]] = True
    assert calls[0][1] is None
    for tokens, previous in calls:
        assert torch.equal(tokens[:, locked], start[locked].expand(2, -1))
        assert (tokens[:, ~locked] == model.mask_id).all()
    for _, previous in calls[1:]:
        assert torch.allclose(previous[:, ~locked].sum(-1), torch.ones(2, 6))
        assert not previous[:, locked].any()
    final = steps[-1]
    assert torch.equal(final.tokens[:, locked], start[locked].expand(2, -1)) and (final.tokens != model.mask_id).all()


def test_a_generator_without_self_conditioning_is_called_as_before(nets):
    _, gen = nets
    calls = []
    forward = gen.forward
    gen.forward = lambda condition, tokens=None, *rest: calls.append(len(rest)) or forward(condition, tokens, *rest)
    try:
        with torch.no_grad():
            list(iterate(gen, _condition(), SamplingSettings(iterations=3)))
    finally:
        del gen.forward
    assert calls == [0, 0, 0]


def test_a_feedback_generator_sees_how_its_estimate_misses_the_keypoints():
    """Reprojection feedback: from the second iteration on, the model also gets the residuals of the
    estimate so far (`feedback_fn` of its beliefs, locked codes as one-hot rows, and the iteration's
    output); none on the first, and no call after the last. The input starts at zero (a fine-tuned
    model begins as it was) and the traced copy takes it as a fourth input."""
    from genhmr_app.generator.frozen import FrozenGenerator

    torch.manual_seed(0)
    model = MaskedPoseTransformer(GeneratorConfig(num_tokens=8, codebook_size=32, width=64, layers=2, heads=2,
                                                  self_condition=True, feedback=True)).eval()
    cond = _condition()
    beliefs = torch.softmax(torch.randn(1, 8, 32), -1)
    residuals = torch.randn(1, 33, 2) * 0.2
    tokens = torch.full((1, 8), model.mask_id)
    with torch.no_grad():
        assert torch.equal(model(cond.tokens, tokens, beliefs, residuals).logits, model(cond.tokens, tokens, beliefs).logits)
        torch.nn.init.normal_(model.feedback_in[2].weight, std=0.5)
        seen = model(cond.tokens, tokens, beliefs, residuals)
        assert not torch.allclose(seen.logits, model(cond.tokens, tokens, beliefs).logits)
        assert not torch.allclose(seen.betas, model(cond.tokens, tokens, beliefs).betas)  # the global token sees it too
        # zero residuals add nothing: a perfect fit, or no estimate yet
        assert torch.equal(model(cond.tokens, tokens, beliefs, torch.zeros(1, 33, 2)).logits,
                           model(cond.tokens, tokens, beliefs).logits)
        assert torch.allclose(FrozenGenerator(model)(cond.tokens, tokens, beliefs, residuals).logits, seen.logits, atol=1e-4)

    seen_by_model, asked = [], []
    forward = model.forward

    def spy(condition, tokens=None, previous=None, feedback=None):
        seen_by_model.append(None if feedback is None else feedback.clone())
        return forward(condition, tokens, previous, feedback)

    def feedback_fn(estimate, output, condition):
        asked.append(estimate.clone())
        return torch.full((estimate.shape[0], 33, 2), 0.1 * len(asked))

    model.forward = spy
    start = torch.full((8,), model.mask_id)
    start[2] = 5
    with torch.no_grad():
        list(iterate(model, cond, SamplingSettings(iterations=4, hypotheses=2), start_tokens=start, feedback_fn=feedback_fn))
    assert seen_by_model[0] is None and len(asked) == 3
    for i, feedback in enumerate(seen_by_model[1:], 1):
        assert torch.allclose(feedback, torch.full((2, 33, 2), 0.1 * i))
    for estimate in asked:
        assert torch.allclose(estimate.sum(-1), torch.ones(2, 8))
        assert torch.equal(estimate[:, 2], torch.nn.functional.one_hot(torch.tensor(5), 32).float().expand(2, -1))

    # feedback_last: only the last iterations get it (each costs a decode and a posed body), the earlier
    # ones run as a model without feedback
    for last, expected in ((1, [None, None, None, 0.1]), (2, [None, None, 0.1, 0.2])):
        seen_by_model.clear(), asked.clear()
        with torch.no_grad():
            list(iterate(model, cond, SamplingSettings(iterations=4, hypotheses=2, feedback_last=last), start_tokens=start,
                         feedback_fn=feedback_fn))
        assert len(asked) == last
        for feedback, value in zip(seen_by_model, expected, strict=True):
            assert (feedback is None) if value is None else torch.allclose(feedback, torch.full((2, 33, 2), value))
    with pytest.raises(ValueError, match="feedback_last"):
        list(iterate(model, cond, SamplingSettings(iterations=4, feedback_last=-1), feedback_fn=feedback_fn))


def test_a_feedback_model_gaining_depth_begins_as_it_was():
    """GeneratorConfig.feedback_depth: the feedback has a third number per landmark. A 2D feedback model
    fine-tuned into it (train_generator.widened_feedback) gets zero columns for depth, so it answers
    (u, v, z) exactly as it answered (u, v); the traced copy takes the wider input."""
    from dataclasses import replace

    from genhmr_app.generator.frozen import FrozenGenerator
    from genhmr_app.training.train_generator import widened_feedback

    torch.manual_seed(0)
    flat = MaskedPoseTransformer(GeneratorConfig(num_tokens=8, codebook_size=32, width=64, layers=2, heads=2,
                                                 self_condition=True, feedback=True)).eval()
    torch.nn.init.normal_(flat.feedback_in[2].weight, std=0.5)
    deep = MaskedPoseTransformer(replace(flat.config, feedback_depth=True)).eval()
    assert deep.config.feedback_channels == 3 and flat.config.feedback_channels == 2
    deep.load_state_dict(widened_feedback(flat, deep.config), strict=True)
    cond = _condition()
    beliefs = torch.softmax(torch.randn(1, 8, 32), -1)
    tokens = torch.full((1, 8), flat.mask_id)
    residuals = torch.randn(1, 33, 2) * 0.2
    with_depth = torch.cat([residuals, torch.randn(1, 33, 1) * 0.2], -1)
    with torch.no_grad():
        assert torch.allclose(deep(cond.tokens, tokens, beliefs, with_depth).logits,
                              flat(cond.tokens, tokens, beliefs, residuals).logits, atol=1e-5)
        torch.nn.init.normal_(deep.feedback_in[0].weight, std=0.5)
        seen = deep(cond.tokens, tokens, beliefs, with_depth)
        moved = with_depth.clone()
        moved[..., 2] += 0.3
        assert not torch.allclose(deep(cond.tokens, tokens, beliefs, moved).logits, seen.logits)
        assert torch.allclose(FrozenGenerator(deep)(cond.tokens, tokens, beliefs, with_depth).logits, seen.logits, atol=1e-4)
    with pytest.raises(ValueError, match="depth feedback"):
        MaskedPoseTransformer(GeneratorConfig(num_tokens=8, codebook_size=32, width=64, layers=2, heads=2,
                                              self_condition=True, feedback_depth=True))


def test_reprojection_feedback_is_zero_where_the_estimate_meets_the_keypoints(nets):
    """The residuals are detected minus projected landmarks in crop half-sizes: zero when the
    condition's landmarks are the estimate's own projection, and a shift of the detections by a tenth
    of the crop shows as 0.2 everywhere."""
    from genhmr_app.generator.model import GeneratorOutput
    from genhmr_app.refinement.feedback import reprojection_feedback

    tok, _ = nets
    body = SparseBody(load_body_model())
    beliefs = torch.softmax(torch.randn(1, 8, 64), -1)
    orient = torch.diag(torch.tensor([1.0, -1.0, -1.0]))[None]
    output = GeneratorOutput(None, None, orient, torch.zeros(1, 10), torch.tensor([[0.9, 0.0, 0.05]]))
    cond = _condition()
    keep = lambda points, global_orient: points  # noqa: E731
    with torch.no_grad():
        from genhmr_app.conditioning.camera import weak_perspective_to_translation

        transl = weak_perspective_to_translation(output.cam, cond.crop, cond.focal, cond.image_wh)
        px = project(body.mediapipe33(orient, tok.decode_soft(beliefs), output.betas, transl), cond.focal, cond.image_wh)
        tokens = cond.tokens.clone()
        tokens[:, :33, :2] = (px - cond.crop[:, None, :2]) / (cond.crop[:, 2] / 2)
        met = ConditionBatch(tokens, cond.crop, cond.focal, cond.image_wh)
        assert reprojection_feedback(tok, body, beliefs, output, met, keep).abs().max() < 1e-4
        tokens[:, :33, 0] += 0.2
        shifted = reprojection_feedback(tok, body, beliefs, output, met, keep)
        assert torch.allclose(shifted[..., 0], torch.full((1, 33), 0.2), atol=1e-4)
        assert shifted[..., 1].abs().max() < 1e-4

        # Depth feedback: the third number is the condition's z (relative depth behind the hips' midpoint,
        # in pixels at the hips' distance over the crop's half-size) minus the estimate's; zero where the
        # condition holds the estimate's own depths, and a landmark put 0.1 further shows as 0.1.
        points = body.mediapipe33(orient, tok.decode_soft(beliefs), output.betas, transl)[0]
        hips_z = points[[23, 24], 2].mean()
        tokens[:, :33, 0] -= 0.2
        tokens[0, :33, 2] = (points[:, 2] - hips_z) * cond.focal[0] / hips_z / (cond.crop[0, 2] / 2)
        with_depth = reprojection_feedback(tok, body, beliefs, output, met, keep, depth=True)
        assert with_depth.shape == (1, 33, 3) and with_depth.abs().max() < 1e-4
        tokens[0, 15, 2] += 0.1
        further = reprojection_feedback(tok, body, beliefs, output, met, keep, depth=True)
        assert abs(float(further[0, 15, 2]) - 0.1) < 1e-4 and float(further[0, 14].abs().max()) < 1e-4


def test_the_frozen_decoder_decodes_as_the_tokenizer_and_lets_gradients_through(nets):
    """FrozenDecoder (inference's decodes): the same poses as the tokenizer at every batch size, one
    graph per size; latents that need gradients (refinement's latent steps) are decoded eagerly, so
    the gradient still reaches them; everything else is the tokenizer's."""
    from genhmr_app.tokens.frozen import FrozenDecoder

    tok, _ = nets
    decoder = FrozenDecoder(tok)
    assert decoder.config is tok.config
    for batch in (1, 3, 1):
        latents = torch.randn(batch, tok.config.slots, tok.config.code_dim)
        with torch.no_grad():
            assert torch.allclose(decoder.decode_latents(latents), tok.decode_latents(latents), atol=1e-5)
    assert sorted(decoder._graphs) == [1, 3]
    codes = torch.randint(0, 64, (2, 8))
    weights = torch.softmax(torch.randn(2, 8, 64), -1)
    with torch.inference_mode():
        assert torch.allclose(decoder.decode(codes), tok.decode(codes), atol=1e-5)
        assert torch.allclose(decoder.decode_soft(weights), tok.decode_soft(weights), atol=1e-5)
    z = torch.randn(1, tok.config.slots, tok.config.code_dim, requires_grad=True)
    decoder.decode_latents(z).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_a_part_tokenizer_is_decoded_with_its_parts_side_by_side_as_one_by_one():
    """FrozenDecoder runs a part tokenizer's five decoders as one batched product per layer
    (tokens/frozen._StackedPartDecode): the same poses as the tokenizer's own part-by-part decode, at
    one person and at a batch, frozen or eager."""
    from genhmr_app.tokens.frozen import FrozenDecoder, _StackedPartDecode

    torch.manual_seed(3)
    tok = PoseTokenizer(TokenizerConfig(num_tokens=20, codebook_size=32, code_dim=8, hidden=64, depth=2, levels=2,
                                        parts=True)).eval()
    assert _StackedPartDecode.fits(tok)
    decoder = FrozenDecoder(tok)
    assert isinstance(decoder._frozen.module, _StackedPartDecode)
    for batch in (1, 5):
        latents = torch.randn(batch, tok.config.slots, tok.config.code_dim)
        with torch.no_grad():
            expected = tok.decode_latents(latents)
            assert torch.allclose(decoder._frozen.module(latents), expected, atol=1e-5)
            assert torch.allclose(decoder.decode_latents(latents), expected, atol=1e-5)
    assert not _StackedPartDecode.fits(PoseTokenizer(TokenizerConfig(num_tokens=8, codebook_size=16, code_dim=8,
                                                                     hidden=32, depth=1)))


def test_the_frozen_feedback_gives_the_eager_residuals(nets):
    """FrozenFeedback (the reconstructor's feedback on a CPU): the residuals reprojection_feedback gives,
    with and without depth, one graph per batch size; with gradients on it runs eagerly."""
    from genhmr_app.generator.model import GeneratorOutput
    from genhmr_app.refinement.feedback import FrozenFeedback, reprojection_feedback
    from genhmr_app.tokens.frozen import FrozenDecoder

    tok, _ = nets
    body = SparseBody(load_body_model())
    shift = lambda points, global_orient: points + 0.01 * global_orient[:, None, :, 0]  # noqa: E731
    orient = torch.diag(torch.tensor([1.0, -1.0, -1.0]))[None].repeat(2, 1, 1)
    output = GeneratorOutput(None, None, orient, torch.randn(2, 10) * 0.5, torch.tensor([[0.9, 0.0, 0.05], [0.8, 0.1, 0.0]]))
    cond = _condition().repeat(2)
    beliefs = torch.softmax(torch.randn(2, 8, 64), -1)
    for depth in (False, True):
        frozen = FrozenFeedback(FrozenDecoder(tok), body, shift, depth=depth)
        with torch.inference_mode():
            expected = reprojection_feedback(tok, body, beliefs, output, cond, shift, depth=depth)
            assert torch.allclose(frozen(beliefs, output, cond), expected, atol=1e-5)
            one = ConditionBatch(cond.tokens[:1], cond.crop[:1], cond.focal[:1], cond.image_wh[:1])
            first = GeneratorOutput(None, None, orient[:1], output.betas[:1], output.cam[:1])
            assert torch.allclose(frozen(beliefs[:1], first, one), expected[:1], atol=1e-5)
        assert len(frozen._frozen.graphs) == 2
        with torch.enable_grad():
            assert torch.allclose(frozen(beliefs, output, cond), expected, atol=1e-5)
        assert len(frozen._frozen.graphs) == 2
