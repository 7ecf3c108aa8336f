"""Annotation projects (issue 11): autosave that never half-writes or silently overwrites, recovery
from damage and crashes, pre-annotation, the review queue and the dataset export."""

from __future__ import annotations

import copy
import errno
import json
import os
import shutil

import numpy as np
import pytest

from genhmr_app.annotation import project as pj
from genhmr_app.annotation.dataset import export_dataset
from genhmr_app.annotation.session import AnnotationSession


@pytest.fixture
def photos(tmp_path, shared_images):
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in sorted((shared_images / "photos").glob("*.jpg"))[:3]:
        shutil.copy(p, folder / p.name)
    return folder


def _edit(session, i, x):
    new = copy.deepcopy(session.frame(i))
    new.pins = {"15": [float(x), 10.0]}
    return session.change_frame(i, new)


def test_autosave_backups_and_reopen(photos, tmp_path):
    file = tmp_path / "p.genhmr.json"
    s = AnnotationSession(file, photos)
    assert len(s.project.frames) == 3 and s.project.kind == "images"
    for x in range(5):
        assert _edit(s, 1, x) is None
    s.close()
    reopened = AnnotationSession(file)
    assert reopened.frame(1).pins == {"15": [4.0, 10.0]}
    assert reopened.frame(1).provenance["edits"] == 5 and not reopened.notices
    backups = pj.backup_paths(file)
    assert all(b.exists() for b in backups)
    assert json.loads(backups[0].read_text())["frames"][1]["pins"] == {"15": [3.0, 10.0]}  # the previous save
    assert not list(tmp_path.glob(".*.tmp"))
    reopened.close()


def test_someone_elses_change_is_never_overwritten(photos, tmp_path):
    file = tmp_path / "p.genhmr.json"
    s = AnnotationSession(file, photos)
    theirs = json.loads(file.read_text())
    theirs["frames"][0]["note"] = "edited in another window"
    file.write_text(json.dumps(theirs))
    error = _edit(s, 0, 7)
    assert error is not None and "changed by someone else" in error
    assert json.loads(file.read_text())["frames"][0]["note"] == "edited in another window"
    aside = list(tmp_path.glob("p.genhmr.conflict-*.json"))
    assert len(aside) == 1 and json.loads(aside[0].read_text())["frames"][0]["pins"] == {"15": [7.0, 10.0]}
    assert s.frame(0).pins == {"15": [7.0, 10.0]} and s.unsaved  # kept in memory
    s.store.release()


