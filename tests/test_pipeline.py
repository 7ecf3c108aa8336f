"""The core pipeline and the `infer` JSON contract, on small untrained networks (the contract and the
error handling do not depend on trained weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genhmr_app.generator.model import (GeneratorCheckpointError, GeneratorConfig, MaskedPoseTransformer,
                                        load_generator, save_generator)
from genhmr_app.image.loading import load_image
from genhmr_app.pipeline.reconstructor import ReconstructionError, ReconstructionSettings, Reconstructor
from genhmr_app.tokens.model import PoseTokenizer, TokenizerConfig, save_tokenizer

TOK_CFG = TokenizerConfig(num_tokens=8, codebook_size=64, code_dim=16, hidden=128, depth=1)
GEN_CFG = GeneratorConfig(num_tokens=8, codebook_size=64, width=64, layers=2, heads=2)


@pytest.fixture(scope="module")
def tiny_nets():
    torch.manual_seed(0)
    return PoseTokenizer(TOK_CFG).eval(), MaskedPoseTransformer(GEN_CFG).eval()


@pytest.fixture(scope="module")
def recon(tiny_nets):
    tok, gen = tiny_nets
    r = Reconstructor(tokenizer=tok, generator=gen, device="cpu")
    yield r
    r.close()


def test_photo_to_body_with_timings(recon, photo_path):
    image = load_image(photo_path)
    result = recon.run(image.rgb, ReconstructionSettings(iterations=3, refine_steps=3, hypotheses=2))
    assert len(result.people) == 1
    person = result.people[0]
    assert person.vertices.shape == (recon.body.num_vertices, 3) and np.isfinite(person.vertices).all()
    assert person.keypoints2d_coco17.shape == (17, 2) and person.keypoints3d_coco17.shape == (17, 3)
    assert len(person.hypotheses) == 2 and len(person.iterations) == 3
    assert person.hypotheses[0].error_2d_px <= person.hypotheses[1].error_2d_px  # ranked by 2D agreement
    for h in person.hypotheses:
        assert h.error_2d_px <= h.error_2d_before_px + 1e-6  # refinement never makes it worse
    assert set(result.timing_ms) >= {"detect", "sample", "refine", "total"}
    assert result.timing_ms["total"] >= result.timing_ms["detect"] > 0


def test_the_uncertainty_prior_reaches_the_joint_fit(recon, photo_path, monkeypatch):
    import genhmr_app.pipeline.reconstructor as reconstructor

    seen = []
    real_fit = reconstructor.fit_joints
    monkeypatch.setattr(reconstructor, "fit_joints", lambda *a, **k: seen.append(k.get("pose_prior")) or real_fit(*a, **k))
    detection = recon.detector("image").detect(load_image(photo_path).rgb)
    on = recon.reconstruct_detection(detection, ReconstructionSettings(iterations=2, refine_steps=1, hypotheses=2))
    off = recon.reconstruct_detection(detection, ReconstructionSettings(iterations=2, refine_steps=1, hypotheses=2,
                                                                        uncertainty_prior=False))
    assert seen[0].shape == (2, 23) and bool(torch.isfinite(seen[0]).all()) and seen[1] is None
    assert not np.allclose(on.people[0].vertices, off.people[0].vertices)


def test_a_generators_latent_offset_moves_the_start_pose_and_the_spread_follows_it(tiny_nets, photo_path):
    """GeneratorConfig.latent_offset_dim: refinement starts from the tokens' latents plus the generator's
    continuous offset; a head at zero changes nothing, and the uncertainty prior's draws get the same
    offset (a sure token then has no spread around the start)."""
    from dataclasses import replace

    from genhmr_app.generator.frozen import FrozenGenerator
    from genhmr_app.refinement.uncertainty import joint_spread

    tok, gen = tiny_nets
    with_head = MaskedPoseTransformer(replace(GEN_CFG, latent_offset_dim=TOK_CFG.code_dim, latent_slots=tok.config.slots))
    missing, _ = with_head.load_state_dict(gen.state_dict(), strict=False)
    assert sorted(missing) == ["latent_head.bias", "latent_head.weight"]
    with_head.eval()
    detection = Reconstructor(tokenizer=tok, generator=gen, device="cpu").detector("image").detect(load_image(photo_path).rgb)
    settings = ReconstructionSettings(iterations=2, refine_steps=0)
    plain = Reconstructor(tokenizer=tok, generator=gen, device="cpu").reconstruct_detection(detection, settings)
    zero = Reconstructor(tokenizer=tok, generator=with_head, device="cpu").reconstruct_detection(detection, settings)
    assert np.allclose(plain.people[0].vertices, zero.people[0].vertices, atol=1e-5)
    with torch.no_grad():
        torch.nn.init.normal_(with_head.latent_head.bias, std=0.5)
        cond = torch.randn(2, 34, 8)
        out = with_head(cond)
        assert out.latent_offset.shape == (2, tok.config.slots, TOK_CFG.code_dim)
        # each slot's levels summed (the weights are still zero, so each position gives the bias); the
        # traced copy returns the same
        assert torch.allclose(out.latent_offset, (tok.config.levels * with_head.latent_head.bias).expand(2, tok.config.slots, -1))
        assert torch.allclose(FrozenGenerator(with_head)(cond[:1], None, torch.zeros(1, 8, 64)).latent_offset,
                              with_head(cond[:1], None, torch.zeros(1, 8, 64)).latent_offset, atol=1e-5)
    moved = Reconstructor(tokenizer=tok, generator=with_head, device="cpu").reconstruct_detection(detection, settings)
    assert not np.allclose(plain.people[0].vertices, moved.people[0].vertices, atol=1e-3)
    codes = torch.randint(0, 64, (1, 8))
    offset = torch.randn(1, tok.config.slots, TOK_CFG.code_dim)
    sure = torch.nn.functional.one_hot(codes, 64).float()
    with torch.no_grad():
        start = tok.decode_latents(tok.latents(codes) + offset)
    g = torch.Generator().manual_seed(0)
    assert joint_spread(tok, sure, start, 4, g, offset).max() < 1e-6
    assert joint_spread(tok, sure, start, 4, g).max() > 1e-4


def test_no_person_gives_empty_result(recon):
    rgb = np.full((300, 400, 3), 128, dtype=np.uint8)
    assert recon.run(rgb).people == []


def test_person_cut_off_at_the_frame(recon, photo_path):
    rgb = load_image(photo_path).rgb
    top = np.ascontiguousarray(rgb[: rgb.shape[0] // 2])
    result = recon.run(top, ReconstructionSettings(iterations=2, refine_steps=2))
    for person in result.people:  # found or not, never an error, and never NaN
        assert np.isfinite(person.vertices).all()


def test_non_finite_model_output_falls_back_or_reports(tiny_nets, photo_path, monkeypatch):
    tok, gen = tiny_nets
    r = Reconstructor(tokenizer=tok, generator=gen, device="cpu")
    try:
        real_forward = r.generator.forward  # the traced generator on a CPU (generator/frozen.py)
        calls = {"n": 0}

        def poisoned(condition, tokens=None):
            out = real_forward(condition, tokens)
            calls["n"] += 1
            if condition.shape[0] > 1:  # only the multi-hypothesis pass goes bad
                out.logits = torch.full_like(out.logits, float("nan"))
            return out

        monkeypatch.setattr(r.generator, "forward", poisoned)
        result = r.run(load_image(photo_path).rgb, ReconstructionSettings(iterations=2, refine_steps=2, hypotheses=3))
        assert "non-finite" in result.people[0].fallback
        assert np.isfinite(result.people[0].vertices).all()

        def all_bad(condition, tokens=None):
            out = real_forward(condition, tokens)
            out.logits = torch.full_like(out.logits, float("nan"))
            return out

        monkeypatch.setattr(r.generator, "forward", all_bad)
        with pytest.raises(ReconstructionError, match="non-finite"):
            r.run(load_image(photo_path).rgb, ReconstructionSettings(iterations=2, refine_steps=0))
    finally:
        r.close()


def test_generator_weights_that_do_not_match_the_codebook(tmp_path, tiny_nets):
    tok, _ = tiny_nets
    other = MaskedPoseTransformer(GeneratorConfig(num_tokens=8, codebook_size=32, width=64, layers=2, heads=2))
    path = tmp_path / "gen.pt"
    save_generator(other, path, tokenizer_sha="abc")
    with pytest.raises(GeneratorCheckpointError, match="codebook"):
        load_generator(path, TOK_CFG)
    with pytest.raises(GeneratorCheckpointError, match="another tokenizer"):
        load_generator(tmp_path / "gen.pt", None, tokenizer_sha="def")
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(GeneratorCheckpointError, match="corrupt"):
        load_generator(tmp_path / "junk.pt")
    with pytest.raises(GeneratorCheckpointError, match="not found"):
        load_generator(tmp_path / "missing.pt")


def test_infer_cli_writes_the_contract_and_skips_bad_files(tmp_path, tiny_nets, photo_path, capsys):
    from genhmr_app.pipeline import infer

    tok, gen = tiny_nets
    tok_path, gen_path = tmp_path / "tok.pt", tmp_path / "gen.pt"
    save_tokenizer(tok, tok_path)
    save_generator(gen, gen_path, tokenizer_sha="x")
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.jpg").write_bytes(Path(photo_path).read_bytes())
    (inputs / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    import genhmr_app.pipeline.reconstructor as rc

    orig_init = rc.Reconstructor.__init__

    def init(self, *a, **k):
        k.update(tokenizer_path=tok_path, generator_path=gen_path)
        orig_init(self, *a, **k)

    rc.Reconstructor.__init__ = init
    try:
        code = infer.main([str(inputs), "--out", str(out), "--iterations", "2", "--refine-steps", "2",
                           "--samples", "2", "--seed", "3", "--save-vertices"])
    finally:
        rc.Reconstructor.__init__ = orig_init
    assert code == 0
    err = capsys.readouterr().err
    assert "broken.jpg" in err
    data = json.loads((out / "a.json").read_text())
    assert data["image"] == "a.jpg" and data["width"] > 0 and data["height"] > 0
    person = data["people"][0]
    assert len(person["bbox"]) == 4
    assert np.array(person["keypoints3d_coco17"]).shape == (17, 3)
    assert np.array(person["keypoints2d_coco17"]).shape == (17, 2)
    assert {k: len(v) for k, v in person["smpl"].items()} == {"global_orient": 3, "body_pose": 69, "betas": 10, "transl": 3}
    assert set(data["timing_ms"]) == {"detect", "sample", "refine", "total"}
    # 3D keypoints are in front of the camera (OpenCV: z forward) and project onto the 2D ones.
    k3 = np.array(person["keypoints3d_coco17"])
    assert np.all(k3[:, 2] > 0)
    f = data["camera"]["focal_px"]
    proj = k3[:, :2] / k3[:, 2:] * f + np.array([data["width"], data["height"]]) / 2
    assert np.allclose(proj, np.array(person["keypoints2d_coco17"]), atol=0.05)
    verts = np.load(out / person["vertices_npz"])["vertices"]
    assert verts.shape[1] == 3
