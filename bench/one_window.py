"""A training step of ResNet18 at 32 px with and without `one_window_convs`, side by side.

    .venv/bin/python bench/one_window.py [--steps 8] [--batch 128]
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 .venv/bin/python bench/one_window.py   # as on an AVX2-only CPU

At 32 px ResNet18's layer4 works on 1x1 maps (its first convolution maps 2x2 to 1x1): each of
these 3x3 convolutions has one output window covering its input, a matrix product.
Both models start from the same weights and take the same steps (channels_last, fused AdamW, fp32,
as the sample profile trains); the steps alternate between the two so that a busy machine slows
both alike. Prints the CPU, each model's median step time, and the ratio.
"""
import argparse
import statistics
import time

import torch

from hw2lib.engine.provenance import cpu_name
from hw2lib.engine.runtime import make_optimizer
from hw2lib.models import build_model
from hw2lib.models.one_window import one_window_convs
from hw2lib.settings import TrainingSettings


def trainer(model, batch):
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = make_optimizer(TrainingSettings(optimizer="adamw", lr=5e-3), model.parameters(), torch.device("cpu"))
    x = torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 50, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    torch.manual_seed(0)
    plain = build_model("resnet18", 50)
    swapped = build_model("resnet18", 50)
    swapped.load_state_dict(plain.state_dict())
    steps = {"nn.Conv2d": trainer(plain, args.batch), "one window": trainer(one_window_convs(swapped), args.batch)}
    times = {name: [] for name in steps}
    for i in range(args.steps + 2):  # two warm-up steps each
        for name, step in steps.items():
            t = time.perf_counter()
            step()
            if i >= 2:
                times[name].append(time.perf_counter() - t)
    print(f"CPU: {cpu_name()}, torch {torch.__version__}, kernels {torch.backends.cpu.get_cpu_capability()}, "
          f"{torch.get_num_threads()} threads; ResNet18, 32 px, batch {args.batch}, {args.steps} steps each")
    median = {name: statistics.median(t) * 1000 for name, t in times.items()}
    for name, ms in median.items():
        print(f"  {name:11s} {ms:7.1f} ms a step")
    print(f"  ratio: one window takes {median['one window'] / median['nn.Conv2d']:.2f}x the time of nn.Conv2d")


if __name__ == "__main__":
    main()