def test_a_damaged_project_loads_its_backup_and_keeps_the_damaged_file(photos, tmp_path):
    file = tmp_path / "p.genhmr.json"
    s = AnnotationSession(file, photos)
    _edit(s, 2, 1)
    _edit(s, 2, 2)
    s.close()
    text = file.read_text()
    file.write_text(text[: len(text) // 2])  # cut in half, as a broken disk or tool would
    reopened = AnnotationSession(file)
    assert reopened.frame(2).pins == {"15": [1.0, 10.0]}  # the backup: one edit back
    assert any("damaged" in n and "bak1" in n for n in reopened.notices)
    damaged = list(tmp_path.glob("p.genhmr.json.damaged-*"))
    assert len(damaged) == 1 and damaged[0].read_text() == text[: len(text) // 2]
    reopened.close()


def test_a_project_from_a_newer_version_is_refused_untouched(photos, tmp_path):
    file = tmp_path / "p.genhmr.json"
    AnnotationSession(file, photos).close()
    data = json.loads(file.read_text())
    data["version"] = pj.VERSION + 1
    file.write_text(json.dumps(data))
    before = file.read_bytes()
    with pytest.raises(pj.ProjectError, match="newer GenHMR Studio"):
        AnnotationSession(file)
    assert file.read_bytes() == before


def test_moved_media_are_reported_and_can_be_relocated(photos, tmp_path):
    file = tmp_path / "p.genhmr.json"
    AnnotationSession(file, photos).close()
    moved = tmp_path / "elsewhere"
    photos.rename(moved)
    s = AnnotationSession(file)
    assert s.opened.media_missing and any("not at" in n for n in s.notices)
    with pytest.raises(pj.ProjectError, match="new place"):
        s.frame_rgb(0)
    s.relocate_media(moved)
    assert s.frame_rgb(0).ndim == 3
    s.close()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_disk_or_read_only_folder_loses_nothing(photos, tmp_path, monkeypatch, code):
    file = tmp_path / "p.genhmr.json"
    s = AnnotationSession(file, photos)
    _edit(s, 0, 1)
    good = file.read_bytes()
    real_fsync = os.fsync

    def failing_fsync(fd):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(pj.os, "fsync", failing_fsync)
    error = _edit(s, 0, 2)
    assert error is not None and ("disk is full" in error if code == errno.ENOSPC else "Read-only" in error)
    assert file.read_bytes() == good  # the last good save is intact
    assert s.frame(0).pins == {"15": [2.0, 10.0]} and s.unsaved
    monkeypatch.setattr(pj.os, "fsync", real_fsync)
    assert _edit(s, 1, 3) is None  # the next edit saves everything
    data = json.loads(file.read_text())
    assert data["frames"][0]["pins"] == {"15": [2.0, 10.0]} and data["frames"][1]["pins"] == {"15": [3.0, 10.0]}
    s.close()


def test_a_crashed_session_is_noticed(photos, tmp_path):
    file = tmp_path / "p.genhmr.json"
    s = AnnotationSession(file, photos)
    _edit(s, 0, 5)
    s.store.lock_path.write_text("999999 2026-01-01\n")  # a session whose process is gone
    again = AnnotationSession(file)
    assert again.opened.crashed_session and any("did not close properly" in n for n in again.notices)
    assert again.frame(0).pins == {"15": [5.0, 10.0]}
    again.close()


def test_review_queue_states_and_copy_previous(photos, tmp_path):
    file = tmp_path / "p.genhmr.json"
    s = AnnotationSession(file, photos)
    f0 = copy.deepcopy(s.frame(0))
    f0.smpl = {"global_orient": [0, 0, 0], "body_pose": [0.1] * 69, "betas": [0] * 10, "transl": [0, 0, 3]}
    f0.token_confidence = [0.9] * 8
    s.change_frame(0, f0)
    f1 = copy.deepcopy(s.frame(1))
    f1.smpl, f1.token_confidence = copy.deepcopy(f0.smpl), [0.2] * 8
    s.change_frame(1, f1)
    assert s.queue(by_uncertainty=True) == [2, 1, 0]  # no result first, then the least confident
    s.set_state(0, "accepted")
    assert s.frame(0).state == "accepted" and s.frame(0).state_changed
    assert s.queue(("unreviewed",)) == [1, 2]
    assert s.project.counts()["accepted"] == 1
    copied = s.copy_previous_pose(2)
    assert copied.smpl == f0.smpl and copied.provenance["copied_from"] == s.frame(0).key
    with pytest.raises(ValueError):
        s.set_state(0, "maybe")
    s.close()


def test_preannotation_and_dataset_export(photos, tmp_path):
    from genhmr_app.pipeline.reconstructor import ReconstructionSettings, Reconstructor

    file = tmp_path / "p.genhmr.json"
    s = AnnotationSession(file, photos)
    _edit(s, 1, 9)  # touched by the user first: pre-annotation leaves it alone
    recon = Reconstructor()
    progress = []
    try:
        filled = s.preannotate(recon, ReconstructionSettings(refine_steps=3, iterations=2),
                               on_frame=lambda d, t: progress.append((d, t)))
    finally:
        recon.close()
    assert filled == 2 and progress[-1] == (2, 2)
    assert s.frame(0).smpl is not None and s.frame(1).smpl is None and s.frame(1).pins
    s.set_state(0, "corrected")
    s.close()
    out = tmp_path / "dataset.npz"
    desc = export_dataset(file, out)
    data = np.load(out)
    assert desc["frames"] == 3 and desc["counts"]["corrected"] == 1
    assert data["body_pose"].shape == (3, 69) and data["joints3d_smpl24"].shape == (3, 24, 3)
    assert data["has_pose"].tolist() == [True, False, True]
    assert np.isfinite(data["joints3d_smpl24"][0]).all() and np.isnan(data["body_pose"][1]).all()
    assert data["keypoint_source"][1, 15] == 0  # no detection on frame 1: nothing to mark
    assert json.loads(str(data["provenance"][0]))["source"] == "model"
    assert json.loads(out.with_suffix(".json").read_text())["arrays"]["transl"].startswith("(N, 3)")
    only = export_dataset(file, tmp_path / "accepted.npz", ("corrected",))
    assert only["frames"] == 1
