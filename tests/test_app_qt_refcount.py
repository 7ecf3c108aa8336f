"""PySide6 6.12 on Python 3.11 drops references to None/True (see genhmr_app/ui/qt_refcount.py); the
app must survive far more Qt calls than the ~10,000 that would otherwise abort the interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

from genhmr_app.paths import REPO_ROOT

SCRIPT = """
import sys
{fix}
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QLabel
app = QApplication([])
label = QLabel()
class O(QObject):
    changed = Signal()
o = O()
o.changed.connect(lambda: None)
before = sys.getrefcount(None), sys.getrefcount(True)
for _ in range({n}):
    label.setText("x")
    o.changed.emit()
print(sys.getrefcount(None) - before[0], sys.getrefcount(True) - before[1], flush=True)
import os
os._exit(0)  # without the fix, finalisation itself would abort on the lost references
"""


def _run(fix: str, n: int) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-c", SCRIPT.format(fix=fix, n=n)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_many_qt_calls_do_not_abort_the_interpreter():
    done = _run("import genhmr_app.ui", 60_000)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_workaround_is_still_needed():
    """Reports the leak per call without the fix; when PySide6 is fixed, the workaround can go."""
    probe = _run("", 100)
    assert probe.returncode == 0, probe.stderr[-2000:]
    none_drift, true_drift = map(int, probe.stdout.split())
    print(f"\nwithout the workaround, 100 calls changed the counts of None by {none_drift}, True by {true_drift}")
