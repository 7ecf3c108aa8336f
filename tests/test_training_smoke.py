"""The training commands run, checkpoint and resume (a few steps on the real pose cache)."""

from __future__ import annotations

import json

import pytest
import torch

from genhmr_app.paths import shared_data_dir


@pytest.fixture(scope="module", autouse=True)
def _need_mocap():
    if not (shared_data_dir() / "mocap").is_dir():
        pytest.skip(f"shared mocap data not found at {shared_data_dir() / 'mocap'} (set GENHMR_SHARED_DIR)")


def test_tokenizer_training_writes_weights_card_and_resumes(tmp_path):
    from genhmr_app.tokens.model import TokenizerConfig, load_tokenizer
    from genhmr_app.tokens.train import TrainConfig, train

    cfg = TokenizerConfig(num_tokens=4, codebook_size=16, code_dim=8, hidden=32, depth=1)
    tcfg = TrainConfig(steps=3, batch=16, vertex_subset=32, threads=1)
    out = tmp_path / "tok.pt"
    card = train(cfg, tcfg, tmp_path / "run", out, command="test", show_progress=False)
    assert load_tokenizer(out, expected=cfg).config == cfg
    assert json.loads(out.with_suffix(".json").read_text())["config"]["num_tokens"] == 4
    assert card["data"]["poses"] > 1000
    assert card["device"] == "CPU" or torch.cuda.is_available()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 3 and all(torch.isfinite(torch.tensor(r["total"])) for r in log)
    before = (tmp_path / "run" / "checkpoint.pt").stat().st_mtime_ns
    train(cfg, tcfg, tmp_path / "run", None, show_progress=False)  # resumes at step 3: nothing to do
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["step"] == 3
    assert (tmp_path / "run" / "checkpoint.pt").stat().st_mtime_ns == before


@pytest.mark.parametrize("mode", ["generate", "regress"])
def test_generator_training_runs(tmp_path, mode):
    from genhmr_app.generator.model import load_generator
    from genhmr_app.training.train_generator import train

    out = tmp_path / f"{mode}.pt"
    card = train(mode, steps=2, minutes=None, batch_size=8, seed=0, run_dir=tmp_path / "run", out_path=out,
                 width=32, layers=1, command="test", threads=1)
    assert card["steps_done"] == 2
    assert load_generator(out).config.mode == mode


def test_fine_tuning_starts_from_the_given_weights_and_refuses_another_make(tmp_path):
    from genhmr_app.generator.model import load_generator
    from genhmr_app.training.train_generator import train

    first = tmp_path / "first.pt"
    train("generate", steps=2, minutes=None, batch_size=8, seed=0, run_dir=tmp_path / "a", out_path=first,
          width=32, layers=1, command="test", threads=1)
    tuned = tmp_path / "tuned.pt"
    card = train("generate", steps=2, minutes=None, batch_size=8, seed=1, run_dir=tmp_path / "b", out_path=tuned,
                 width=32, layers=1, command="test", threads=1, init=first, lr=1e-9)
    assert card["initialised_from"] == str(first)
    a, b = load_generator(first).state_dict(), load_generator(tuned).state_dict()
    # A near-zero learning rate: the tuned weights are the starting ones, not a fresh initialisation.
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)
    with pytest.raises(SystemExit, match="not the"):
        train("generate", steps=1, minutes=None, batch_size=8, seed=0, run_dir=tmp_path / "c",
              out_path=tmp_path / "x.pt", width=64, layers=1, command="test", threads=1, init=first)


