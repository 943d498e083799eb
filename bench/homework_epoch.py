"""Time one homework epoch of every run of the homework profile, and project the whole report.

    python bench/homework_epoch.py --data-root /path/to/hw2_data        # the real data
    python bench/homework_epoch.py --synthetic /tmp/hw2_synth           # a homework-shaped stand-in

Each run trains one epoch with the profile's own settings (512 px, batch 8, precision auto,
channels_last...) on the full split sizes, validation at native size included; `pretrained`
is turned off when the ImageNet weights are not in torch hub's cache (a device machine is
offline). The synthetic stand-in has the homework's counts and sizes (p2: 2000 + 257 tiles of
512x512; p1: 22,500 + 2,500 images of 32x32) with random pixels, so it times the work, not the
learning. The projection is the sum over runs of epochs x measured epoch time; the notebooks'
own work (t-SNE, boundary study, figures) comes on top and is not measured here.
"""
import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hw2lib.label_specs import get_spec
from hw2lib.models import MODELS
from hw2lib.models.weights import hub_cache_path
from hw2lib.profiles import config, run_names
from hw2lib.training import train


def synthesize(root, p2=(2000, 257), p1=(450, 50), size=512):
    """Random tiles and labels in the homework's layout (written once; reused if present)."""
    if (root / "p2_data" / "validation").is_dir():
        return root
    rng = np.random.default_rng(0)
    spec = get_spec("deepglobe")
    ids = [f"{i:04d}" for i in range(sum(p2))]
    val = set(ids[p2[0]:]) | {"0010", "0097", "0107"}  # the profile's snapshot tiles

    def tile(i):
        folder = root / "p2_data" / ("validation" if i in val else "train")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}_sat.jpg")
        blocks = rng.integers(0, 7, (size // 64, size // 64)).repeat(64, 0).repeat(64, 1)
        Image.fromarray(spec.encode(blocks)).save(folder / f"{i}_mask.png")

    def image(args):
        label, idx, split = args
        folder = root / "p1_data" / split
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{label}_{idx}.png")

    jobs = [(c, i, "train_50" if i < p1[0] else "val_50") for c in range(50) for i in range(sum(p1))]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(tile, ids))
        list(pool.map(image, jobs))
    return root


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", help="the homework's data folder")
    ap.add_argument("--synthetic", help="write (or reuse) a homework-shaped stand-in here")
    ap.add_argument("--runs", nargs="*", help="only these runs (default: every run)")
    ap.add_argument("--out", help="also write the measurements as JSON here")
    args = ap.parse_args()
    root = Path(args.data_root) if args.data_root else synthesize(Path(args.synthetic))
    torch.backends.cudnn.benchmark = True
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"device: {device}; torch {torch.__version__}; data {root}")
    rows, total = [], 0.0
    for name in args.runs or run_names("homework"):
        cfg = config("homework", name, str(root))
        have = hub_cache_path(MODELS[cfg["model"]].weights).is_file()
        epochs = cfg["epochs"]
        cfg.update(epochs=1, snapshot_epochs=[1], keep_checkpoints=[], out_dir=f"/tmp/hw2_epoch/{name}",
                   pretrained=cfg["pretrained"] and have)
        if cfg["init_from"] is not None:
            cfg["init_from"] = f"/tmp/hw2_epoch/{Path(cfg['init_from']).name}"
        t = time.perf_counter()
        record = train(cfg, log=lambda *_: None)
        wall = time.perf_counter() - t
        epoch = record["history"][0]["seconds"]
        total += epochs * epoch
        rows.append({"run": name, "model": cfg["model"], "epoch_s": epoch, "wall_s": wall,
                     "epochs": epochs, "projected_s": epochs * epoch,
                     "precision": record["environment"]["precision"], "pretrained": cfg["pretrained"]})
        print(f"| {name} | {cfg['model']} | {record['environment']['precision']} | {epoch:.1f} s | "
              f"x {epochs} = {epochs * epoch / 60:.1f} min |", flush=True)
    print(f"projected training time of the homework profile: {total / 60:.1f} min on {device}")
    if args.out:
        Path(args.out).write_text(json.dumps({"device": device, "runs": rows, "projected_s": total}, indent=2))


if __name__ == "__main__":
    main()
