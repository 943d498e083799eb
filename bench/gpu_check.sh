#!/usr/bin/env bash
# One visit to a lent GPU machine (the device tool), at most 6 minutes of its time:
#   run(command="bash bench/gpu_check.sh", timeout_s=420)
# 1. every homework run's second epoch, each in its own process, on a homework-shaped stand-in,
#    timed with its evaluation and checkpoint saves, each result written to $OUT as soon as it
#    exists, projected to the homework's sizes (bench/gpu_epochs.py);
# 2. training throughput at 512x512, batch 8, fp32 against bf16 + channels_last, as a fraction of
#    the card's dense bf16 peak (bench/bench_train.py; torch.compile only with COMPILE=1).
# It needs torch and torchvision (the device machine's own), no Ray, no papermill, no network.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" HW2_PROGRESS=0 HW2_DATA_CACHE=/tmp/hw2_cache
OUT="${OUT:-/tmp/gpu_check}"
PEAK="${PEAK:-989}"  # dense bf16 TFLOP/s: H100 SXM and H200 989
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" \
  | tee -a "$OUT/gpu.txt"
timeout 240 python3 bench/gpu_epochs.py --out "$OUT/epochs.jsonl" --budget 190 2>&1 | tee "$OUT/epochs.log"
timeout 110 python3 bench/bench_train.py --device cuda --size 512 --batch 8 --steps 10 --peak-tflops "$PEAK" \
  --models fcn8s deeplabv3_resnet101 ${COMPILE:+--compile} 2>&1 | tee "$OUT/bench_train.md"
echo "results in $OUT"
