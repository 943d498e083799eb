"""Input conversion and augmentation, as tensor operations on the device.

Data stay uint8 (N, 3, H, W) until a batch reaches the device; there it is normalised (ImageNet
mean and std), resized for classification's `input_size`, and augmented. Nothing here copies
from the host to the device or waits for the device: the normalisation constants are made once
per device, per-sample random draws come from a generator on the device, and the few scalar
draws (a zoom factor, crop offsets) from a generator on the host. Both generators are seeded
and saved with a run, so an epoch's augmentation is reproducible, also after a resume.
"""
import torch
from torch.nn import functional as F

from ..errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_NORMALISATION = {}  # device -> (mean, std), made once


def _normalisation(device):
    if device not in _NORMALISATION:
        _NORMALISATION[device] = (torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1),
                                  torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1))
    return _NORMALISATION[device]


def to_input(images, device, input_size=None, channels_last=False):
    """uint8 (N, 3, H, W) batch -> normalised float input on `device` (resized to `input_size`)."""
    x = images.to(device, non_blocking=True).float().div_(255)
    if input_size is not None and x.shape[-1] != input_size:
        x = F.interpolate(x, size=input_size, mode="bilinear", align_corners=False)
    mean, std = _normalisation(x.device)
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _flip(x, y, aug):
    m = torch.rand(len(x), generator=aug.on_device, device=x.device) < 0.5
    x = torch.where(m.view(-1, 1, 1, 1), x.flip(-1), x)
    if y.dim() == 3:  # masks flip with their images; class labels do not
        y = torch.where(m.view(-1, 1, 1), y.flip(-1), y)
    return x, y


def _rot90(x, y, aug):
    """Each sample rotated by its own multiple of 90 degrees: all four rotations, then a gather."""
    if x.shape[-1] != x.shape[-2]:
        raise ConfigError(f"augment: rot90 needs square inputs, got {x.shape[-1]}x{x.shape[-2]}")
    k = torch.randint(0, 4, (len(x),), generator=aug.on_device, device=x.device)
    rows = torch.arange(len(x), device=x.device)
    return (torch.stack([x.rot90(r, (-2, -1)) for r in range(4)])[k, rows],
            torch.stack([y.rot90(r, (-2, -1)) for r in range(4)])[k, rows])


def _scale_crop(x, y, aug):
    """Zoom in by a random factor in [1, 1.5] and crop back to size. The mask is resampled on the
    image's pixel grid: bilinear (align_corners=False) and nearest-exact share pixel centres."""
    h, w = x.shape[-2:]
    s = 1 + 0.5 * torch.rand(1, generator=aug.on_host).item()
    big = (round(h * s), round(w * s))
    x = F.interpolate(x, size=big, mode="bilinear", align_corners=False)
    y = F.interpolate(y[:, None].float(), size=big, mode="nearest-exact")[:, 0].to(y.dtype)
    top = torch.randint(0, big[0] - h + 1, (1,), generator=aug.on_host).item()
    left = torch.randint(0, big[1] - w + 1, (1,), generator=aug.on_host).item()
    return x[..., top:top + h, left:left + w], y[..., top:top + h, left:left + w]


def _pad_crop(x, y, aug):
    """Classification: pad by 1/8 of the side, take a random crop of the original size."""
    h, w = x.shape[-2:]
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (len(x), 2), generator=aug.on_host).tolist()
    return torch.stack([p[:, a:a + h, b:b + w] for p, (a, b) in zip(padded, offsets)]), y


AUGMENT_FUNCTIONS = {"flip": _flip, "rot90": _rot90, "scale_crop": _scale_crop, "crop": _pad_crop}


class Augmentation:
    """The named augmentations (validated by the task's settings), applied in order, with their two
    seeded generators. `x` keeps its memory format (channels_last stays channels_last)."""

    def __init__(self, names, seed, device):
        self.names = list(names)
        self.on_host = torch.Generator().manual_seed(seed)
        self.on_device = torch.Generator(device=device).manual_seed(seed)

    def __call__(self, x, y):
        if not self.names:
            return x, y
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1
        for name in self.names:
            x, y = AUGMENT_FUNCTIONS[name](x, y, self)
        return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format), y

    def state_dict(self):
        return {"on_host": self.on_host.get_state(), "on_device": self.on_device.get_state()}

    def load_state_dict(self, state):
        self.on_host.set_state(state["on_host"])
        self.on_device.set_state(state["on_device"])
