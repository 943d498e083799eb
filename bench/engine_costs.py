"""What the engine spends besides training, measured on this machine: decoding the data once per
run against reading the cached arrays, and writing the run's state (last.pt) at an epoch's end.

    .venv/bin/python bench/engine_costs.py --data-root /path/to/hw2_data   # homework-format data
    .venv/bin/python bench/engine_costs.py                                 # the embedded sample

Decoding: the validation and training splits of the segmentation data at 512 px, first with an
empty cache (what every run paid before the cache: PIL decode and class decode of every tile),
then again from the cache (memory-mapped .npy, what a run pays now). last.pt: the full training
state of each homework model (fp32 weights and Adam's two moment buffers), written and fsynced
as the engine writes it; before, every epoch wrote one, now at most one per `checkpoint_minutes`.
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from hw2lib.data.datasets import load_segmentation
from hw2lib.data.label_specs import get_spec
from hw2lib.engine.checkpoint import save_checkpoint
from hw2lib.engine.provenance import cpu_name
from hw2lib.models import build_model

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["fcn8s", "unet16", "segnet", "deeplabv3_resnet101", "resnet18", "resnext101_32x8d", "vgg16"]


def decoding(folder, spec):
    """(seconds with an empty cache, seconds from the cache, tiles) for one split."""
    with tempfile.TemporaryDirectory() as cache:
        os.environ["HW2_DATA_CACHE"] = cache
        t = time.perf_counter()
        data = load_segmentation(folder, spec, size=512, native_masks=True)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        load_segmentation(folder, spec, size=512, native_masks=True)
        return cold, time.perf_counter() - t, len(data.ids)


def last_pt(name, folder):
    """(bytes, seconds) of writing model `name`'s whole training state, as the engine does."""
    model = build_model(name, 50 if name in ("resnet18", "resnext101_32x8d", "vgg16") else 7)
    optimizer = torch.optim.Adam(model.parameters())
    for p in model.parameters():  # Adam's state exists after the first step
        p.grad = torch.zeros_like(p)
    optimizer.step()
    path = Path(folder) / f"{name}.pt"
    t = time.perf_counter()
    save_checkpoint(path, {"model": model.state_dict(), "optimizer": optimizer.state_dict()})
    seconds = time.perf_counter() - t
    size = path.stat().st_size
    path.unlink()
    return size, seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", help="homework-format data (p2_data/); default: the sample")
    args = ap.parse_args()
    root = Path(args.data_root) / "p2_data" if args.data_root else ROOT / "data/sample/dubai_aerial"
    spec = get_spec("deepglobe" if args.data_root else "dubai")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}; data {root}\n")
    print("| split | tiles | decode (before: every run) | cached (now: every run after the first) | ratio |")
    print("|---|---|---|---|---|")
    for split in ("train", "validation"):
        cold, warm, n = decoding(root / split, spec)
        print(f"| {split} | {n} | {cold:.2f} s | {warm:.3f} s | {cold / warm:.0f}x |", flush=True)
    print("\n| model | last.pt | write + fsync |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory(dir=ROOT) as folder:  # the disk runs/ lives on
        for name in MODELS:
            size, seconds = last_pt(name, folder)
            print(f"| {name} | {size / 1e9:.2f} GB | {seconds:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
