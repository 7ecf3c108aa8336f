"""`main.py validate` (bench/validate.py): settings are compared on rendered validation scenes, paired,
from a cache that is made once; a variant names the settings it changes."""

from __future__ import annotations

import json

import pytest

from genhmr_app.bench import validate
from genhmr_app.detection.landmark_correction import CORRECTOR_PATH, CorrectionSettings, card_reads_patches
from genhmr_app.paths import shared_data_dir
from genhmr_app.pipeline.reconstructor import ReconstructionSettings
from genhmr_app.refinement.joint_fit import JointFitSettings
from genhmr_app.refinement.uncertainty import UncertaintyPriorSettings


def test_a_variant_names_the_settings_it_changes():
    v = validate.parse_variant("tight=iterations=1,fit.orient_prior=0.1,prior.scale=0.01,uncertainty_prior=false,"
                               "correction.spread_power=1")
    assert v.name == "tight"
    assert v.settings == ReconstructionSettings(iterations=1, uncertainty_prior=False)
    assert v.joint_fit == JointFitSettings(orient_prior=0.1)
    assert v.uncertainty == UncertaintyPriorSettings(scale=0.01)
    assert v.correction == CorrectionSettings(spread_power=1.0)
    assert isinstance(v.settings.iterations, int) and isinstance(v.joint_fit.orient_prior, float)
    # Optional numbers keep their kind: an iteration count stays an int, a focal length a float.
    optional = validate.parse_variant("o=unfamiliar_fit_iterations=12,focal_px=500").settings
    assert optional.unfamiliar_fit_iterations == 12 and isinstance(optional.unfamiliar_fit_iterations, int)
    assert optional.focal_px == 500.0 and isinstance(optional.focal_px, float)
    assert validate.parse_variant("o=last_look_fit_iterations=none").settings.last_look_fit_iterations is None
    defaults = validate.parse_variant("shipped=")
    assert (defaults.settings, defaults.joint_fit, defaults.uncertainty) == (
        ReconstructionSettings(), JointFitSettings(), UncertaintyPriorSettings())
    bad = {"bad=fit.orient=0.1": "no field 'orient'", "no-equals-sign": "NAME=KEY=VALUE",
           "bad=fitting.orient_prior=0.1": "fit.FIELD, prior.FIELD or correction.FIELD", "bad=fit=0.1": "no field 'fit'",
           "bad=iterations=five": "iterations must be int", "bad=fit.iterations=0": "joint_fit_iterations",
           "bad=uncertainty_prior=maybe": "true or false"}
    for spec, message in bad.items():
        with pytest.raises(ValueError, match=message):
            validate.parse_variant(spec)


def test_validation_scores_variants_on_the_same_cached_scenes(tmp_path, monkeypatch, capsys):
    if not (shared_data_dir() / "mocap").is_dir():
        pytest.skip("the validation poses come from ../shared/data/mocap")
    cache = tmp_path / "val.pkl"
    monkeypatch.setattr(validate, "cache_path", lambda seed, images, look="flat": cache)
    out = tmp_path / "out.json"
    args = ["--images", "2", "--seed", "3", "--variant", "shipped=", "--variant", "no-fit=joint_fit_iterations=0",
            "--variant", "firm=prior.scale=0.5",
            "--json", str(out)]
    assert validate.main(args) == 0
    figures = json.loads(out.read_text())
    assert figures["found"] >= 1 and cache.exists()
    # The shipped corrector reads image patches, which the cache does not keep: rendered again for it.
    assert card_reads_patches(CORRECTOR_PATH) and "reads image patches" in capsys.readouterr().out
    shipped, no_fit = figures["means"]["shipped"], figures["means"]["no-fit"]
    # Without the joint fit the body no longer sits on the keypoints: another result, same scenes.
    assert no_fit["err2d_px"] > shipped["err2d_px"]
    # The Reconstructor's own refinement settings are what a `prior.` variant changes.
    assert figures["means"]["firm"]["mpjpe"] != shipped["mpjpe"]
    assert any(line.startswith("| no-fit |") and "to" in line for line in figures["table"])

    # A second run reads the scenes from the cache: without a patch-reading corrector nothing is rendered again.
    import genhmr_app.bench.run as bench_run

    monkeypatch.setattr(bench_run, "build_scenes", lambda *a, **k: pytest.fail("rendered again"))
    assert validate.main(args[:4] + ["--variant", "plain=landmark_correction=false"]) == 0
    assert "| plain |" in capsys.readouterr().out


