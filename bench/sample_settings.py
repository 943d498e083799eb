"""The measurements behind the sample profile's settings: each run of `params/sample/runs.yaml`
beside the variants it was chosen over, trained from scratch on this machine's CPU.

    .venv/bin/python bench/sample_settings.py              # segmentation variants (minutes)
    .venv/bin/python bench/sample_settings.py --classification    # ResNet18 variants (longer)

Each row: the run, what differs from the sample profile, the kept epoch and its
score (mIoU at native size, or accuracy), whether the model is collapsed (>= 95% of predictions
one class), the largest predicted class share at each epoch, and the training seconds. Runs go to /tmp/hw2_sample_settings/, not runs/.
"""
import argparse
import time

import torch

from hw2lib.engine.provenance import cpu_name
from hw2lib.engine.training import train
from hw2lib.runs.profiles import run_settings

SEGMENTATION = [
    ("fcn8s", {}),
    ("fcn8s", {"lr": 1e-3, "warmup_epochs": 0}),
    ("fcn8s", {"class_weights": None}),
    ("fcn32s", {}),
    ("fcn32s", {"fcn_init": "torch"}),  # the reference's initialisation of the new layers
    ("fcn32s_no_relu", {}),
    ("fcn32s_no_relu", {"lr": 1e-3, "warmup_epochs": 0}),
    ("fcn32s_no_relu", {"seed": 1}),
    ("fcn8s", {"epochs": 3}),  # a shorter sample: lower and noisier (bench/RESULTS.md)
]
CLASSIFICATION = [
    ("resnet18", {}),
    ("resnet18", {"epochs": 24}),  # the previous length: 0.334 against 0.296 (bench/RESULTS.md)
    ("resnet18", {"channels_last": False}),  # NCHW: 20% more time a step on AVX2
    ("resnet18", {"epochs": 12, "warmup_epochs": 0}),
    ("resnet18", {"label_smoothing": 0.0, "weight_decay": 0.0, "optimizer": "adam"}),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--classification", action="store_true", help="the ResNet18 variants instead")
    ap.add_argument("--runs", nargs="*", help="only the rows of these runs")
    args = ap.parse_args()
    print(f"machine: {cpu_name()}, capability {torch.backends.cpu.get_cpu_capability()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print("| run | change from the sample profile | epoch kept | score (kept epoch) | collapsed | "
          "largest class share per epoch | train s |")
    print("|---|---|---|---|---|---|---|")
    for name, change in CLASSIFICATION if args.classification else SEGMENTATION:
        if args.runs and name not in args.runs:
            continue
        settings = run_settings("sample", name).replace(**change, out_dir=f"/tmp/hw2_sample_settings/{name}")
        t = time.time()
        record = train(settings, log=lambda *_: None)
        collapsed = record.collapsed_class()
        shares = [max(r["val_pred_share"].values()) for r in record.history]
        print(f"| {name} | {', '.join(f'{k}: {v}' for k, v in change.items()) or '—'} | "
              f"{record.kept_epoch} of {settings.train.epochs} | {record.kept_score():.4f} | "
              f"{'yes: ' + str(collapsed) if collapsed is not None else 'no'} | "
              f"{', '.join(f'{x:.2f}' for x in shares)} | {time.time() - t:.0f} |", flush=True)


if __name__ == "__main__":
    main()
