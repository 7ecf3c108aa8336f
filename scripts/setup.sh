#!/usr/bin/env bash
# Fresh machine → ready to run: system packages, a virtual environment in .venv, the pinned
# Python packages, and the app itself (editable, with the `genhmr-studio` command).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_system_packages.sh
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null \
  || .venv/bin/python -m pip install -q --no-deps -e .
echo "ready: .venv/bin/python main.py   (or .venv/bin/genhmr-studio)"
