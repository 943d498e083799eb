"""Name -> builder. Builders take (num_classes, head_width, pretrained, weights_path)."""
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Entry:
    build: Callable
    task: str            # "segmentation" or "classification"
    has_head_width: bool  # whether `head_width` means something for this model


MODELS = {}


def register(name, task, has_head_width=False):
    def wrap(fn):
        MODELS[name] = Entry(fn, task, has_head_width)
        return fn
    return wrap


def _entry(name):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def model_task(name):
    return _entry(name).task


def build_model(name, num_classes, head_width=None, pretrained=False, weights_path=None):
    """Build model `name`. `head_width=None` keeps the model's default width.

    `pretrained` loads ImageNet backbone weights through torchvision's weights API (from its cache,
    or downloading); `weights_path` loads them from a local file instead.
    """
    entry = _entry(name)
    if head_width is not None and not entry.has_head_width:
        raise ValueError(f"model {name!r} has no head_width option; leave it unset (null)")
    kwargs = {"head_width": head_width} if head_width is not None else {}
    return entry.build(num_classes, pretrained=pretrained or weights_path is not None,
                       weights_path=weights_path, **kwargs)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())
