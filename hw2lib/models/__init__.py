"""The model table: every model is built by name, as a plain `nn.Module`.

    >>> model = build_model("fcn8s", num_classes=7, head_width=64)

A model knows nothing of folders, files or the engine. Segmentation models map (N, 3, H, W) to
(N, C, H, W) logits; classifiers map (N, 3, H, W) to (N, C). `head_width` and `score_relu` are
options of the FCN family only.
"""
from dataclasses import dataclass
from functools import partial
from typing import Callable

from torchvision import models as tvm

from ..errors import ConfigError
from .classifiers import BACKBONES, classifier
from .deeplab import DeepLabV3
from .fcn import FCN, SKIPS
from .segnet import SegNet
from .unet import UNet16


@dataclass(frozen=True)
class ModelEntry:
    build: Callable      # (num_classes, pretrained=, weights_path=, **options) -> nn.Module
    task: str            # "segmentation" or "classification"
    family: str          # "fcn" for the FCN family (the only one with head_width / score_relu)
    weights: object      # the torchvision ImageNet weights that `pretrained: true` loads


MODELS = {
    **{name: ModelEntry(partial(FCN, skips=skips), "segmentation", "fcn", tvm.VGG16_Weights.IMAGENET1K_V1)
       for name, skips in SKIPS.items()},
    "unet16": ModelEntry(UNet16, "segmentation", "unet", tvm.VGG16_Weights.IMAGENET1K_V1),
    "segnet": ModelEntry(SegNet, "segmentation", "segnet", tvm.VGG16_BN_Weights.IMAGENET1K_V1),
    "deeplabv3_resnet101": ModelEntry(DeepLabV3, "segmentation", "deeplab",
                                      tvm.ResNet101_Weights.IMAGENET1K_V1),
    **{name: ModelEntry(partial(classifier, name), "classification", "classifier", weights)
       for name, (_, weights) in BACKBONES.items()},
}


def _entry(name):
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


def model_task(name):
    return _entry(name).task


def build_model(name, num_classes, head_width=None, score_relu=None, pretrained=False,
                weights_path=None):
    """Build model `name`; options left at None keep the model's defaults.

    `pretrained` loads ImageNet backbone weights through torchvision's weights API (from its cache,
    or downloading); `weights_path` loads them from a local file instead.
    """
    entry = _entry(name)
    options = {k: v for k, v in (("head_width", head_width), ("score_relu", score_relu)) if v is not None}
    if options and entry.family != "fcn":
        raise ConfigError(f"model {name!r} has no {' or '.join(options)} option; leave it unset (null)")
    return entry.build(num_classes, pretrained=pretrained or weights_path is not None,
                       weights_path=weights_path, **options)


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def describe_model(name, num_classes, head_width=None, score_relu=None, grouped=False):
    """The printed network, then a last line `params: N` (`N` with thousands separators if
    `grouped`)."""
    model = build_model(name, num_classes, head_width, score_relu)
    count = count_parameters(model)
    return f"{model}\nparams: {count:,}" if grouped else f"{model}\nparams: {count}"
