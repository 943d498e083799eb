"""Run parameters: defaults for every key, YAML files and `--set key=value` overrides.

The notebooks and `hw2 train` read the same params files, so a run is described by one dict.
A YAML with only a few keys works; an unknown key is an error that lists the known ones.
"""
from pathlib import Path

import yaml

DEFAULTS = {
    "task": "segmentation",      # segmentation | classification
    "model": "fcn32s",           # a name from hw2lib.models.MODELS
    "data_root": "data/sample/dubai_aerial",  # segmentation: train/ + validation/; classification: train_50/ + val_50/
    "classes": "dubai",          # class spec (segmentation)
    "num_classes": 50,           # classification only; segmentation takes it from the spec
    "epochs": 2,
    "image_size": 64,            # segmentation tiles are resized to this (null: native size)
    "input_size": 32,            # classification: network input, resized on the device
    "batch_size": 8,
    "head_width": None,          # FCN head width; null = the model's default (4096)
    "limit": None,               # max items per split (null: all)
    "lr": 1e-3,
    "weight_decay": 0.0,
    "momentum": 0.9,             # SGD only
    "optimizer": "adam",         # adam | adamw | sgd
    "schedule": "constant",      # constant | poly | cosine (stepped per iteration)
    "loss": "ce",                # ce | lovasz | ce+lovasz (segmentation)
    "lovasz_weight": 1.0,
    "class_weights": None,       # list, one per class, for cross-entropy
    "ignore_index": None,        # a class index to leave out of the loss
    "augment": [],               # segmentation: flip, rot90, scale_crop; classification: crop, flip
    "precision": "fp32",         # fp32 | bf16 | fp16 (fp16: GPU only, with GradScaler)
    "channels_last": False,
    "seed": 0,
    "device": "auto",            # auto | cpu | cuda | cuda:N
    "out_dir": "runs/default",
    "snapshot_ids": [],          # validation tile ids whose predictions are saved, e.g. ["0010"]
    "snapshot_epochs": [],       # 1-based epochs at which they are saved
    "keep_checkpoints": [],      # epochs whose weights are also kept as epoch_<k>.pt (e.g. an early one for t-SNE)
    "pretrained": False,         # ImageNet backbone weights via torchvision (needs them cached)
    "weights_path": None,        # local file of those backbone weights instead
}

CHOICES = {
    "task": ("segmentation", "classification"),
    "optimizer": ("adam", "adamw", "sgd"),
    "schedule": ("constant", "poly", "cosine"),
    "loss": ("ce", "lovasz", "ce+lovasz"),
    "precision": ("fp32", "bf16", "fp16"),
}


def parse_override(text):
    """``key=value`` -> (key, value), the value parsed as YAML (numbers, lists, null...)."""
    if "=" not in text:
        raise ValueError(f"--set expects key=value, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def validate(cfg):
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}")
    for key, allowed in CHOICES.items():
        if cfg[key] not in allowed:
            raise ValueError(f"{key}: {cfg[key]!r} is not one of {', '.join(allowed)}")
    if not all(isinstance(i, str) for i in cfg["snapshot_ids"]):
        raise ValueError(f"snapshot_ids {cfg['snapshot_ids']} must be quoted strings like '0010' "
                         "(unquoted, YAML reads 0010 as the octal number 8)")
    if any(int(e) < 1 for e in cfg["snapshot_epochs"]):
        raise ValueError(f"snapshot_epochs {cfg['snapshot_epochs']} are 1-based epoch numbers")
    return cfg


def make_config(values=None, overrides=()):
    """Defaults, updated by `values` (a dict), then by ``key=value`` strings."""
    cfg = dict(DEFAULTS)
    cfg.update(values or {})
    cfg.update(parse_override(o) for o in overrides)
    return validate(cfg)


def load_config(path, overrides=()):
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such params file")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of key: value")
    try:
        return make_config(values, overrides)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
