"""ImageNet weights for backbones, through torchvision's weights API or a local file.

Offline, a missing download becomes one clear error that says which file is needed and where to
put it, instead of a stack of network exceptions.
"""
from pathlib import Path

import torch


class WeightsUnavailable(RuntimeError):
    """Pretrained weights were asked for but cannot be loaded."""


def pretrained_state(weights, weights_path=None):
    """State dict for a torchvision `weights` enum value (e.g. VGG16_Weights.IMAGENET1K_V1).

    From `weights_path` if given, else from torch hub's cache, else by download.
    """
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise WeightsUnavailable(f"{path}: no such weights file")
        return torch.load(path, map_location="cpu", weights_only=True)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=False)
    except Exception as e:  # offline: URLError, socket errors, HTTP errors...
        raise WeightsUnavailable(
            f"cannot download {weights.url} ({type(e).__name__}: {e}).\n"
            f"Put that file at {cached} (torch hub's cache), or pass its path as "
            f"weights_path, or set pretrained: false.") from None
