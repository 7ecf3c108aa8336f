"""Kill an annotating process with SIGKILL at random moments, many of them in the middle of a save:
every edit it confirmed as saved is there after a restart, and the project file is never half-written."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from genhmr_app.annotation.session import AnnotationSession

CHILD = r"""
import copy, sys
from pathlib import Path
from genhmr_app.annotation.session import AnnotationSession
s = AnnotationSession(Path(sys.argv[1]))
n = len(s.project.frames)
start = s.project.edits
print("ready", start, flush=True)
k = start
while True:
    k += 1
    new = copy.deepcopy(s.frame(k % n))
    new.pins = {"15": [float(k), 1.0]}
    new.note = "x" * (k % 5000)  # saves of varying length
    if s.change_frame(k % n, new) is None:
        print("saved", k, flush=True)
"""

KILLS = 12
# Whether a kill lands inside a save depends on the machine's speed: a fast one spends less of its time
# saving, so the test kills on (up to MAX_KILLS) until at least MIN_MID_SAVE kills have landed inside one.
MAX_KILLS = 40
MIN_MID_SAVE = 2


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_during_autosave_loses_no_confirmed_edit(tmp_path, shared_images):
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in sorted((shared_images / "photos").glob("*.jpg"))[:4]:
        shutil.copy(p, photos / p.name)
    file = tmp_path / "p.genhmr.json"
    AnnotationSession(file, photos).close()
    rng = random.Random(0)
    mid_save = 0
    attempt = 0
    while attempt < KILLS or (mid_save < MIN_MID_SAVE and attempt < MAX_KILLS):
        attempt += 1
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(file)], stdout=subprocess.PIPE, text=True,
                                 cwd=os.getcwd())
        first = child.stdout.readline().split()
        assert first and first[0] == "ready", first
        time.sleep(rng.uniform(0.02, 0.4))
        child.send_signal(signal.SIGKILL)
        # A temporary file left behind means the kill landed inside a save.
        mid_save += bool(list(tmp_path.glob(".p.genhmr.json.*.tmp")))
        # Complete lines only: the kill can land inside a print, leaving "saved" or "saved 12" of
        # "saved 123" after the last newline.
        out = child.communicate()[0].split("\n")[:-1]
        child.wait()
        confirmed = [int(line.split()[1]) for line in out if line.startswith("saved ")]
        text = file.read_text()
        data = json.loads(text)  # never half-written: it parses, and it is the project
        assert data["format"] == "genhmr-annotation-project"
        s = AnnotationSession(file)
        assert s.opened.crashed_session, "the killed session's lock should be noticed"
        assert not any("damaged" in n for n in s.notices)
        if confirmed:
            last = confirmed[-1]
            n = len(s.project.frames)
            assert s.project.edits >= last
            # every frame's pin is from its last confirmed edit or later
            for i in range(n):
                mine = [k for k in confirmed if k % n == i]
                if mine:
                    assert s.frame(i).pins["15"][0] >= mine[-1], (attempt, i)
        s.store.release()
        for tmp in tmp_path.glob(".p.genhmr.json.*.tmp"):
            tmp.unlink()  # what a killed save leaves; the next session ignores it
    print(f"\n{attempt} kills, {mid_save} inside a save; no confirmed edit lost, no damaged file")
    assert mid_save >= MIN_MID_SAVE, "some kills should land inside a save"
