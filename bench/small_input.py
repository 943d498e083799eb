"""A training step of ResNet18 at 32 px as the engine places it, against plain nn.Conv2d, side by side.

    .venv/bin/python bench/small_input.py [--steps 8] [--batch 128]
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 .venv/bin/python bench/small_input.py   # as on an AVX2-only CPU

At 32 px ResNet18's layer3 works on 2x2 maps and its layer4 on 1x1 maps: their 3x3 convolutions
see inputs no larger than their kernels, which `engine.inference.placed` computes as matrix
products (`models/small_input.py`), with the parameters left NCHW on a CPU. The plain model is
placed as PyTorch advises for channels_last (parameters and activations). Both start from the same
weights and take the same steps (channels_last input, fused AdamW, fp32, as the sample profile
trains); the steps alternate between the two so that a busy machine slows both alike. Prints the
CPU, each model's median step time, and the ratio.
"""
import argparse
import statistics
import time

import torch

from hw2lib.engine.inference import placed
from hw2lib.engine.provenance import cpu_name
from hw2lib.engine.runtime import make_optimizer
from hw2lib.models import build_model
from hw2lib.settings import TrainingSettings


def trainer(model, batch):
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
    engine = build_model("resnet18", 50)
    engine.load_state_dict(plain.state_dict())
    steps = {"nn.Conv2d": trainer(plain.to(memory_format=torch.channels_last).train(), args.batch),
             "engine": trainer(placed(engine, torch.device("cpu"), channels_last=True).train(), args.batch)}
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
        print(f"  {name:9s} {ms:7.1f} ms a step")
    print(f"  ratio: the engine's placement takes {median['engine'] / median['nn.Conv2d']:.2f}x the time of nn.Conv2d")


if __name__ == "__main__":
    main()
