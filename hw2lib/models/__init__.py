"""Model registry: every model is built by name, as a plain `nn.Module`.

    >>> model = build_model("fcn8s", num_classes=7, head_width=64)

A model knows nothing of folders, files or the engine. Segmentation models map (N, 3, H, W) to
(N, C, H, W) logits; classifiers map (N, 3, H, W) to (N, C).
"""
from . import classifiers, deeplab, fcn, segnet, unet
from .registry import MODELS, build_model, count_parameters, model_task

__all__ = ["MODELS", "build_model", "count_parameters", "model_task",
           "classifiers", "deeplab", "fcn", "segnet", "unet"]
