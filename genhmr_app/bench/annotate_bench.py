"""Annotator benchmark (a script, not a timed test): drag → mesh update latency in the real window.

A rendered walker is opened as a project; keypoint handles (wrists, elbows, ankles, knees) are
dragged along paths with a mouse event every 1/60 s, through the window's own path (handle moved →
refit in the worker → mesh, skeleton and handles redrawn). For every move, the latency is the time
until the 3D view's picture of a refit that includes it is ready to paint (a move whose own refit was
replaced by a newer one counts until that newer one is rendered). Also: updates per second during the drags, and the settle
time after the release.

    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python main.py bench-annotate [--drags 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# MediaPipe's indices: wrists, elbows, knees, ankles
DRAGGED = (15, 16, 13, 14, 25, 26, 27, 28)
MOVE_INTERVAL_S = 1 / 60
MOVES_PER_DRAG = 30


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="main.py bench-annotate", description=__doc__.splitlines()[0])
    ap.add_argument("--drags", type=int, default=8)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        print("note: no DISPLAY; the 3D view will not render (run under xvfb-run for real figures)")
    from PIL import Image

    from genhmr_app.annotation.session import AnnotationSession
    from genhmr_app.pipeline.reconstructor import Reconstructor
    from genhmr_app.bench.scenes import render_walker
    from genhmr_app.ui.app import one_torch_thread, prepare_qt_environment

    prepare_qt_environment()
    one_torch_thread()  # as the windows run (ui/app.py)
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from genhmr_app.ui.annotator import AnnotatorWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    work = Path(tempfile.mkdtemp(prefix="genhmr-bench-annotate-"))
    (work / "media").mkdir()
    image, _focal, _body = render_walker((640, 640), distance_m=2.4)
    Image.fromarray(image).save(work / "media" / "walker.png")
    recon = Reconstructor()
    session = AnnotationSession(work / "bench.genhmr.json", work / "media")
    win = AnnotatorWindow(session, recon, preannotate=False)
    win.resize(1400, 900)
    win.show()

    def pump_until(cond, timeout=120.0) -> None:
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            QCoreApplication.processEvents()
            time.sleep(0.002)
        if not cond():
            raise TimeoutError("the window did not respond in time")

    pump_until(lambda: win.pose is not None)
    # A user opens a project and looks before dragging; the model process loads in those seconds.
    in_process = win.model_process is not None and win.model_process.wait_ready()
    print(f"refits run in {'the model process' if in_process else 'a thread of the window process'}")
    rng = np.random.default_rng(0)
    settle_ms, updates_per_s, follow_px, settled_px = [], [], [], []
    counter = {"n": 0}
    win.pose_shown.connect(lambda: counter.__setitem__("n", counter["n"] + 1))
    for d in range(args.drags):
        index = DRAGGED[d % len(DRAGGED)]
        start = win.editor.keypoints_px(win.pose)[index]
        offset = rng.normal(0, 25, 2)
        shown_before = len(win.drag_latencies_ms)
        counter["n"] = 0
        t0 = time.perf_counter()
        for k in range(1, MOVES_PER_DRAG + 1):
            # The mouse moves on a fixed schedule; a move the busy UI could only take late counts its
            # latency from when it was due, as the user's hand made it then.
            due = t0 + (k - 1) * MOVE_INTERVAL_S
            p = start + offset * k / MOVES_PER_DRAG
            win.handle_moved(index, float(p[0]), float(p[1]), at=due)
            while time.perf_counter() < due + MOVE_INTERVAL_S:
                QCoreApplication.processEvents()
                time.sleep(0.001)
        pump_until(lambda: not win._move_times and not win._awaiting_picture)  # the last move is on screen
        drag_s = time.perf_counter() - t0
        # How close the mesh shown at the end of the drag has followed the hand (before the settle).
        follow_px.append(float(np.linalg.norm(win.editor.keypoints_px(win.pose)[index] - (start + offset))))
        updates_per_s.append(counter["n"] / drag_s)
        steps = win.undo_stack.count()
        t1 = time.perf_counter()
        end = start + offset
        win.handle_released(index, float(end[0]), float(end[1]))
        pump_until(lambda: win.undo_stack.count() > steps and not win.runner.busy)
        settle_ms.append((time.perf_counter() - t1) * 1000)
        settled_px.append(float(np.linalg.norm(win.editor.keypoints_px(win.pose)[index] - end)))
        print(f"drag {d + 1}: keypoint {index}, {len(win.drag_latencies_ms) - shown_before} moves shown, "
              f"{updates_per_s[-1]:.1f} updates/s, {follow_px[-1]:.1f} px behind the hand at the end of the drag, "
              f"settle {settle_ms[-1]:.0f} ms to {settled_px[-1]:.1f} px")
    lat = np.array(win.drag_latencies_ms)
    figures = {"drag_latency_p50_ms": round(float(np.percentile(lat, 50)), 1),
               "drag_latency_p90_ms": round(float(np.percentile(lat, 90)), 1),
               "drag_latency_max_ms": round(float(lat.max()), 1), "moves": int(len(lat)),
               "updates_per_s_median": round(statistics.median(updates_per_s), 1),
               "settle_ms_median": round(statistics.median(settle_ms), 1),
               "follow_px_median": round(statistics.median(follow_px), 1),
               "settled_px_median": round(statistics.median(settled_px), 1), "cpu_threads": int(os.cpu_count() or 0),
               "refit_in_model_process": bool(in_process)}
    print(json.dumps(figures, indent=1))
    print(f"drag → mesh update latency p90 {figures['drag_latency_p90_ms']} ms (target ≤ 100 ms); "
          f"{figures['updates_per_s_median']} updates/s while dragging (target ≥ 10)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    win.close()
    recon.close()
    return 0
