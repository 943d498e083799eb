"""Runtime plumbing for training and inference: device, precision, DDP, optimiser and schedule,
progress display.

`precision: auto` picks bf16 where the hardware computes it natively (CUDA GPUs with bf16, CPUs
with AVX512-BF16 or AMX) and fp32 elsewhere: on an AVX2-only CPU bf16 autocast is emulated and
several times slower than fp32, on an AMX Xeon about twice as fast, so no fixed choice is right.
"""
import math
import os
import sys
import time

import torch
from torch import distributed as dist
from tqdm.auto import tqdm

from ..errors import CheckpointError, ConfigError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name="auto"):
    """The torch device for `name` ("auto": CUDA when there is one). On CUDA it turns cuDNN's
    autotuner on: every batch of a run has the same size, so the fastest convolution algorithm,
    found once, is reused for the whole run (as torchvision's reference scripts do)."""
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} asked for, but torch sees no CUDA GPU")
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return device


ONEDNN_ISAS_WITHOUT_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}


def cpu_has_native_bf16():
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX tiles) and torch may use them.
    Kernels held below them (ATEN_CPU_CAPABILITY=avx2 or ONEDNN_MAX_CPU_ISA=AVX2, as when
    measuring what an AVX2-only CPU would do) emulate bf16, about 8x slower than fp32."""
    held = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper() in ONEDNN_ISAS_WITHOUT_BF16
    if held or torch.backends.cpu.get_cpu_capability() != "AVX512":
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: assume not
        return False


def resolve_precision(precision, device):
    """fp32 / bf16 / fp16; `auto` becomes bf16 where the hardware has it natively, else fp32."""
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision: 'fp16' needs a CUDA GPU (with GradScaler); use auto, bf16 or fp32")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def autocast(device, precision):
    """Mixed precision as resolved for the run (a no-op for fp32)."""
    return torch.autocast(device.type, DTYPES[precision], enabled=precision != "fp32")


def show_progress():
    """A live progress bar in a terminal or a JupyterLab kernel; none under papermill, in CI or
    when HW2_PROGRESS=0 (one log line per epoch there, so no bar characters reach a report)."""
    if os.environ.get("HW2_PROGRESS", "").lower() in ("0", "off", "false"):
        return False
    return "ipykernel" in sys.modules or sys.stderr.isatty()


class ProgressBar:
    """One bar per epoch (tqdm.auto: a widget in JupyterLab, text in a terminal) that redraws at
    most twice a second; `loss` is read from the device only when the bar is about to redraw."""

    def __init__(self, total, desc):
        self.bar = None
        if show_progress():
            self.bar = tqdm(total=total, desc=desc, leave=False, mininterval=0.5)
        self.shown = time.monotonic()

    def step(self, loss):
        if self.bar is None:
            return
        self.bar.update()
        if time.monotonic() - self.shown > 0.5:
            self.bar.set_postfix(loss=f"{loss.item():.4f}")
            self.shown = time.monotonic()

    def close(self):
        if self.bar is not None:
            self.bar.close()


class Distributed:
    """Rank and world size; a no-op when not launched by torchrun."""

    def __init__(self, device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = 0
        if self.world > 1:
            if not dist.is_initialized():
                dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
            self.rank = dist.get_rank()

    @property
    def main(self):
        return self.rank == 0

    def local_device(self, device):
        """Under DDP on GPUs, this rank's own GPU."""
        if self.world > 1 and device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        return device

    def shard(self, indices):
        """This rank's share of `indices`, every rank the same length."""
        usable = len(indices) // self.world * self.world
        return indices[:usable][self.rank::self.world] if self.world > 1 else indices

    def sum(self, tensor):
        if self.world > 1:
            dist.all_reduce(tensor)
        return tensor

    def max(self, tensor):
        if self.world > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return tensor

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def gather(self, obj):
        """[every rank's `obj`] in rank order, on every rank (picklable objects)."""
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def share_buffers(self, model):
        """Give every rank rank 0's buffers (batch-norm running statistics). After an epoch each
        rank's statistics include its own last batches; validating with rank 0's on every rank
        scores exactly the weights that rank 0 saves."""
        if self.world > 1:
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)


def make_optimizer(train, params, device):
    """The optimiser `train` (TrainingSettings) names, over `params`."""
    kind, lr, wd = train.optimizer, train.lr, train.weight_decay
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=train.momentum, weight_decay=wd)
    cls = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    # The fused kernels update every parameter in one pass: one launch on CUDA, and on a CPU
    # 6x faster than the default loop (0.16 s vs 1.0 s a step for VGG16-FCN's 185 M parameters).
    return cls(params, lr=lr, weight_decay=wd, fused=device.type in ("cuda", "cpu"))


def schedule_factor(kind, step, total_steps, warmup_steps=0):
    """The learning-rate multiplier at `step` of `total_steps`: a linear warm-up over the first
    `warmup_steps`, then the schedule `kind` over the rest."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    t = min((step - warmup_steps) / max(total_steps - warmup_steps, 1), 1.0)
    if kind == "poly":
        return (1 - t) ** 0.9
    if kind == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    return 1.0


class Optimisation:
    """Optimizer, per-iteration learning-rate schedule and (fp16) gradient scaler, stepped together.

    The rate is planned over the run's epochs from the optimiser step count, and written into
    the optimiser before each step (a Python float: no device work). Resuming with a larger total
    (`--extend`) keeps the step count and re-plans over the new total: a warm restart, where the
    rate jumps back up (as torchvision's reference scripts do when `--epochs` is raised).
    """

    def __init__(self, train, params, steps_per_epoch, device, precision):
        self.optimizer = make_optimizer(train, params, device)
        self.kind, self.base_lr = train.schedule, train.lr
        self.total, self.warmup = steps_per_epoch * train.epochs, steps_per_epoch * train.warmup_epochs
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.steps = 0
        self.last_lr = self.lr()

    def lr(self):
        """The rate the next step will use."""
        return self.base_lr * schedule_factor(self.kind, self.steps, self.total, self.warmup)

    def step(self, loss):
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr()
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.last_lr = self.lr()
        self.steps += 1

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "steps": self.steps,
                "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state, path):
        if "optimizer" not in state:
            raise CheckpointError(f"{path} holds no optimiser state")
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.steps = state["steps"]