def test_the_generator_can_train_on_its_own_draws_and_augmented_poses(tmp_path):
    """--own-share: unmasked tokens drawn from the model itself (exposure bias); --augment: the
    synthesised poses widened as the tokenizer's are. Both are recorded in the card."""
    from genhmr_app.generator.model import GeneratorConfig, MaskedPoseTransformer
    from genhmr_app.training.train_generator import own_samples, train

    model = MaskedPoseTransformer(GeneratorConfig(num_tokens=8, codebook_size=32, width=32, layers=1, heads=2)).eval()
    cond = torch.randn(64, 34, 8)
    a = own_samples(model, cond, torch.Generator().manual_seed(0))
    b = own_samples(model, cond, torch.Generator().manual_seed(0))
    assert a.shape == (64, 8) and torch.equal(a, b) and int(a.max()) < 32 and len(a.unique()) > 1
    card = train("generate", steps=2, minutes=None, batch_size=8, seed=0, run_dir=tmp_path / "run",
                 out_path=tmp_path / "g.pt", width=32, layers=1, command="test", threads=1, own_share=1.0,
                 augment="mirror,mix,fold:0.5,wide:0.5", blind_share=0.5)
    assert card["steps_done"] == 2 and card["own_share"] == 1.0 and card["augment"] == "mirror,mix,fold:0.5,wide:0.5"
    assert card["blind_share"] == 0.5


def test_a_model_fine_tuned_into_self_conditioning_starts_from_its_weights(tmp_path):
    """--self-condition: the fine-tuned model gains the input for the last iteration's beliefs (starting
    at zero) and keeps every other weight; the card records the share."""
    from genhmr_app.generator.model import load_generator
    from genhmr_app.training.train_generator import train

    first = tmp_path / "first.pt"
    train("generate", steps=2, minutes=None, batch_size=8, seed=0, run_dir=tmp_path / "a", out_path=first,
          width=32, layers=1, command="test", threads=1)
    tuned = tmp_path / "tuned.pt"
    card = train("generate", steps=2, minutes=None, batch_size=8, seed=1, run_dir=tmp_path / "b", out_path=tuned,
                 width=32, layers=1, command="test", threads=1, init=first, lr=1e-9, self_condition_share=1.0,
                 unroll_share=0.5)
    assert card["self_condition_share"] == 1.0 and card["config"]["self_condition"] is True
    assert card["unroll_share"] == 0.5
    a, b = load_generator(first).state_dict(), load_generator(tuned)
    assert b.config.self_condition and b.previous_proj.weight.abs().max() < 1e-3
    assert all(torch.allclose(a[k], b.state_dict()[k], atol=1e-4) for k in a)


def _fine_tuned_into(tmp_path, lr=1e-9, steps=2, **new_part):
    """A small self-conditioned model, then the same fine-tuned into `new_part` (feedback=True,
    latent_offset=True, ...): (the first model's weights, the fine-tune's card and model)."""
    from genhmr_app.generator.model import load_generator
    from genhmr_app.training.train_generator import train

    first = tmp_path / "first.pt"
    if not first.exists():
        train("generate", steps=2, minutes=None, batch_size=8, seed=0, run_dir=tmp_path / "a", out_path=first,
              width=32, layers=1, command="test", threads=1, self_condition_share=1.0)
    tuned = tmp_path / f"tuned-{lr:g}.pt"
    card = train("generate", steps=steps, minutes=None, batch_size=8, seed=1, run_dir=tmp_path / f"b-{lr:g}",
                 out_path=tuned, width=32, layers=1, command="test", threads=1, init=first, lr=lr,
                 self_condition_share=1.0, **new_part)
    return load_generator(first).state_dict(), card, load_generator(tuned)


def test_a_model_fine_tuned_into_feedback_starts_from_its_weights(tmp_path):
    """--feedback: a self-conditioned model gains the reprojection-residual input (its output layer at
    zero) and keeps every other weight; training runs the unrolled, fed-back forwards; the card says so."""
    a, card, b = _fine_tuned_into(tmp_path, unroll_share=0.5, feedback=True)
    assert card["feedback"] is True and card["config"]["feedback"] is True
    assert b.feedback_in[2].weight.abs().max() < 1e-3
    assert all(torch.allclose(a[k], b.state_dict()[k], atol=1e-4) for k in a)
    # --feedback-depth: the residuals carry each landmark's depth too (33 x 3 into the feedback input)
    _, card, c = _fine_tuned_into(tmp_path, lr=1e-3, unroll_share=0.5, feedback=True, feedback_depth=True)
    assert card["feedback_depth"] is True and c.config.feedback_depth
    assert c.feedback_in[0].weight.shape[1] == 33 * 3


