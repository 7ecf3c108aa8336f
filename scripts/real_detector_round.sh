#!/usr/bin/env bash
# One round of the accuracy plan (issue 9) that fits inside one working session. Here each session
# starts on a fresh machine and the user cache does not survive it, so data, fine-tuning and the
# benchmark must run back to back:
#   1. real-detector training data for GEN_MINUTES (generate-detector-data; resumable, so a rerun
#      continues and complete chunks are kept),
#   2. the shipped generator and the shipped regressor fine-tuned side by side on it, one thread each,
#      same data, share, steps and minutes (the issue compares the two at the same budget),
#   3. `main.py bench` with both candidates (written to OUT/benchmark.md and .json).
# Candidates go to OUT, never over weights/. Each step writes its log to OUT.
#   GEN_MINUTES=90 TRAIN_MINUTES=25 REAL_SHARE=0.5 bash scripts/real_detector_round.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
GEN_MINUTES=${GEN_MINUTES:-90}
TRAIN_MINUTES=${TRAIN_MINUTES:-25}
TRAIN_STEPS=${TRAIN_STEPS:-2000}
REAL_SHARE=${REAL_SHARE:-0.5}
SEED=${SEED:-0}
OUT=${OUT:-runs/real_detector_round}
mkdir -p "$OUT"

if [ "$GEN_MINUTES" != 0 ]; then
  echo "1. detector data for $GEN_MINUTES min (log: $OUT/detector_data.log)"
  # timeout stops it between chunks' atomic writes; what is complete stays.
  timeout --signal=TERM "${GEN_MINUTES}m" $PY main.py generate-detector-data --samples 100000 --workers 2 --seed "$SEED" \
    > "$OUT/detector_data.log" 2>&1 || true
  pkill -f "multiprocessing.spawn" 2>/dev/null || true  # the workers, if timeout left any
fi
DATA=$(ls -d "$HOME"/.cache/GenHMR-Studio/detector_data/genhmr-detector-data-* | head -1)
echo "   data: $DATA ($(ls "$DATA" | grep -c 'npz$') chunks)"

echo "2. fine-tuning generator and regressor, $TRAIN_MINUTES min each, side by side"
common=(--lr 1e-4 --steps "$TRAIN_STEPS" --minutes "$TRAIN_MINUTES" --batch 96 --threads 1 --seed "$SEED"
        --detector-data "$DATA" --real-share "$REAL_SHARE")
$PY main.py train-generator --mode generate --init weights/genhmr/generator.pt --out "$OUT/generator.pt" \
  "${common[@]}" > "$OUT/train_generator.log" 2>&1 &
gen=$!
$PY main.py train-generator --mode regress --init weights/genhmr/regressor.pt --out "$OUT/regressor.pt" \
  "${common[@]}" > "$OUT/train_regressor.log" 2>&1 &
reg=$!
wait $gen; wait $reg

echo "3. benchmark (log: $OUT/bench.log)"
$PY main.py bench --threads 1 --generator "$OUT/generator.pt" --regressor "$OUT/regressor.pt" \
  --out "$OUT/benchmark.md" > "$OUT/bench.log" 2>&1
tail -40 "$OUT/bench.log"
