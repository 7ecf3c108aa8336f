#!/usr/bin/env bash
# Retrain the regressor and the generator on the GPU machine (scripts/device/train_on_device.py train).
#
# Carry ".whl" (the platformdirs/roma/smplx wheels that machine lacks) and "runs/device_cache" (the pose
# cache and detector data: `train_on_device.py prepare` fills it here). The trainers read that folder as
# their user cache (GENHMR_CACHE_DIR). Extra arguments go to `train` (e.g. --steps 6000 --minutes 4).
# PYTHON=... picks another interpreter (a local smoke test: PYTHON=.venv/bin/python ... --device cpu
# --steps 2 --block-heavy).
cd "$(dirname "$0")/../.." || exit 1
PY=${PYTHON:-python3}
command -v nvidia-smi >/dev/null && nvidia-smi -L
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD
fi
export GENHMR_CACHE_DIR="$PWD/runs/device_cache"
mkdir -p "${OUT:-/tmp}"
PYTHONUNBUFFERED=1 "$PY" scripts/device/train_on_device.py train "$@" 2>&1 | tee -a "${OUT:-/tmp}/train_on_device.log"
exit "${PIPESTATUS[0]}"
