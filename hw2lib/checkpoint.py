"""Checkpoints: written atomically, loaded without unpickling arbitrary objects.

A checkpoint is a dict of tensors and plain Python values (numbers, strings, lists, dicts), so
`torch.load(..., weights_only=True)` reads it; a file that needs more (a pickle that would run
code) is refused with a clear error and its payload never runs.
"""
import pickle
from pathlib import Path

import torch

from .files import atomic_path


class CheckpointError(Exception):
    """A checkpoint that cannot or must not be loaded."""


def save_checkpoint(path, state):
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


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
