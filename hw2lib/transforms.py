"""Input conversion and augmentation, as tensor operations on the device.

Data stay uint8 (N, 3, H, W) until a batch reaches the device; there it is normalised (ImageNet
mean and std), resized for classification's `input_size`, and augmented. Augmentations draw from
a `torch.Generator`, so an epoch's augmentation is reproducible from its seed.
"""
import torch
from torch.nn import functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_input(images, device, input_size=None, channels_last=False):
    """uint8 (N, 3, H, W) batch -> normalised float input on `device` (resized to `input_size`)."""
    x = images.to(device, non_blocking=True).float().div_(255)
    if input_size is not None and x.shape[-1] != input_size:
        x = F.interpolate(x, size=input_size, mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    x = (x - mean) / std
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _flip(x, y, gen):
    m = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
    x = torch.where(m.view(-1, 1, 1, 1), x.flip(-1), x)
    if y.dim() == 3:  # masks flip with their images; class labels do not
        y = torch.where(m.view(-1, 1, 1), y.flip(-1), y)
    return x, y


def _rot90(x, y, gen):
    k = torch.randint(0, 4, (len(x),), generator=gen).tolist()
    return (torch.stack([xi.rot90(ki, (-2, -1)) for xi, ki in zip(x, k)]),
            torch.stack([yi.rot90(ki, (-2, -1)) for yi, ki in zip(y, k)]))


def _scale_crop(x, y, gen):
    """Zoom in by a random factor in [1, 1.5] and crop back to size. The mask is resampled on the
    image's pixel grid: bilinear (align_corners=False) and nearest-exact share pixel centres."""
    h, w = x.shape[-2:]
    s = 1 + 0.5 * torch.rand(1, generator=gen).item()
    big = (round(h * s), round(w * s))
    x = F.interpolate(x, size=big, mode="bilinear", align_corners=False)
    y = F.interpolate(y[:, None].float(), size=big, mode="nearest-exact")[:, 0].to(y.dtype)
    top = torch.randint(0, big[0] - h + 1, (1,), generator=gen).item()
    left = torch.randint(0, big[1] - w + 1, (1,), generator=gen).item()
    return x[..., top:top + h, left:left + w], y[..., top:top + h, left:left + w]


def _pad_crop(x, y, gen):
    """Classification: pad by 1/8 of the side, take a random crop of the original size."""
    h, w = x.shape[-2:]
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    offs = torch.randint(0, 2 * pad + 1, (len(x), 2), generator=gen).tolist()
    return torch.stack([p[:, a:a + h, b:b + w] for p, (a, b) in zip(padded, offs)]), y


AUGMENTATIONS = {"flip": _flip, "rot90": _rot90, "scale_crop": _scale_crop, "crop": _pad_crop}


def augment(x, y, names, gen):
    """Apply the named augmentations in order (names are validated by `config.validate`).

    `x` keeps its memory format (channels_last stays channels_last)."""
    if not names:
        return x, y
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and x.shape[1] > 1
    for name in names:
        x, y = AUGMENTATIONS[name](x, y, gen)
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format), y
