"""The GPU time a profile needs, budgeted in FLOPs: per run, the FLOPs of one training item
(forward and backward) and of one validation item (forward), measured with
torch.utils.flop_counter on the meta device (no memory, no compute), times items and epochs,
and the ideal time at a fraction of a GPU's dense bf16 peak on one GPU and on eight.

    .venv/bin/python bench/flops.py                       # the homework profile, the homework's split sizes
    .venv/bin/python bench/flops.py --profile reference --utilisation 0.4
    .venv/bin/python bench/flops.py --repeats 1          # one training per run (a quick pass)

Every seed repeat is a run of its own and is counted. On eight GPUs the runs are independent but
for `init_from` chains (a fine-tune after its parent), so the ideal time is the larger of
(total / 8) and the longest chain (the critical path).
"""
import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from hw2lib.models import build_model
from hw2lib.runs.profiles import parent, run_names, run_settings
from hw2lib.tasks import make_task

# The homework's split sizes (p2_data: 2,000 + 257 tiles; p1_data: 22,500 + 2,500 images).
ITEMS = {"segmentation": (2000, 257), "classification": (22500, 2500)}
PEAKS = {"H100 SXM": 989e12, "H200": 989e12}  # dense bf16 FLOP/s (both Hopper, same tensor cores)


def flops_per_item(settings):
    """(training FLOPs, validation FLOPs) of one item at the run's input size."""
    task = make_task(settings)
    side = task.model_side()
    with torch.device("meta"):
        model = build_model(settings.model.model, task.num_classes, settings.model.values())
        x = torch.randn(2, 3, side, side)  # two items: batch norm needs more than one in training
        with FlopCounterMode(display=False) as train:
            model.train()(x).float().sum().backward()
        with torch.no_grad(), FlopCounterMode(display=False) as infer:
            model.eval()(x)
    return train.get_total_flops() / 2, infer.get_total_flops() / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="homework")
    ap.add_argument("--utilisation", type=float, default=0.4, help="fraction of the peak reached")
    ap.add_argument("--repeats", type=int, default=None, help="at most this many seed repeats of each run")
    args = ap.parse_args()
    rows, total, per_model = {}, 0.0, {}
    for name in run_names(args.profile, args.repeats):
        settings = run_settings(args.profile, name, "/nonexistent")
        n_train, n_val = ITEMS[settings.task.name]
        key = (settings.model.model, make_task(settings).model_side(), settings.model.head_width)
        if key not in per_model:
            per_model[key] = flops_per_item(settings)
        per_train, per_val = per_model[key]
        run_total = settings.train.epochs * (n_train * per_train + n_val * per_val)
        rows[name] = (settings, per_train, n_train, run_total)
        total += run_total

    def chain(name):
        up = parent(args.profile, name)
        return rows[name][3] + (chain(up) if up else 0.0)
    critical = max(rows, key=chain)
    repeats = "every seed repeat" if args.repeats is None else f"at most {args.repeats} repeat(s) of each run"
    print(f"profile {args.profile} ({len(rows)} runs, {repeats}): FLOPs per item from "
          f"torch.utils.flop_counter (meta device), ideal times at {args.utilisation:.0%} of dense bf16 peak\n")
    print("| run | model | input | GFLOP per training item | training items x epochs | PFLOP | share |")
    print("|---|---|---|---|---|---|---|")
    for name, (settings, per_train, n_train, run_total) in rows.items():
        print(f"| {name} | {settings.model.model} | {make_task(settings).model_side()}² | {per_train / 1e9:,.1f} | "
              f"{n_train:,} x {settings.train.epochs} | {run_total / 1e15:,.1f} | {run_total / total:.1%} |")
    print(f"| **total** | | | | | **{total / 1e15:,.1f}** | 100% |\n")
    path = []
    name = critical
    while name:
        path.insert(0, name)
        name = parent(args.profile, name)
    print(f"critical path (longest init_from chain): {' -> '.join(path)}, {chain(critical) / 1e15:,.1f} PFLOP\n")
    print("| GPU | one GPU | eight GPUs |")
    print("|---|---|---|")
    for gpu, peak in PEAKS.items():
        rate = peak * args.utilisation
        one, eight = total / rate, max(total / 8, chain(critical)) / rate
        print(f"| {gpu} ({peak / 1e12:.0f} TFLOP/s bf16) | {one / 60:.1f} min | {eight / 60:.1f} min |")


if __name__ == "__main__":
    main()
