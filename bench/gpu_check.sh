#!/usr/bin/env bash
# One visit to a lent GPU machine (the device tool): run from the repository root, e.g.
#   run(command="bash bench/gpu_check.sh", timeout_s=600)
# 1. training throughput of FCN32s, FCN8s and DeepLabV3 at 512x512, batch 8: fp32 against bf16 +
#    channels_last (+ torch.compile), as a fraction of the card's dense bf16 peak (the FLOP floor);
# 2. one homework epoch of every run of the homework profile on a homework-shaped stand-in,
#    and the projected training time of the whole homework report.
# Everything it prints also lands in $OUT (the device tool brings that folder back).
set -euo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD" HW2_PROGRESS=0
OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
PEAK="${PEAK:-989}"  # dense bf16 TFLOP/s: H100 SXM 989, H200 989
python3 bench/bench_train.py --device cuda --size 512 --batch 8 --steps 20 --peak-tflops "$PEAK" \
  --models fcn32s fcn8s deeplabv3_resnet101 --compile 2>&1 | tee "$OUT/bench_train.md"
python3 bench/homework_epoch.py --synthetic /tmp/hw2_synth --out "$OUT/homework_epoch.json" 2>&1 \
  | tee "$OUT/homework_epoch.md"
