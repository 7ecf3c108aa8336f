"""The real-photo 2D check of `main.py bench` (bench/real_2d.py): the one reconstructed person of each
annotated COCO/MPII photo is matched to its annotation and both 2D errors are scored on the same joints."""

from __future__ import annotations

import numpy as np

from genhmr_app.bench.real_2d import joint_table, run_real_2d
from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor


def test_people_in_the_annotated_photos_are_matched_and_scored(shared_images):
    result = run_real_2d(Reconstructor(device="cpu"), ReconstructionSettings(iterations=1), shared_images / "kp2d")
    found = [r for r in result["rows"] if r["found"]]
    assert result["matched"] == len(found) >= 6  # 9 photos; MediaPipe misses or mismatches few
    for r in found:
        assert r["joints"] >= 6 and r["height_px"] > 50
        # Matched to the right person: MediaPipe's own landmarks sit on them (well under half their height).
        assert r["mediapipe_share"] < 0.25 and np.isfinite(r["ours_share"])
    assert np.isclose(result["ours_share"], np.mean([r["ours_share"] for r in found]))
    # The same keypoints placed where the detector puts them (what the fit matched) are scored too.
    assert all(np.isfinite(r["placed_share"]) for r in found)
    assert np.isclose(result["placed_share"], np.mean([r["placed_share"] for r in found]))
    # Per joint: the 12 limb joints, each labelled somewhere; the mean over joints and people agrees
    # with the per-person figures' scale, and the fit's distance to MediaPipe's own points is finite.
    joints = result["joints"]
    assert len(joints) == 12 and {"left knee", "right ankle"} <= set(joints)
    for j in joints.values():
        assert 0 <= j["mediapipe_share"] < 0.5 and np.isfinite(j["ours_share"]) and j["ours_to_mediapipe_share"] >= 0
        assert np.isfinite(j["placed_share"])
    assert abs(np.mean([j["mediapipe_share"] for j in joints.values()]) - result["mediapipe_share"]) < 0.05
    table = joint_table(result)
    assert len([line for line in table if line.startswith("| left") or line.startswith("| right")]) == 12
    assert joint_table({"joints": {}}) == []


def test_the_benchmarks_paired_margin_pairs_scenes_and_widens_with_their_spread():
    from genhmr_app.bench.run import paired_margin

    reference = {i: 100.0 + 10 * (i % 3) for i in range(40)}  # scenes of very different difficulty
    ours = {i: v - 2.0 for i, v in reference.items()} | {99: 0.0}  # scene 99 has no reference: left out
    mean, low, high = paired_margin(ours, reference)
    assert (mean, low, high) == (-2.0, -2.0, -2.0)  # the shared difficulty cancels: no spread at all
    noisy = {i: v + (3.0 if i % 2 else -3.0) for i, v in ours.items() if i != 99}
    mean, low, high = paired_margin(noisy, reference)
    assert abs(mean + 2.0) < 1e-9 and low < -2.5 and high > -1.5 and np.isclose(high - mean, mean - low)
    # A factor: ours against 0.85 x the reference.
    assert np.isclose(paired_margin(reference, reference, 0.85)[0], 0.15 * np.mean(list(reference.values())))
    assert paired_margin({0: 1.0}, {0: 2.0}) is None


def test_every_annotated_person_is_scored_in_their_own_crop(shared_images):
    from genhmr_app.bench.real_2d import CROP_MIN_SIDE, LIMBS, person_crop, run_person_crops
    from genhmr_app.detection.people_count import load_annotated

    # The crop: a square around the person's labelled keypoints, which land inside it, scaled up when small.
    photo = np.zeros((300, 400, 3), np.uint8)
    person = np.zeros((17, 3))
    person[:, :2] = np.c_[np.linspace(350, 390, 17), np.linspace(200, 280, 17)]  # near the photo's right edge
    person[:, 2] = 1
    crop, limbs = person_crop(photo, person)
    assert crop.shape[0] == crop.shape[1] >= CROP_MIN_SIDE
    assert (limbs[:, :2] > 0).all() and (limbs[:, :2] < crop.shape[0]).all()
    scale = crop.shape[0] / (1.6 * 80)
    assert np.allclose(limbs[1, :2] - limbs[0, :2], (person[LIMBS][1, :2] - person[LIMBS][0, :2]) * scale, atol=1e-3)

    recon = Reconstructor(device="cpu")
    result = run_person_crops(recon, ReconstructionSettings(iterations=1), shared_images / "kp2d")
    photos = load_annotated(shared_images / "kp2d")
    assert len(result["rows"]) > len(photos)  # several people in some photos: more than one per photo
    found = [r for r in result["rows"] if r["found"]]
    assert result["matched"] == len(found) >= 12
    assert len({r["person"] for r in result["rows"]}) == len(result["rows"])  # photo#index names each person
    for r in found:
        assert r["mediapipe_share"] < 0.25 and np.isfinite(r["placed_share"])
    assert np.isclose(result["placed_share"], np.mean([r["placed_share"] for r in found]))


def test_the_crops_difference_is_paired_by_person():
    from genhmr_app.bench.validate import crop_difference

    reference = [{"person": "a#0", "found": True, "placed_share": 0.05}, {"person": "b#0", "found": True, "placed_share": 0.07},
                 {"person": "c#0", "found": False}]
    rows = [{"person": "a#0", "found": True, "placed_share": 0.04}, {"person": "b#0", "found": True, "placed_share": 0.10},
            {"person": "c#0", "found": True, "placed_share": 0.5}]  # c: not found by the reference, left out
    assert crop_difference(rows, reference) == "+1.00 (2.00), 1 / 1"  # −1 and +3 points
    assert crop_difference(rows[:1], reference) == "–"
