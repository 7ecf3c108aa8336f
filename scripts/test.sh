#!/usr/bin/env bash
# The whole test suite. Under Xvfb, because the embedded VTK viewport needs a real GL-capable display;
# plain-widget tests would also pass with QT_QPA_PLATFORM=offscreen.
set -euo pipefail
cd "$(dirname "$0")/.."
exec xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/python -m pytest -q "$@"