def test_a_model_fine_tuned_into_a_latent_offset_starts_from_its_weights_and_learns_it(tmp_path):
    """--latent-offset: the model gains a continuous latent head (at zero) beside its tokens and keeps
    every other weight; trained, the head moves (the pose losses reach it through the decoder, here
    with the whole batch decoded: --aux-share 1), and the card and config say so."""
    a, card, b = _fine_tuned_into(tmp_path, latent_offset=True)
    assert card["latent_offset"] is True and card["config"]["latent_offset_dim"] > 0
    assert b.latent_head.weight.abs().max() < 1e-3
    assert all(torch.allclose(a[k], b.state_dict()[k], atol=1e-4) for k in a)
    assert card["aux_share"] == 0.25
    _, card, moved = _fine_tuned_into(tmp_path, lr=1e-3, steps=3, latent_offset=True, aux_share=1.0)
    assert card["aux_share"] == 1.0 and moved.latent_head.weight.abs().max() > 1e-4


def test_own_draws_are_refused_for_the_regressor(capsys):
    from genhmr_app.training.train_generator import main

    with pytest.raises(SystemExit) as stop:
        main(["--mode", "regress", "--own-share", "0.5"])
    assert stop.value.code == 2 and "--own-share is for --mode generate" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--mode", "regress", "--blind-share", "0.5"])
    assert stop.value.code == 2 and "--blind-share is for --mode generate" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--mode", "regress", "--self-condition", "0.5"])
    assert stop.value.code == 2 and "--self-condition is for --mode generate" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--aux-share", "0"])
    assert stop.value.code == 2 and "--aux-share must be in (0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--unroll", "0.5"])
    assert stop.value.code == 2 and "--unroll needs --self-condition" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--feedback"])
    assert stop.value.code == 2 and "--feedback needs --self-condition" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--self-condition", "0.5", "--feedback-depth"])
    assert stop.value.code == 2 and "--feedback-depth needs --feedback" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--mode", "regress", "--latent-offset"])
    assert stop.value.code == 2 and "--latent-offset is for --mode generate" in capsys.readouterr().err


def test_the_generator_trainer_runs_where_it_is_told_and_says_so(tmp_path):
    """--device: a CPU run named explicitly is the run the trainer made before the option (batches are
    made on the CPU either way), and the card says where it trained."""
    from genhmr_app.generator.model import load_generator
    from genhmr_app.training.train_generator import train

    if torch.cuda.is_available():
        pytest.skip("'auto' would pick CUDA here; the comparison is for a CPU-only machine")
    runs = {}
    for device in ("cpu", "auto"):
        out = tmp_path / f"{device}.pt"
        card = train("generate", steps=2, minutes=None, batch_size=8, seed=3, run_dir=tmp_path / device, out_path=out,
                     width=32, layers=1, command="test", threads=1, device=device)
        assert card["device"] == "CPU"
        runs[device] = load_generator(out).state_dict()
    assert all(torch.equal(runs["cpu"][k], runs["auto"][k]) for k in runs["cpu"])


def test_a_synthesised_batch_moves_whole_and_stays_put_where_it_is():
    from genhmr_app.training.synthesis import SynthBatch

    batch = SynthBatch(*[torch.zeros(2, i + 1) for i in range(len(SynthBatch.__dataclass_fields__))])
    assert batch.to("cpu") is batch
    moved = batch.to(torch.device("meta"))
    assert all(t.device.type == "meta" for t in moved.fields())
    assert [t.shape for t in moved.fields()] == [t.shape for t in batch.fields()]


