"""The README's annotator screenshot: a rendered walker opened as a project, the left wrist dragged
and settled, the window grabbed to docs/annotator.png.

    xvfb-run -a -s "-screen 0 1400x1000x24" .venv/bin/python scripts/annotator_screenshot.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genhmr_app.annotation.session import AnnotationSession  # noqa: E402
from genhmr_app.bench.scenes import render_walker  # noqa: E402
from genhmr_app.paths import REPO_ROOT  # noqa: E402
from genhmr_app.pipeline.reconstructor import Reconstructor  # noqa: E402
from genhmr_app.ui.app import prepare_qt_environment  # noqa: E402


def main() -> None:
    prepare_qt_environment()
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from genhmr_app.ui.annotator import AnnotatorWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    work = Path(tempfile.mkdtemp())
    (work / "shoot").mkdir()
    for k, frame in enumerate((40, 80, 120)):
        image, _f, _b = render_walker((720, 720), frame=frame, seed=k + 3, distance_m=2.1)
        Image.fromarray(image).save(work / "shoot" / f"take_{k:02d}.png")
    recon = Reconstructor()
    win = AnnotatorWindow(AnnotationSession(work / "shoot.genhmr.json", work / "shoot"), recon, preannotate=False)
    win.resize(1500, 920)
    win.show()

    def pump(cond, timeout=120.0):
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            QCoreApplication.processEvents()
            time.sleep(0.01)

    pump(lambda: win.pose is not None)
    start = win.editor.keypoints_px(win.pose)[15]
    target = start + np.array([45.0, -60.0])
    for t in np.linspace(0.1, 1.0, 8):
        p = start + t * (target - start)
        win.handle_moved(15, float(p[0]), float(p[1]))
        pump(lambda: False, 0.05)
    win.handle_released(15, float(target[0]), float(target[1]))
    pump(lambda: win.undo_stack.count() > 0 and not win.runner.busy)
    win.set_locks({0, 1, 2, 3})
    win.session.set_state(1, "accepted")
    win.refresh_list()
    win.image_view.fit()
    pump(lambda: False, 0.5)
    out = REPO_ROOT / "docs" / "annotator.png"
    win.grab().save(str(out))
    print(f"saved {out}")
    win.close()
    recon.close()


if __name__ == "__main__":
    main()
