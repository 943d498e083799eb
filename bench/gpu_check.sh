#!/usr/bin/env bash
# One visit to a lent GPU machine (the device tool), at most 6 minutes of its time:
#   run(command="bash bench/gpu_check.sh", timeout_s=420)
# The machine reaches no package registry: it runs with its own python3 (torch >= 2.11,
# torchvision, numpy, Pillow, PyYAML; no Ray, papermill or ipywidgets), or .venv where it exists.
# Every step runs under `timeout -k` and writes its result to $OUT as soon as it has one:
# 1. smoke: a bf16 run on the GPU stopped mid-epoch by SIGTERM, resumed, against an unbroken one,
#    and its kept.pt evaluated (bench/gpu_smoke.py);
# 2. epochs: every homework model's middle epoch timed on a homework-shaped stand-in, projected to
#    the whole profile (bench/gpu_epochs.py);
# 3. throughput at 512x512, batch 8, fp32 against bf16 + channels_last, as a fraction of the
#    card's dense bf16 peak (bench/bench_train.py; torch.compile only with COMPILE=1).
# SMALL=1 shrinks every step for a try on a CPU (the device names are then the CPU's).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" HW2_PROGRESS=0 HW2_DATA_CACHE=/tmp/hw2_cache
OUT="${OUT:-/tmp/gpu_check}"
PEAK="${PEAK:-989}"  # dense bf16 TFLOP/s: H100 SXM and H200 989
DEVICE=cuda; EPOCHS=(--budget 130); BENCH=(--size 512 --batch 8 --steps 10)
if [ -n "${SMALL:-}" ]; then
  DEVICE=cpu
  EPOCHS=(--budget 60 --tiles 24 --images 2 --limit 8 --val-limit 4
          --set image_size=64 input_size=32 head_width=16 batch_size=4 --runs fcn8s resnet18)
  BENCH=(--size 64 --batch 2 --steps 2 --head-width 64)
fi
mkdir -p "$OUT"
step() {  # step NAME SECONDS COMMAND...: run it under timeout -k, log it, say how it ended
  local name=$1 limit=$2; shift 2
  timeout -k 10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "$name: exit $? ($(date -u +%H:%M:%S))" | tee -a "$OUT/steps.txt"
}
{ command -v nvidia-smi >/dev/null && timeout -k 5 20 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  timeout -k 5 60 $PY -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'cuda', torch.cuda.is_available())"
} 2>&1 | tee "$OUT/gpu.txt"
step smoke 75 $PY bench/gpu_smoke.py --out "$OUT/smoke.json"
step epochs 190 $PY bench/gpu_epochs.py --out "$OUT/epochs.jsonl" "${EPOCHS[@]}"
step throughput 70 $PY bench/bench_train.py --device "$DEVICE" "${BENCH[@]}" --peak-tflops "$PEAK" \
  --models fcn8s deeplabv3_resnet101 ${COMPILE:+--compile}
tail -n 3 "$OUT/epochs.log"; cat "$OUT/smoke.json" 2>/dev/null
echo "results in $OUT"
