"""Every homework run's second epoch, timed with its evaluation and checkpoint saves, on a
homework-shaped stand-in; then the projected GPU time of the whole homework profile.

    python bench/gpu_epochs.py --out $OUT/epochs.jsonl --budget 300     # on a lent GPU machine
    .venv/bin/python bench/gpu_epochs.py --limit 8 --val-limit 4 --runs fcn8s resnet18   # a CPU try

The device machine is offline, so the data are a stand-in with the homework's shapes (512x512
tiles, 32x32 images; random pixels: it times the work, not the learning) and the pretrained
weights are off (same cost). Each run trains two epochs on `--limit` training and `--val-limit`
validation items in its own process (`hw2 train`, the profile's own settings otherwise), so one
failing run loses nothing else; each result is appended to the JSON-lines file as soon as it
exists. The second epoch's wall time (its log line comes after its saves) is split into training,
validation and the rest (snapshots, best.pt), and projected to the homework's split sizes.
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
from hw2lib.runs.profiles import ROOT, parent, run_config, run_names

ITEMS = {"segmentation": (2000, 257), "classification": (22500, 2500)}  # the homework's splits
SNAPSHOTS = ("0010", "0097", "0107")


def synthesize(root, tiles=(300, 70), images=(40, 10)):
    """Random tiles and images in the homework's layout (written once; reused if present)."""
    if (root / "p1_data" / "val_50").is_dir():
        return root
    rng = np.random.default_rng(0)
    spec = get_spec("deepglobe")
    ids = [f"{i:04d}" for i in range(sum(tiles))]
    val = set(ids[tiles[0]:]) | set(SNAPSHOTS)

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
        list(pool.map(image, [(c, i, "train_50" if i < images[0] else "val_50")
                              for c in range(50) for i in range(sum(images))]))
    return root


def time_run(name, root, args):
    """Train run `name` two epochs in its own process; its measurements, or its error."""
    cfg = run_config("homework", name, str(root))
    out = Path(args.work) / name
    sets = [f"data_root={cfg['data_root']}", "epochs=2", f"limit={args.limit}", f"val_limit={args.val_limit}", "pretrained=false",
            f"out_dir={out}", "snapshot_epochs=[1,2]" if cfg["snapshot_ids"] else "snapshot_epochs=[]",
            "keep_checkpoints=[]", "warmup_epochs=0"]
    if parent("homework", name):
        sets.append(f"init_from={Path(args.work) / parent('homework', name)}")
    command = [sys.executable, "-m", "hw2lib", "train", str(ROOT / "params/homework/runs.yaml"), "--run", name,
               "--set", *sets]
    started, stamps = time.perf_counter(), {}
    proc = subprocess.Popen(command, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "HW2_PROGRESS": "0"})
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("epoch "):
            stamps[int(line.split()[1].split("/")[0])] = time.perf_counter()
    if proc.wait() != 0 or 2 not in stamps:
        return {"run": name, "error": "".join(lines[-5:]).strip()}
    record = json.loads((out / "metrics.json").read_text())
    second = record["history"][1]
    n_train, n_val = ITEMS[cfg["task"]]
    train_s = second["seconds"] - second["val_seconds"]
    rest_s = stamps[2] - stamps[1] - second["seconds"]
    epoch_s = train_s * n_train / record["data"]["train"] + second["val_seconds"] * n_val / record["data"]["val"] + rest_s
    return {"run": name, "model": cfg["model"], "precision": record["environment"]["precision"],
            "device": record["environment"]["device_name"], "train_items": record["data"]["train"],
            "val_items": record["data"]["val"], "train_s": round(train_s, 3), "val_s": second["val_seconds"],
            "saves_and_snapshots_s": round(rest_s, 3), "full_epoch_s": round(epoch_s, 2),
            "epochs": cfg["epochs"], "projected_s": round(epoch_s * cfg["epochs"], 1),
            "process_s": round(time.perf_counter() - started, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/hw2_standin", help="where the stand-in data are written")
    ap.add_argument("--work", default="/tmp/hw2_gpu_epochs", help="the runs' folders")
    ap.add_argument("--runs", nargs="*", help="only these runs (default: every run, parents first)")
    ap.add_argument("--limit", type=int, default=256, help="training items per epoch")
    ap.add_argument("--val-limit", type=int, default=64, help="validation items")
    ap.add_argument("--budget", type=float, default=300, help="seconds; no run starts after it")
    ap.add_argument("--out", default="/tmp/gpu_epochs.jsonl", help="one JSON line per run, as it ends")
    args = ap.parse_args()
    root = synthesize(Path(args.data))
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"device: {device}; torch {torch.__version__}; stand-in data {root}", flush=True)
    start, rows = time.perf_counter(), []
    for name in args.runs or run_names("homework"):
        if time.perf_counter() - start > args.budget:
            print(f"{name}: not started, the budget of {args.budget:.0f} s is spent", flush=True)
            continue
        row = time_run(name, root, args)
        rows.append(row)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    done = [r for r in rows if "error" not in r]
    total = sum(r["projected_s"] for r in done)
    print(f"\nprojected training time of the {len(done)} runs measured, at the homework's sizes: "
          f"{total / 60:.1f} min on one {device}")


if __name__ == "__main__":
    main()