def test_real_images_are_scored_per_variant_on_request(tmp_path, monkeypatch):
    """`--real`: every variant also on the shared real images (MPI-INF-3DHP 3D, annotated photos 2D)."""
    images = shared_data_dir() / "images"
    if not (shared_data_dir() / "mocap").is_dir() or not (images / "kp3d" / "mpi_inf_3dhp").is_dir() \
            or not (images / "kp2d").is_dir():
        pytest.skip("needs ../shared/data (mocap, kp3d/mpi_inf_3dhp, kp2d)")
    monkeypatch.setattr(validate, "cache_path", lambda seed, images, look="flat": tmp_path / "val.pkl")
    out = tmp_path / "out.json"
    assert validate.main(["--images", "1", "--seed", "3", "--real", "--variant", "shipped=",
                          "--variant", "no-fit=joint_fit_iterations=0", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    shipped, no_fit = figures["real"]["shipped"], figures["real"]["no-fit"]
    assert shipped["mpi_found"] == 4 and shipped["photos_matched"] >= 6
    assert 50 < shipped["mpi_pa_mpjpe"] < 200 and shipped["mpi_mediapipe"] == no_fit["mpi_mediapipe"]
    # MediaPipe's own figures do not depend on the variant; ours do, and without the joint fit the
    # placed keypoints sit further from the annotation.
    assert shipped["photos_mediapipe_pct"] == no_fit["photos_mediapipe_pct"]
    assert no_fit["photos_placed_pct"] > shipped["photos_placed_pct"]
    assert any(line.startswith("| no-fit |") for line in figures["table"][-2:])


def _means_on_two_scenes(tmp_path, monkeypatch, *variants: str) -> dict:
    """`main.py validate` on two seed-3 scenes (cached under tmp_path): each variant's mean metrics."""
    if not (shared_data_dir() / "mocap").is_dir():
        pytest.skip("the validation poses come from ../shared/data/mocap")
    monkeypatch.setattr(validate, "cache_path", lambda seed, images, look="flat": tmp_path / "val.pkl")
    out = tmp_path / "out.json"
    args = ["--images", "2", "--seed", "3", "--json", str(out)]
    for v in variants:
        args += ["--variant", v]
    assert validate.main(args) == 0
    return json.loads(out.read_text())["means"]


def test_a_variant_can_name_candidate_weights(tmp_path, monkeypatch, capsys):
    """`weights=PATH`: candidate generator or regressor weights, scored on the same scenes; a missing
    file is refused when the variant is read, weights that do not load get a message, not a traceback."""
    from genhmr_app.paths import WEIGHTS_DIR

    regressor = WEIGHTS_DIR / "genhmr" / "regressor.pt"
    v = validate.parse_variant(f"reg=weights={regressor},refine_steps=0")
    assert v.weights == regressor and v.settings == ReconstructionSettings(refine_steps=0)
    assert validate.parse_variant("shipped=").weights is None
    with pytest.raises(ValueError, match="does not exist"):
        validate.parse_variant(f"bad=weights={tmp_path / 'none.pt'}")
    means = _means_on_two_scenes(tmp_path, monkeypatch, "shipped=", f"reg=weights={regressor},refine_steps=0")
    # Another model on the same detections: another result (the regressor predicts the pose directly).
    assert means["reg"]["mpjpe"] != means["shipped"]["mpjpe"]
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    assert validate.main(["--images", "2", "--seed", "3", "--variant", f"broken=weights={broken}"]) == 1
    assert "error:" in capsys.readouterr().out


def test_a_variant_can_name_a_candidate_landmark_corrector(tmp_path, monkeypatch, capsys):
    """`corrector=PATH`: a candidate landmark corrector in place of the shipped one, on the same scenes; a
    missing file is refused when the variant is read, a damaged one gets a message, not a traceback."""
    import torch

    from genhmr_app.detection.landmark_correction import NUM_LANDMARKS, CorrectorNet, LandmarkCorrector

    net = CorrectorNet()
    with torch.no_grad():  # a corrector that moves every landmark right by 5% of the person's box
        net.mlp[-1].weight.zero_()
        net.mlp[-1].bias.zero_()
        net.mlp[-1].bias[: NUM_LANDMARKS * 2].view(NUM_LANDMARKS, 2)[:, 0] = 0.05
        net.mlp[-1].bias[NUM_LANDMARKS * 2:] = -4.6  # spread 1% of the box: full weight
    candidate = tmp_path / "candidate.pt"
    LandmarkCorrector([net]).save(candidate)
    v = validate.parse_variant(f"cand=landmark_correction=true,corrector={candidate}")
    assert v.corrector == candidate and v.weights is None and v.settings.landmark_correction
    with pytest.raises(ValueError, match="corrector file .* does not exist"):
        validate.parse_variant(f"bad=corrector={tmp_path / 'none.pt'}")
    means = _means_on_two_scenes(tmp_path, monkeypatch, "on=landmark_correction=true",
                                 f"cand=landmark_correction=true,corrector={candidate}")
    assert means["cand"]["err2d_px"] != means["on"]["err2d_px"]  # the fit followed the moved landmarks
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    assert validate.main(["--images", "2", "--seed", "3", "--variant", f"broken=landmark_correction=true,corrector={broken}"]) == 1
    assert "landmark-corrector" in capsys.readouterr().out


def test_each_look_has_its_own_cache_and_the_flat_look_keeps_its_name():
    flat = validate.cache_path(10, 600)
    assert flat.name == f"val-v{validate.CACHE_FORMAT}-seed10-600.pkl"
    assert validate.cache_path(10, 600, "dressed") != flat


def test_dressed_validation_scenes_are_rendered_dressed(tmp_path, monkeypatch):
    if not (shared_data_dir() / "mocap").is_dir():
        pytest.skip("the validation poses come from ../shared/data/mocap")
    import genhmr_app.bench.run as bench_run

    looks = []
    real_build = bench_run.build_scenes
    monkeypatch.setattr(bench_run, "build_scenes", lambda *a, **k: looks.append(a[4]) or real_build(*a, **k))
    monkeypatch.setattr(validate, "cache_path", lambda seed, images, look="flat": tmp_path / f"{look}.pkl")
    assert validate.main(["--images", "1", "--seed", "3", "--look", "dressed"]) == 0
    # Rendered for the cache, and again for the shipped corrector's image patches: dressed each time.
    assert looks and set(looks) == {"dressed"} and (tmp_path / "dressed.pkl").exists()
