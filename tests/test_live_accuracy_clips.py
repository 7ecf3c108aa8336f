"""`bench-live-accuracy --clips validation` (bench/live_accuracy.py): the clips settings are chosen on are
validation-split motions, never the walk the live figure is reported on."""

from __future__ import annotations

import numpy as np
import pytest

from genhmr_app.bench.live_accuracy import VALIDATION_CLIPS, evaluate, load_clip
from genhmr_app.bench.scenes import WALK_CLIP
from genhmr_app.paths import shared_data_dir


def test_the_validation_clips_are_validation_split_motions_and_not_the_walk():
    from genhmr_app.mocap.dataset import discover_clips, mocap_root, split_for

    if not (shared_data_dir() / "mocap" / "bandai-1").is_dir():
        pytest.skip("the shared motion capture is not there")
    sources = {src.clip_id.split("/")[1]: src for src in discover_clips(mocap_root())}
    walk = WALK_CLIP[-1].removesuffix(".bvh")
    assert walk not in VALIDATION_CLIPS and len(set(VALIDATION_CLIPS)) == 18
    for stem in VALIDATION_CLIPS:
        content = stem.split("_")[1]
        assert split_for(sources[stem], content) == "val", stem
    every = {stem for stem, src in sources.items() if src.dataset == "bandai-1"
             and split_for(src, stem.split("_")[1]) == "val"}
    assert every == set(VALIDATION_CLIPS), "every validation-split clip, and only those"
    _body, _betas, _rest, clip = load_clip(VALIDATION_CLIPS[0])
    assert clip.body_pose.shape[0] > 20 and np.isfinite(clip.body_pose).all()


def test_a_validation_clip_is_scored_live_and_still():
    if not (shared_data_dir() / "mocap" / "bandai-1").is_dir():
        pytest.skip("the shared motion capture is not there")
    out = evaluate(3, 0.4, VALIDATION_CLIPS[2])
    assert out["clip"] == VALIDATION_CLIPS[2] and out["still_found"] == 3 and out["live_found"] >= 2
    assert 0 < out["still_pa_mpjpe_mm"] < 200 and 0 < out["live_pa_mpjpe_mm"] < 200
    assert np.isclose(out["live_over_still"], out["live_pa_mpjpe_mm"] / out["still_pa_mpjpe_mm"], atol=1e-3)
