"""Training and inference throughput (images/s) per model, size, batch and precision, with a
"seed-style" baseline measured side by side in the same run.

    .venv/bin/python bench/bench_train.py                         # CPU defaults (small, minutes)
    python bench/bench_train.py --device cuda --size 512 --batch 8 --head-width 4096 --steps 20

The seed-style pipeline is how the homework's seed code trained: a DataLoader whose collate
decodes each JPEG/PNG with PIL, resizes and normalises per image, fp32, NCHW. Ours: tiles decoded
once into uint8 memory, normalised on the device, optional bf16 autocast and channels_last.
FLOPs of one training step come from torch.utils.flop_counter; on a GPU, pass --peak-tflops to
see how far the measured time is from the FLOP floor.
"""
import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from hw2lib.classes import get_spec
from hw2lib.config import make_config
from hw2lib.data import load_segmentation, segmentation_pairs
from hw2lib.engine import PRECISION, predict, to_input
from hw2lib.losses import SegLoss
from hw2lib.models import build_model
from hw2lib.provenance import cpu_name

ROOT = Path(__file__).resolve().parents[1]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def seed_style_loader(folder, spec, size, batch):
    """Per-item PIL decode + resize + normalise in the collate function, every epoch."""
    pairs = segmentation_pairs(folder)

    def collate(items):
        xs, ys = [], []
        for _, sat, mask in items:
            im = Image.open(sat).convert("RGB").resize((size, size), Image.BILINEAR)
            x = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 255
            xs.append((x - MEAN) / STD)
            m = np.asarray(Image.open(mask).convert("RGB").resize((size, size), Image.NEAREST))
            ys.append(torch.from_numpy(spec.decode(m)).long())
        return torch.stack(xs), torch.stack(ys)
    return torch.utils.data.DataLoader(pairs, batch_size=batch, shuffle=True, collate_fn=collate,
                                       drop_last=True)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_training(model, batches, device, precision, channels_last, steps):
    """Images/s over `steps` training steps after 2 warm-up steps; batches yields (x, y)."""
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    loss_fn = SegLoss()
    model.train()
    n, t0 = 0, None
    for i, (x, y) in enumerate(batches):
        if i == 2:
            sync(device)
            t0, n = time.perf_counter(), 0
        if i == steps + 2:
            break
        x, y = x.to(device), y.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, PRECISION[precision] or torch.float32,
                            enabled=precision != "fp32"):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        n += len(x)
    sync(device)
    return n / (time.perf_counter() - t0)


def cycle(loader):
    while True:
        yield from loader


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT / "data/sample/dubai_aerial/train"))
    ap.add_argument("--models", nargs="+", default=["fcn32s", "fcn8s"])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--head-width", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak, for the FLOP floor")
    args = ap.parse_args()
    device = torch.device(args.device)
    spec = get_spec("dubai")
    fast = "bf16"
    print(f"machine: {torch.cuda.get_device_name(device) if device.type == 'cuda' else cpu_name()}"
          f", {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"size {args.size}, batch {args.batch}, head_width {args.head_width}, {args.steps} timed steps")

    t = time.perf_counter()
    data = load_segmentation(args.data, spec, size=args.size)
    print(f"decode once: {len(data.images)} tiles in {time.perf_counter() - t:.2f} s")
    images, masks = torch.from_numpy(data.images), torch.from_numpy(data.masks)
    cfg = make_config({"image_size": args.size, "channels_last": False})

    def ours(channels_last):
        cfg_cl = {**cfg, "channels_last": channels_last}
        gen = torch.Generator().manual_seed(0)
        while True:
            idx = torch.randperm(len(images), generator=gen)[:args.batch]
            yield to_input(images[idx], device, cfg_cl), masks[idx].long()

    print("| model | pipeline | precision | layout | train img/s | vs seed-style | infer img/s | GFLOP/step |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        torch.manual_seed(0)
        model = build_model(name, spec.num_classes, args.head_width).to(device)
        x = to_input(images[:args.batch], device, cfg)
        with FlopCounterMode(display=False) as fc:
            SegLoss()(model(x), masks[:args.batch].to(device).long()).backward()
        gflop = fc.get_total_flops() / 1e9
        model.zero_grad(set_to_none=True)
        seed = time_training(model, cycle(seed_style_loader(args.data, spec, args.size, args.batch)),
                             device, "fp32", False, args.steps)
        rows = [("seed-style", "fp32", "NCHW", seed)]
        for precision, cl in (("fp32", False), (fast, True)):
            model = model.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
            rows.append(("decoded once", precision, "NHWC" if cl else "NCHW",
                         time_training(model, ours(cl), device, precision, cl, args.steps)))
        for pipeline, precision, layout, ips in rows:
            infer_cfg = {**cfg, "precision": precision, "channels_last": layout == "NHWC"}
            model.eval()
            t = time.perf_counter()
            predict(model, images[:args.batch * 2], infer_cfg, device)
            sync(device)
            infer = args.batch * 2 / (time.perf_counter() - t)
            floor = ""
            if args.peak_tflops:
                floor = f" ({gflop / args.batch * ips / 1e3 / args.peak_tflops:.0%} of peak)"
            print(f"| {name} | {pipeline} | {precision} | {layout} | {ips:.2f}{floor} | "
                  f"{ips / seed:.2f}x | {infer:.2f} | {gflop:.1f} |")


if __name__ == "__main__":
    main()
