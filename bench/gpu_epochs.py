"""Every homework model's middle epoch, timed, on a homework-shaped stand-in; then the projected
GPU time of the whole homework profile, repeats and fine-tunes included.

    python3 bench/gpu_epochs.py --out $OUT/epochs.jsonl --budget 200          # on a lent GPU machine
    .venv/bin/python bench/gpu_epochs.py --tiles 24 --images 2 --limit 8 --val-limit 4 \\
        --set image_size=64 input_size=32 head_width=16 batch_size=4 --runs fcn8s resnet18   # a CPU try

The device machine is offline, so the data are a stand-in with the homework's shapes (512x512
tiles, 32x32 images; random pixels: it times the work, not the learning) and the pretrained
weights are off (same cost). Each model trains 3 epochs of `--limit` training items (at least 20
steps: fewer is mostly launch time) in its own process (`hw2 train`, the profile's own settings
otherwise), under `timeout -k`, so one failing or hanging run loses nothing else; each result is
appended to the JSON-lines file as soon as it exists. The middle epoch is read from the run's
record: training (the device synchronised at the epoch's end), validation, and its routine
saves (final evaluation, snapshots, record); the one-off saves at the end (kept.pt) are the
last epoch's saves minus the middle one's. One run per model (and the Lovasz loss once) is
measured, the costliest first, so every model is measured within the budget; every run of the
profile, repeats and fine-tunes included, is then projected from its model's measurement at the
homework's split sizes.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hw2lib.data.label_specs import get_spec
from hw2lib.runs.profiles import ROOT, applicable, run_names, run_settings

ITEMS = {"segmentation": (2000, 257), "classification": (22500, 2500)}  # the homework's splits
SNAPSHOTS = ("0010", "0097", "0107")
# The order models are measured in: the costliest and least alike first.
FIRST = ("fcn8s", "deeplabv3_resnet101", "resnext101_32x8d", "unet16", "segnet", "vgg16", "resnet18",
         "fcn8s_lovasz", "fcn32s", "resnet34", "fcn16s", "fcn4s", "fcn2s")


def synthesize(root, tiles=300, images=52):
    """Random tiles (70 of them, and the snapshot tiles, in validation) and 50 classes of images
    (10 of each in validation) in the homework's layout; written once, reused if present."""
    if (root / "p1_data" / "val_50").is_dir():
        return root
    rng = np.random.default_rng(0)
    spec = get_spec("deepglobe")
    ids = [f"{i:04d}" for i in range(max(tiles, 110))]
    val = set(ids[-max(tiles // 4, 3):]) | set(SNAPSHOTS)

    def tile(i):
        folder = root / "p2_data" / ("validation" if i in val else "train")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8)).save(folder / f"{i}_sat.jpg")
        blocks = rng.integers(0, 7, (8, 8)).repeat(64, 0).repeat(64, 1)
        Image.fromarray(spec.encode(blocks)).save(folder / f"{i}_mask.png")

    def image(job):
        label, idx, split = job
        folder = root / "p1_data" / split
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{label}_{idx}.png")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(tile, ids))
        list(pool.map(image, [(c, i, "train_50" if i < images else "val_50")
                              for c in range(50) for i in range(images + 10)]))
    return root


def cost_key(settings):
    """What an epoch's cost depends on besides the sizes: the model, and a segmentation loss."""
    return f"{settings.model.model} {getattr(settings.task, 'loss', '')}".strip()


def measured_runs(names):
    """One run per cost key, FIRST's order first: every model, and the Lovasz loss once."""
    chosen, keys = [], set()
    for name in [n for n in FIRST if n in names] + names:
        key = cost_key(run_settings("homework", name, "/nonexistent"))
        if key not in keys:
            chosen.append(name)
            keys.add(key)
    return chosen


def one_off_saves(middle, last):
    """What only the last epoch saves (kept.pt; dropping last.pt): its saves' time less a routine
    epoch's. A difference of two timings, so at toy sizes, where kept.pt is small, the noise of the
    routine saves (fsync) can exceed it: it is then counted as nothing, not as a negative time."""
    return max(0.0, round(last["save_seconds"] - middle["save_seconds"], 3))


def time_run(name, root, args):
    """Train run `name` three epochs in its own process; its measurements, or its error."""
    settings = run_settings("homework", name, str(root), args.set)
    out = Path(args.work) / name
    limit = args.limit or 20 * settings.train.batch_size  # at least 20 steps an epoch
    sets = [f"data_root={settings.place.data_root}", "epochs=3", f"limit={limit}", f"val_limit={args.val_limit}",
            "pretrained=false", f"out_dir={out}", "keep_checkpoints=[]", "warmup_epochs=0", "init_from=null",
            *applicable(args.set, settings.task.name, settings.model.model)]
    if settings.task.name == "segmentation":
        sets.append("snapshot_epochs=[1,2,3]")
    command = ["timeout", "-k", "10", str(args.run_timeout), sys.executable, "-m", "hw2lib", "train",
               str(ROOT / "params/homework/runs.yaml"), "--run", name, "--set", *sets]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, text=True, capture_output=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", "HW2_PROGRESS": "0"})
    if proc.returncode != 0:
        return {"run": name, "error": f"exit {proc.returncode}: " + (proc.stdout + proc.stderr).strip()[-600:]}
    record = json.loads((out / "metrics.json").read_text())
    middle, last = record["history"][1], record["history"][2]
    train_s = middle["seconds"] - middle["val_seconds"]
    n_train, n_val = ITEMS[settings.task.name]
    epoch_s = (train_s * n_train / record["data"]["train"] + middle["val_seconds"] * n_val / record["data"]["val"]
               + middle["save_seconds"])
    return {"run": name, "model": settings.model.model, "cost_key": cost_key(settings),
            "precision": record["environment"]["precision"],
            "device": record["environment"]["device_name"], "train_items": record["data"]["train"],
            "val_items": record["data"]["val"], "steps_per_epoch": record["data"]["train"] // settings.train.batch_size,
            "train_s": round(train_s, 3), "val_s": middle["val_seconds"], "routine_saves_s": middle["save_seconds"],
            "one_off_saves_s": one_off_saves(middle, last),
            "full_epoch_s": round(epoch_s, 2), "process_s": round(time.perf_counter() - started, 1)}


def projection(rows, names):
    """Minutes of the whole profile on one device, from each run's model's measured epoch."""
    by_key = {r["cost_key"]: r for r in rows if "error" not in r}
    total, missing = 0.0, []
    for name in names:
        s = run_settings("homework", name, "/nonexistent")
        row = by_key.get(cost_key(s))
        if row is None:
            missing.append(name)
            continue
        total += row["full_epoch_s"] * s.train.epochs + row["one_off_saves_s"]
    return total / 60, missing


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/hw2_standin", help="where the stand-in data are written")
    ap.add_argument("--work", default="/tmp/hw2_gpu_epochs", help="the runs' folders")
    ap.add_argument("--tiles", type=int, default=300, help="stand-in tiles")
    ap.add_argument("--images", type=int, default=52, help="stand-in training images per class")
    ap.add_argument("--runs", nargs="*", help="only these runs (default: one per model, FIRST's order)")
    ap.add_argument("--limit", type=int, default=None, help="training items per epoch (default: 20 steps)")
    ap.add_argument("--val-limit", type=int, default=64, help="validation items")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for every run")
    ap.add_argument("--budget", type=float, default=200, help="seconds; no run starts after it")
    ap.add_argument("--run-timeout", type=int, default=120, help="seconds one run may take")
    ap.add_argument("--out", default="/tmp/gpu_epochs.jsonl", help="one JSON line per run, as it ends")
    args = ap.parse_args()
    root = synthesize(Path(args.data), args.tiles, args.images)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"device: {device}; torch {torch.__version__}; stand-in data {root}", flush=True)
    names = run_names("homework")
    start, rows = time.perf_counter(), []
    for name in args.runs or measured_runs(names):
        if time.perf_counter() - start > args.budget:
            print(f"{name}: not started, the budget of {args.budget:.0f} s is spent", flush=True)
            continue
        row = time_run(name, root, args)
        rows.append(row)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    minutes, missing = projection(rows, names)
    print(f"\nprojected training time of the homework profile's {len(names) - len(missing)} runs whose model was "
          f"measured, at the homework's sizes: {minutes:.1f} min on one {device}"
          + (f"; not measured: {', '.join(missing)}" if missing else ""))


if __name__ == "__main__":
    main()
