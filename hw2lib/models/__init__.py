"""The model table: every model is built by name, as a plain `nn.Module`.

    >>> model = build_model("fcn8s", num_classes=7, options={"head_width": 64})

A model knows nothing of folders, files or the engine. Segmentation models map (N, 3, H, W) to
(N, C, H, W) logits; classifiers map (N, 3, H, W) to (N, C). A model family has its own options
(settings keys): the FCNs `head_width`, `score_relu` and `fcn_init`; UNet16 and SegNet `decoder`.
"""
import dataclasses
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch

from ..errors import ConfigError
from .classifiers import BACKBONES, classifier
from .deeplab import DeepLabV3
from .fcn import FCN, SKIPS
from .segnet import SegNet
from .unet import UNet16
from .weights import torchvision_weights


@dataclass(frozen=True)
class ModelEntry:
    build: Callable      # (num_classes, pretrained=, weights_path=, **options) -> nn.Module
    task: str            # "segmentation" or "classification"
    weights_name: str    # the torchvision ImageNet weights that `pretrained: true` loads
    options: dict = dataclasses.field(default_factory=dict)  # settings key -> its choices (None: any)

    @property
    def weights(self):
        """The torchvision weights enum value (imports torchvision)."""
        return torchvision_weights(self.weights_name)


FCN_OPTIONS = {"head_width": None, "score_relu": None, "fcn_init": ("interpolation", "torch")}
MODELS = {
    **{name: ModelEntry(partial(FCN, skips=skips), "segmentation", "VGG16_Weights.IMAGENET1K_V1", FCN_OPTIONS)
       for name, skips in SKIPS.items()},
    "unet16": ModelEntry(UNet16, "segmentation", "VGG16_Weights.IMAGENET1K_V1",
                         {"decoder": ("bilinear", "transposed")}),
    "segnet": ModelEntry(SegNet, "segmentation", "VGG16_BN_Weights.IMAGENET1K_V1",
                         {"decoder": ("mirrored", "reference")}),
    "deeplabv3_resnet101": ModelEntry(DeepLabV3, "segmentation", "ResNet101_Weights.IMAGENET1K_V1"),
    **{name: ModelEntry(partial(classifier, name), "classification", weights)
       for name, weights in BACKBONES.items()},
}


def option_choices(name, key):
    """The values model `name` accepts for its option `key` (None: any of the key's type)."""
    return MODELS[name].options.get(key)


def _entry(name):
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name, num_classes, options=None, pretrained=False, weights_path=None):
    """Build model `name`. `options` (a config, or any dict) gives the model's own options; those
    missing or None keep the model's defaults, and other keys are ignored.

    `pretrained` loads ImageNet backbone weights through torchvision's weights API (from its cache,
    or downloading); `weights_path` loads them from a local file instead.
    """
    entry = _entry(name)
    chosen = {k: v for k, v in (options or {}).items() if k in entry.options and v is not None}
    return entry.build(num_classes, pretrained=pretrained or weights_path is not None,
                       weights_path=weights_path, **chosen)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def layer_table(name, num_classes, options=None, side=224):
    """The model's per-layer table at a `side` x `side` input: each layer's output shape and
    parameter count, then the totals (torchinfo; the model is built on the meta device, so it
    costs no memory and no time whatever its size)."""
    from torchinfo import summary  # only the report needs it

    with torch.device("meta"):
        model = build_model(name, num_classes, options)
    table = summary(model, input_size=(1, 3, side, side), col_names=("output_size", "num_params"), depth=3,
                    verbose=0, device="meta")
    return f"{name} at {side}x{side}, {num_classes} classes\n{table}"


def describe_model(name, num_classes, options=None):
    """The printed network, then a last line `params: N` (`hw2 arch`)."""
    model = build_model(name, num_classes, options)
    return f"{model}\nparams: {count_parameters(model)}"