def test_the_device_training_script_refuses_to_fall_back_to_the_cpu(tmp_path, capsys):
    import importlib.util

    from genhmr_app.paths import REPO_ROOT

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    path = REPO_ROOT / "scripts" / "device" / "train_on_device.py"
    spec = importlib.util.spec_from_file_location("train_on_device", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["train", "--device", "cuda", "--out", str(tmp_path)]) == 1
    assert "no CUDA device here" in capsys.readouterr().out
    assert script.main(["train", "--device", "cuda", "--camera-loss", "10", "--out", str(tmp_path)]) == 1
    assert not list(tmp_path.glob("*.pt"))


def test_the_camera_frame_joint_loss_sees_orientation_and_weighs_depth():
    """--camera-loss: the joints are compared in the camera's frame, pelvis aligned, so a turned body
    costs what its far joints moved (the body-frame joint loss cannot see it), a body moved as a whole
    costs nothing, and --in-plane-weight scales the image-plane part against the depth."""
    import roma

    from genhmr_app.training.train_generator import camera_joint_loss

    true = torch.randn(2, 24, 3, generator=torch.Generator().manual_seed(0)) * 0.3
    assert camera_joint_loss(true + torch.tensor([0.5, -0.2, 3.0]), true) < 1e-4
    turned = true @ roma.rotvec_to_rotmat(torch.tensor([0.2, 0.0, 0.0])).T  # a pitch: 0.2 rad about the camera's x axis
    assert camera_joint_loss(turned, true) > 0.02
    in_plane = true + torch.cat([torch.zeros(2, 1, 3), torch.tensor([0.03, 0.0, 0.0]).expand(2, 23, 3)], 1)
    depth = true + torch.cat([torch.zeros(2, 1, 3), torch.tensor([0.0, 0.0, 0.03]).expand(2, 23, 3)], 1)
    loss = lambda pred, w=1.0: float(camera_joint_loss(pred, true, w))  # noqa: E731
    assert loss(in_plane) == pytest.approx(loss(depth), rel=1e-3)
    assert loss(in_plane, 0.5) == pytest.approx(0.5 * loss(depth, 0.5), rel=1e-3)
    assert camera_joint_loss(in_plane, true, 0.0) < 1e-4


def test_the_trainer_adds_the_camera_frame_loss_when_asked_and_records_it(tmp_path):
    from genhmr_app.training.train_generator import main, train

    card = train("regress", steps=2, minutes=None, batch_size=8, seed=0, run_dir=tmp_path / "run",
                 out_path=tmp_path / "r.pt", width=32, layers=1, command="test", threads=1, camera_loss=10.0,
                 in_plane_weight=0.5)
    assert card["camera_loss"] == 10.0 and card["in_plane_weight"] == 0.5
    with pytest.raises(SystemExit) as stop:
        main(["--camera-loss", "-1"])
    assert stop.value.code == 2


def test_a_run_on_many_data_folders_gets_a_checkpoint_folder_a_file_system_accepts():
    from genhmr_app.training.train_generator import CHECKPOINT_FOLDER_NAME_LIMIT, checkpoint_folder_name
    short = "generate-w128-l4-s5-pose_tokenizer"
    assert checkpoint_folder_name(short) == short
    folders = "+".join(f"genhmr-detector-data-{i:010d}" for i in range(5))
    key = f"generate-w128-l4-s6-pose_tokenizer-real0.4-{folders}-2400steps-feedback"
    name = checkpoint_folder_name(key)
    assert len(name) <= CHECKPOINT_FOLDER_NAME_LIMIT < 255 and name.startswith("generate-w128-l4-s6")
    assert checkpoint_folder_name(key) == name  # the same run resumes from the same folder
    assert checkpoint_folder_name(key.replace("s6", "s7")) != name
