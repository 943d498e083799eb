"""The GPU smoke test: on the device it finds (a CUDA GPU when there is one), a bf16 FCN8s run
stopped by SIGTERM part-way through an epoch resumes and ends where an unbroken run ends, and its
kept.pt evaluates to the score its record holds.

    python3 bench/gpu_smoke.py --out $OUT/smoke.json        # on a lent GPU machine
    .venv/bin/python bench/gpu_smoke.py                      # the same on this CPU

On a GPU the two runs can differ slightly (cuDNN's atomic additions are not deterministic), so
the result reports the largest difference instead of asserting equality; it fails only when
the resume itself fails or the differences exceed `--tolerance`.
"""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import torch
from torch.nn.modules.module import register_module_forward_hook

from hw2lib.engine.inference import evaluate_folder
from hw2lib.engine.training import train
from hw2lib.errors import Preempted
from hw2lib.models.fcn import FCN
from hw2lib.runs.profiles import ROOT
from hw2lib.settings import RunSettings

SAMPLE = ROOT / "data" / "sample" / "dubai_aerial"


def copy_tiles(src, dst, ids):
    dst.mkdir(parents=True, exist_ok=True)
    for i in ids:
        for kind in ("sat.jpg", "mask.png"):
            shutil.copy(src / f"{i}_{kind}", dst)


def sigterm_at_step(count):
    """A forward hook that sends this process SIGTERM at the model's `count`-th training step."""
    seen = [0]

    def hook(module, args, output):
        if isinstance(module, FCN) and module.training:
            seen[0] += 1
            if seen[0] == count:
                os.kill(os.getpid(), signal.SIGTERM)
    return register_module_forward_hook(hook)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=None, help="write the result as JSON here too")
    ap.add_argument("--tolerance", type=float, default=1e-2, help="largest accepted difference")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hw2-gpu-smoke-"))
    copy_tiles(SAMPLE / "train", work / "data" / "train", [f"{i:04d}" for i in range(0, 32, 2)])
    copy_tiles(SAMPLE / "validation", work / "data" / "validation", [f"{i:04d}" for i in range(4)])
    values = {"model": "fcn8s", "head_width": 64, "image_size": 128, "batch_size": 2, "epochs": 2, "lr": 1e-4,
              "precision": "bf16", "augment": ["flip", "rot90"], "classes": "dubai", "checkpoint_minutes": 1000,
              "data_root": str(work / "data")}
    whole = train(RunSettings.build({**values, "out_dir": str(work / "whole")}), log=lambda *_: None)
    broken = RunSettings.build({**values, "out_dir": str(work / "broken")})
    hook = sigterm_at_step(8 + 3)  # epoch 2, step 3 of 8
    try:
        train(broken, log=lambda *_: None)
        stopped = "not stopped"
    except Preempted as e:
        stopped = str(e).split(": ", 1)[1].split(";")[0]
    finally:
        hook.remove()
    resumed = train(broken, resume=True, log=lambda *_: None)
    diff = max(abs(a[k] - b[k]) for a, b in zip(resumed.history, whole.history) for k in ("train_loss", "val_loss",
                                                                                         "val_miou"))
    scores, _ = evaluate_folder(work / "broken" / "kept.pt", work / "data" / "validation")
    result = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU",
              "torch": torch.__version__, "precision": resumed.environment["precision"], "stopped": stopped,
              "resumed_epochs": len(resumed.history), "max_difference_to_unbroken": diff,
              "kept_pt_miou": scores["miou"], "recorded_miou": resumed.kept_score(),
              "ok": diff <= args.tolerance and abs(scores["miou"] - resumed.kept_score()) <= args.tolerance}
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
