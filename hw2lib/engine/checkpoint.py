"""Checkpoints: written atomically, loaded without unpickling arbitrary objects, stored compactly.

A checkpoint is a dict of tensors and plain Python values (numbers, strings, lists, dicts), so
`torch.load(..., weights_only=True)` reads it; a file that needs more (a pickle that would run
code) is refused with a clear error and its payload never runs.

Weights of a run trained under bf16 (or fp16) autocast are stored in that 16-bit format where
autocast computes in it anyway (convolution and linear weights and biases, but for a layer a
model marks `runs_in_fp32`): evaluating the stored weights under the run's precision gives
exactly the same outputs, at half the disk space.
"""
import hashlib
import pickle
from pathlib import Path

import torch
from torch import nn

from ..atomic import atomic_path
from ..errors import CheckpointError

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_AUTOCAST_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)


class _HashingFile:
    """A file that hashes what is written to it (torch.save writes sequentially)."""

    def __init__(self, f):
        self.f, self.hash = f, hashlib.sha256()

    def write(self, data):
        self.hash.update(data)
        return self.f.write(data)

    def flush(self):
        self.f.flush()


def save_checkpoint(path, state):
    """Write `state` atomically; return the sha256 of the file's bytes."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        out = _HashingFile(f)
        torch.save(state, out)
    return out.hash.hexdigest()


def load_checkpoint(path, map_location="cpu"):
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: refused, it is not a weights-only checkpoint and loading it "
                              f"would run arbitrary code ({str(e).splitlines()[0]})") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({e})") from None


def compact_state_dict(model, precision):
    """The model's state dict, with the tensors autocast casts to `precision` stored in it."""
    state = model.state_dict()
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        return state
    cast = {f"{name}.{p}" for name, m in model.named_modules()
            if isinstance(m, _AUTOCAST_LAYERS) and not getattr(m, "runs_in_fp32", False)
            for p in ("weight", "bias") if getattr(m, p, None) is not None}
    return {k: v.to(dtype) if k in cast else v for k, v in state.items()}
