#!/usr/bin/env bash
# The CUDA check on the GPU machine: scripts/device/cuda_check.py on the device, against the CPU.
#
# That machine has python3 with torch (CUDA build), numpy, scipy, opencv, pillow and tqdm, but not the
# app's pure-Python needs smplx, roma and platformdirs: their wheels are in .whl/ (git-ignored, so the
# run must carry ".whl"). The log also goes to $OUT/cuda_check.log when OUT is set. Exit status: the
# check's (0: CUDA CHECK: PASS, 1: FAIL). Extra arguments go to cuda_check.py (e.g. --people 16).
# PYTHON=... picks another interpreter (a local smoke test: PYTHON=.venv/bin/python ... --device cpu).
cd "$(dirname "$0")/../.." || exit 1
PY=${PYTHON:-python3}
nvidia-smi -L
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD; PYTHONUNBUFFERED=1 "$PY" scripts/device/cuda_check.py --device cuda "$@"
