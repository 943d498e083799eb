"""Training and inference throughput (images/s) per model, size, batch and precision, with a
"reference-style" baseline measured side by side in the same run, and the fraction of the FLOP floor.

    .venv/bin/python bench/bench_train.py                         # CPU defaults (small, minutes)
    python bench/bench_train.py --device cuda --size 512 --batch 8 --steps 20 --peak-tflops 989 \\
        --models fcn32s fcn8s deeplabv3_resnet101 --compile     # the homework's GPU settings

The reference-style pipeline is how the reference author's code trained: a DataLoader whose collate
decodes each JPEG/PNG with PIL, resizes and normalises per image, fp32, NCHW. Ours: tiles decoded
once into uint8 memory, normalised on the device, bf16 autocast and channels_last, a fused Adam
on CUDA, and optionally torch.compile. FLOPs of one training step come from
torch.utils.flop_counter; with --peak-tflops (dense bf16 peak of the card: 989 for an H100 SXM)
each row says which fraction of that peak it reaches, i.e. how far it is from the FLOP floor.
"""
import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from hw2lib.data.datasets import load_segmentation, segmentation_pairs
from hw2lib.data.label_specs import get_spec
from hw2lib.engine.inference import Predictor, predicted_masks
from hw2lib.losses import Loss
from hw2lib.engine.provenance import cpu_name
from hw2lib.engine.runtime import autocast, make_optimizer
from hw2lib.engine.transforms import to_input
from hw2lib.models import build_model
from hw2lib.settings import RunSettings, TrainingSettings

ROOT = Path(__file__).resolve().parents[1]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def reference_style_loader(folder, spec, size, batch):
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


def time_training(model, batches, device, precision, channels_last, steps, warmup=3):
    """Images/s over `steps` training steps after `warmup` steps; batches yields (x, y)."""
    opt = make_optimizer(TrainingSettings(optimizer="adam", lr=1e-4), model.parameters(), device)
    loss_fn = Loss()
    model.train()
    n, t0 = 0, None
    for i, (x, y) in enumerate(batches):
        if i == warmup:
            sync(device)
            t0, n = time.perf_counter(), 0
        if i == steps + warmup:
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, precision):
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
    ap.add_argument("--head-width", type=int, default=None, help="FCN head width (default: 4096)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--peak-tflops", type=float, default=None, help="device peak, for the FLOP floor")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd bf16 + NHWC")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    spec = get_spec("dubai")
    fast = "bf16"
    print(f"machine: {torch.cuda.get_device_name(device) if device.type == 'cuda' else cpu_name()}, "
          f"capability {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    print(f"size {args.size}, batch {args.batch}, head_width {args.head_width or 'default'}, "
          f"{args.steps} timed steps")

    t = time.perf_counter()
    data = load_segmentation(args.data, spec, size=args.size)
    print(f"decode once: {len(data.images)} tiles in {time.perf_counter() - t:.2f} s")
    images, masks = torch.from_numpy(data.images), torch.from_numpy(data.masks)

    def ours(channels_last):
        gen = torch.Generator().manual_seed(0)
        while True:
            idx = torch.randperm(len(images), generator=gen)[:args.batch]
            yield to_input(images[idx], device, None, channels_last), masks[idx].long()

    print("| model | pipeline | precision | layout | train img/s | vs reference-style | infer img/s "
          "| GFLOP/step |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        torch.manual_seed(0)
        model = build_model(name, spec.num_classes, {"head_width": args.head_width}).to(device)
        x = to_input(images[:args.batch], device)
        with FlopCounterMode(display=False) as fc:
            Loss()(model(x), masks[:args.batch].to(device).long()).backward()
        gflop = fc.get_total_flops() / 1e9
        model.zero_grad(set_to_none=True)
        baseline = time_training(model, cycle(reference_style_loader(args.data, spec, args.size, args.batch)),
                                 device, "fp32", False, args.steps)
        rows = [("reference-style", "fp32", "NCHW", baseline, model)]
        variants = [("fp32", False, False), (fast, True, False)] + ([(fast, True, True)] if args.compile else [])
        for precision, cl, compiled in variants:
            model = model.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
            run = torch.compile(model) if compiled else model
            rows.append(("decoded once" + (" + compile" if compiled else ""), precision,
                         "NHWC" if cl else "NCHW",
                         time_training(run, ours(cl), device, precision, cl, args.steps), run))
        for pipeline, precision, layout, ips, run in rows:
            settings = RunSettings.build({"classes": "dubai", "batch_size": args.batch,
                                          "channels_last": layout == "NHWC"})
            predictor = Predictor(run, settings, device, precision)
            predicted_masks(predictor, images[:args.batch], (args.size, args.size))  # warm-up
            sync(device)
            t = time.perf_counter()
            predicted_masks(predictor, images[:args.batch * 4], (args.size, args.size))
            sync(device)
            infer = args.batch * 4 / (time.perf_counter() - t)
            floor = ""
            if args.peak_tflops:
                floor = f" ({gflop / args.batch * ips / 1e3 / args.peak_tflops:.0%} of peak)"
            print(f"| {name} | {pipeline} | {precision} | {layout} | {ips:.2f}{floor} | "
                  f"{ips / baseline:.2f}x | {infer:.2f} | {gflop:.1f} |", flush=True)


if __name__ == "__main__":
    main()
