"""`python -m genhmr_app.ui.screenshot OUT.png [IMAGE]`: the window with a photo reconstructed, for the
README. Uses the trained weights when they exist, else a stand-in generator (and says so).
Run under a display: xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m genhmr_app.ui.screenshot"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from genhmr_app.paths import shared_data_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="screenshot", description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, nargs="?", default=Path("docs/window.png"))
    ap.add_argument("image", type=Path, nargs="?",
                    default=shared_data_dir() / "images" / "photos" / "hybrik_000000581328.jpg")
    ap.add_argument("--hypotheses", type=int, default=3)
    ap.add_argument("--refine-steps", type=int, default=None, help="default: the app's default")
    args = ap.parse_args(argv)
    # A fresh window: neither the user's saved layout nor their settings file is read or written.
    import tempfile

    os.environ["GENHMR_SETTINGS"] = str(Path(tempfile.mkdtemp(prefix="genhmr-")) / "settings.json")

    from genhmr_app.ui.app import prepare_qt_environment

    prepare_qt_environment()
    from PySide6.QtWidgets import QApplication

    from genhmr_app.pipeline.session import CoreSession, stand_in_model_factory
    from genhmr_app.settings import AppSettings
    from genhmr_app.ui.main_window import MainWindow
    from genhmr_app.ui.testing import wait_until

    app = QApplication.instance() or QApplication(sys.argv[:1])
    session = CoreSession.create()
    if session.reconstructor() is None:
        factory, what = stand_in_model_factory()
        print(f"note: {session.model_message}\nUsing a stand-in: {what}.")
        session.close()
        session = CoreSession.create(model_factory=factory)
    window = MainWindow(settings=AppSettings(), session=session)
    window.show()
    window.controls.hypotheses.setValue(args.hypotheses)
    if args.refine_steps is not None:
        window.controls.refine_steps.setValue(args.refine_steps)
    window.open_path(args.image)
    wait_until(lambda: window.last_analysis is not None and not window.runner.busy and not window.controls.pending(), 120)
    wait_until(lambda: False, 0.5)  # let the 3D view paint
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(args.out))
    print(f"{'wrote' if ok else 'could not write'} {args.out} (model: {session.model_name})")
    window.close()
    session.close()
    app.processEvents()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
