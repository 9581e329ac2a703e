#!/usr/bin/env bash
# The GPU path proven in one command (about 5-8 minutes on one H200), every figure printed:
#   1. bench_model.py: paper preset, fp32 vs bf16 autocast, channels_last off and on: step times,
#      sequences/s, peak memory
#   2. bench_train.py: paper preset epochs on a CK+-sized fold, same four settings, and the projected
#      wall time of 10-fold CV and of Table 1 (5 variants x 10 folds x 3 seeds) on one card
#   3. staner-lab cv --device cuda end to end on the shipped synthetic data (2 folds, 2 epochs), and
#      the same on Ray with two runs sharing the card (--set executor.gpus_per_run=0.5) when Ray is installed
#   4. captum on the GPU LSTM: cuDNN refuses the eval-mode backward, the attribution switch works
#   5. bench_ray.py: the same small CPU grid with 1 and 2 Ray workers (wall time, speed-up, overhead)
#
#   benchmarks/gpu_check.sh          # needs a CUDA build of torch (README, "GPU")
#   benchmarks/gpu_check.sh --cpu    # the same steps, small, on the CPU (CUDA-only parts skipped)
# PY=/path/to/python overrides .venv/bin/python (it needs this package's dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
if ! "$PY" -c "import torch, numpy, cv2, captum" 2>/dev/null; then
  echo "gpu_check: $PY cannot import torch, numpy, cv2 and captum. Set PY to a Python that has this package's" \
       "dependencies and a CUDA build of torch, e.g. after" \
       "STANER_TORCH=cuda TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 scripts/setup" >&2
  exit 2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ "${1:-}" = "--cpu" ]; then
  DEV=cpu; PRESET=classroom; MODEL_ARGS=(--presets classroom paper --batch 2 --repeats 1)
  TRAIN_ARGS=(--preset classroom --sequences 24 --epochs 2); GPUS=0; STEPS=8
else
  DEV=cuda; PRESET=paper; MODEL_ARGS=(--presets paper --batch 64 --repeats 10)
  TRAIN_ARGS=(--preset paper --sequences 327 --epochs 3); GPUS=0.5; STEPS=64
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
T0=$SECONDS
step() { echo; echo "=== $* [$(date +%T), +$((SECONDS - T0)) s]"; }

step "environment"
"$PY" - "$DEV" <<'EOF'
import sys, torch
print(f"torch {torch.__version__}, CUDA build {torch.version.cuda}, cuda available {torch.cuda.is_available()}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"{p.name}, {p.total_memory / 2**30:.0f} GiB, bf16 {torch.cuda.is_bf16_supported()}, cuDNN {torch.backends.cudnn.version()}")
elif sys.argv[1] == "cuda":
    sys.exit("no GPU visible to torch: install a CUDA build (README, 'GPU') or run with --cpu")
EOF

step "1. bench_model.py ${MODEL_ARGS[*]}"
"$PY" benchmarks/bench_model.py "${MODEL_ARGS[@]}" --device "$DEV"

step "2. bench_train.py ${TRAIN_ARGS[*]}"
"$PY" benchmarks/bench_train.py "${TRAIN_ARGS[@]}" --device "$DEV"

step "3. staner-lab cv --device $DEV --preset $PRESET (shipped synthetic data, 2 folds x 2 epochs)"
CV=(--data data_samples/synthetic_ckplus --cache "$TMP/cache" --preset "$PRESET" --device "$DEV" --folds 2
    --epochs 2 --no-progress)
"$PY" -m staner_lab.cli cv "${CV[@]}" --out "$TMP/cv"
summary() {
  "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(json.dumps({k: r[k] for k in
    ("executor", "device", "accuracy_mean", "wall_time_s")} | {"fold_accuracies": [f["accuracy"] for f in r["folds"]]}))' "$1"
}
summary "$TMP/cv/results.json"
if "$PY" -c "import ray" 2>/dev/null; then
  step "3b. the same on a local Ray instance, 2 runs at once (--set executor.gpus_per_run=$GPUS)"
  "$PY" -m staner_lab.cli cv "${CV[@]}" --out "$TMP/cv_ray" --executor ray --set executor.gpus_per_run="$GPUS" --cpus-per-run 1
  summary "$TMP/cv_ray/results.json"
else
  step "3b. skipped: Ray is not installed (pip install -e '.[cluster]')"
fi

step "4. captum on the $DEV LSTM (cuDNN switch)"
"$PY" benchmarks/gpu_lstm_attribution.py --device "$DEV" --preset "$PRESET" --steps "$STEPS"

if "$PY" -c "import ray" 2>/dev/null; then
  step "5. bench_ray.py (CPU grid, 1 and 2 Ray workers)"
  OMP_NUM_THREADS=1 "$PY" benchmarks/bench_ray.py
fi

step "done in $((SECONDS - T0)) s"
