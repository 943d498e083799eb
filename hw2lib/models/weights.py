"""ImageNet weights for backbones, through torchvision's weights API or a local file.

Downloads are checked against the hash in the file name (torch hub's `check_hash`), and every
file is read with `weights_only=True`, so a weights file can never run code. Offline, a missing
download becomes one clear error that says which file is needed and where to put it.
"""
from pathlib import Path

import torch

from ..errors import WeightsUnavailable


def torchvision_weights(name):
    """The torchvision weights enum value called `name`, e.g. "VGG16_Weights.IMAGENET1K_V1".
    Model tables name weights by string: importing torchvision costs about 2 s (it imports
    torch._dynamo), which a process that only trains an FCN from scratch need not pay."""
    from torchvision import models

    enum, member = name.split(".")
    return getattr(getattr(models, enum), member)


def hub_cache_path(weights):
    """Where torch hub keeps (or would keep) the file of a torchvision weights enum value."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name


def _load(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, a pickle that is not plain weights...
        raise WeightsUnavailable(f"{path}: cannot read these weights ({type(e).__name__}: "
                                 f"{str(e).splitlines()[0]}); delete it and fetch it again") from None


def pretrained_state(weights, weights_path=None):
    """State dict for a torchvision `weights` enum value (e.g. VGG16_Weights.IMAGENET1K_V1).

    From `weights_path` if given, else from torch hub's cache, else by download.
    """
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise WeightsUnavailable(f"{path}: no such weights file")
        return _load(path)
    cached = hub_cache_path(weights)
    if not cached.is_file():
        cached.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(weights.url, str(cached), hash_prefix=_hash_prefix(cached),
                                           progress=False)
        except Exception as e:  # offline: URLError, socket errors, HTTP errors, a bad hash...
            raise WeightsUnavailable(
                f"cannot download {weights.url} ({type(e).__name__}: {e}).\n"
                f"Put that file at {cached} (torch hub's cache), or pass its path as "
                f"weights_path, or set pretrained: false.") from None
    return _load(cached)


def _hash_prefix(path):
    """torch hub's convention: `name-<sha256 prefix>.pth`."""
    return path.stem.rsplit("-", 1)[-1]
