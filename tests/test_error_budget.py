"""The error budget `main.py bench` prints (bench/error_budget.py): every row is scored on the same scenes,
and with a regressor both models see the very same perfect, simulated and real inputs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from genhmr_app.bench.error_budget import PAIRED, TRUE_2D_GROUPS, budget_lines, error_budget, fit_onto
from genhmr_app.bench.run import build_scenes, detection_matches
from genhmr_app.generator.model import load_generator
from genhmr_app.paths import WEIGHTS_DIR
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor
from genhmr_app.tokens.data import load_pose_splits


def test_the_error_budget_compares_generator_and_regressor_on_the_same_inputs():
    recon = Reconstructor(device="cpu")
    regressor = Reconstructor(body=recon.body, tokenizer=recon.tokenizer,
                              generator=load_generator(WEIGHTS_DIR / "genhmr" / "regressor.pt"), device="cpu")
    scenes = build_scenes(recon.body, load_pose_splits(), 3, seed=5)
    detector = recon.detector("image")
    detections = [d if detection_matches(d, s) else None for s in scenes for d in [detector.detect(s.image)]]
    found = sum(d is not None for d in detections)
    assert found >= 2
    settings = ReconstructionSettings(iterations=2)
    budget = error_budget(recon, scenes, detections, settings, seed=1, regressor=regressor)
    for source in PAIRED:
        for model in ("generator", "regressor"):
            row = budget[f"P=0 from {source}: {model}"]
            assert row["n"] == found and np.isfinite([row["mpjpe"], row["depth"], row["in_plane"]]).all()
    # The generator's P=0 row from the real detector is the budget's own no-refinement row: same inputs.
    assert np.isclose(budget["P=0 from real detector output: generator"]["mpjpe"],
                      budget["real detector output, no refinement (P=0)"]["mpjpe"])
    # Perfect inputs are no harder than simulated ones for the regressor either (same scenes, same draws).
    assert budget["P=0 from perfect detector output: regressor"]["mpjpe"] < \
        budget["P=0 from simulated detector output: regressor"]["mpjpe"] + 20
    # Without a regressor the budget keeps its own rows only; the table prints every row it has.
    plain = error_budget(recon, scenes, detections, settings, seed=1)
    assert not any(k.startswith("P=0 from") for k in plain)
    assert np.isclose(plain["perfect detector output"]["mpjpe"], budget["perfect detector output"]["mpjpe"])
    assert len(budget_lines(budget)) == 2 + len(budget)
    # The fit given the true 2D keypoints lands on them: its 2D error is below the app's own.
    oracle, shipped = budget["real detector output, the fit given the true 2D keypoints"], budget["real detector output"]
    assert oracle["n"] == shipped["n"] == found and oracle["err2d_px"] < shipped["err2d_px"]
    for row in ("the fit on MediaPipe's landmarks as they are", "the fit on the learned correction of them"):
        assert budget[f"real detector output, {row}"]["n"] == found
    for group in TRUE_2D_GROUPS:  # one group of landmarks at a time given the truth, on the same scenes
        row = budget[f"  … given the true 2D of {group} only"]
        assert row["n"] == found and np.isfinite([row["mpjpe"], row["err2d_px"]]).all()
    assert "fit_targets" not in vars(recon)  # the oracle's stand-in is gone again


def test_a_partial_oracle_replaces_only_its_landmarks_and_keeps_the_apps_weights():
    recon = Reconstructor(device="cpu")
    rng = np.random.default_rng(0)
    person = SimpleNamespace(landmarks_px=rng.uniform(0, 640, (33, 2)).astype(np.float32),
                             visibility=rng.uniform(0.2, 1, 33).astype(np.float32), tracked_px=None)
    truth = rng.uniform(0, 640, (33, 2)).astype(np.float32)
    arms = TRUE_2D_GROUPS["the arms (elbows, wrists, hands)"]
    with fit_onto(recon, truth, only=arms):
        points, weights, _ = recon.fit_targets(person, False)
    rest = [i for i in range(33) if i not in arms]
    assert np.array_equal(points[list(arms)], truth[list(arms)])
    assert np.array_equal(points[rest], person.landmarks_px[rest])
    assert np.array_equal(weights, person.visibility)
    with fit_onto(recon, truth):  # the whole oracle: every point is the truth
        points, _, _ = recon.fit_targets(person, False)
    assert np.array_equal(points, truth)
    assert "fit_targets" not in vars(recon)
