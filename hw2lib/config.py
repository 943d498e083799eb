"""Run parameters: defaults for every key, YAML files, `--set key=value` overrides, and the one
place where a config is validated before any work.

The notebooks and `hw2 train` read the same params files, so a run is described by one dict.
A YAML with only a few keys works. `validate` checks every key's type and value and how the keys
fit together; `check_data` checks what needs the data folder (run by every DDP rank alike).
Each problem is one `ConfigError` line naming the key and the value.
"""
import math
from pathlib import Path

import torch
import yaml

from .data.datasets import check_folder
from .data.label_specs import SPECS
from .engine.run_dir import RunDir
from .errors import ConfigError
from .models import MODEL_OPTIONS, MODELS
from .tasks import TASKS

DEFAULTS = {
    "task": "segmentation",      # segmentation | classification
    "model": "fcn32s",           # a name from hw2lib.models.MODELS
    "data_root": "data/sample/dubai_aerial",  # segmentation: train/ + validation/; classification: train_50/ + val_50/
    "classes": "dubai",          # class spec (segmentation)
    "num_classes": 50,           # classification only; segmentation takes it from the spec
    "epochs": 2,
    "image_size": 64,            # segmentation: the model's input size (null: native); scored at native size
    "input_size": 32,            # classification: network input, resized on the device
    "batch_size": 8,
    "head_width": None,          # FCN head width; null = the model's default (4096)
    "score_relu": None,          # FCN: ReLU on the class scores; null = the model's default (fcn32s only)
    "fcn_init": None,            # FCN: "interpolation" (default) or "torch" (PyTorch's default init)
    "decoder": None,             # unet16: "bilinear" (default) or "transposed" (TernausNet's)
    "limit": None,               # max training items (null: all)
    "val_limit": None,           # max validation items (null: all); snapshot tiles are always kept
    "lr": 1e-3,
    "weight_decay": 0.0,
    "momentum": 0.9,             # SGD only
    "optimizer": "adam",         # adam | adamw | sgd
    "schedule": "constant",      # constant | poly | cosine (stepped per iteration)
    "warmup_epochs": 0,          # linear learning-rate warm-up before the schedule
    "loss": "ce",                # ce | lovasz | ce+lovasz (segmentation)
    "lovasz_weight": 1.0,
    "class_weights": None,       # list, one per class, for cross-entropy
    "label_smoothing": 0.0,      # cross-entropy label smoothing (0: none)
    "ignore_index": None,        # a class index to leave out of the loss
    "augment": [],               # segmentation: flip, rot90, scale_crop; classification: crop, flip
    "precision": "fp32",         # auto | fp32 | bf16 | fp16 (auto: bf16 where the hardware has it)
    "channels_last": False,
    "seed": 0,
    "select": "final",           # which epoch best.pt keeps: val_loss | val_score | final
    "device": "auto",            # auto | cpu | cuda | cuda:N
    "out_dir": "runs/default",
    "checkpoint_minutes": 10,    # last.pt at most this often (and on SIGTERM/SIGINT)
    "init_from": None,           # a run folder whose kept weights (best.pt) start this run
    "snapshot_ids": [],          # validation tile ids whose predictions are saved, e.g. ["0010"]
    "snapshot_epochs": [],       # 1-based epochs at which they are saved
    "keep_checkpoints": [],      # epochs whose weights are also kept as epoch_<k>.pt (e.g. an early one for t-SNE)
    "keep_last": False,          # keep the optimiser state in last.pt after the run completes
    "pretrained": False,         # ImageNet backbone weights via torchvision (needs them cached)
    "weights_path": None,        # local file of those backbone weights instead
}

NUMBER, OPTIONAL = (int, float), type(None)
TYPES = {  # key: accepted Python types (after YAML parsing)
    "task": str, "model": str, "data_root": str, "classes": str, "num_classes": int,
    "epochs": int, "image_size": (int, OPTIONAL), "input_size": int, "batch_size": int,
    "head_width": (int, OPTIONAL), "score_relu": (bool, OPTIONAL), "fcn_init": (str, OPTIONAL),
    "decoder": (str, OPTIONAL), "limit": (int, OPTIONAL),
    "val_limit": (int, OPTIONAL), "lr": NUMBER, "weight_decay": NUMBER, "momentum": NUMBER,
    "optimizer": str, "schedule": str, "warmup_epochs": int, "loss": str, "lovasz_weight": NUMBER,
    "class_weights": (list, OPTIONAL), "label_smoothing": NUMBER, "ignore_index": (int, OPTIONAL), "augment": list,
    "precision": str, "channels_last": bool, "seed": int, "select": str, "device": str,
    "out_dir": str, "checkpoint_minutes": NUMBER,
    "init_from": (str, OPTIONAL), "snapshot_ids": list, "snapshot_epochs": list,
    "keep_checkpoints": list, "keep_last": bool, "pretrained": bool, "weights_path": (str, OPTIONAL),
}

CHOICES = {
    "task": ("segmentation", "classification"),
    "optimizer": ("adam", "adamw", "sgd"),
    "schedule": ("constant", "poly", "cosine"),
    "loss": ("ce", "lovasz", "ce+lovasz"),
    "precision": ("auto", "fp32", "bf16", "fp16"),
    "select": ("val_loss", "val_score", "final"),
}
OPTIONAL_CHOICES = {"fcn_init": ("interpolation", "torch"), "decoder": ("bilinear", "transposed")}
# Where and how a run executes, not what it computes: a resume may change them, and they are
# outside its cache key.
OPERATIONAL_KEYS = ("out_dir", "device", "data_root", "checkpoint_minutes")
# Segmentation's loss options: a classification config that sets them is refused.
SEGMENTATION_ONLY = ("class_weights", "ignore_index", "lovasz_weight", "snapshot_ids", "loss")


def read_yaml(path):
    """A params file as a dict; a missing file, bad YAML or a non-mapping is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such params file")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(e).split())})") from None
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of key: value")
    return values


def parse_override(text):
    """``key=value`` -> (key, value), the value parsed as YAML (numbers, lists, null...)."""
    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        raise ConfigError(f"--set {text}: the value is not valid YAML") from None


def _coerce(key, value):
    """The value as its key expects it: YAML reads 1e-3 as text, so numbers may come as strings."""
    types = TYPES[key] if isinstance(TYPES[key], tuple) else (TYPES[key],)
    if float in types and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    wrong_bool = isinstance(value, bool) and bool not in types
    if wrong_bool or not isinstance(value, types):
        names = " or ".join("null" if t is OPTIONAL else {"int": "an integer", "float": "a number",
                            "str": "text", "bool": "true/false", "list": "a list"}[t.__name__]
                            for t in types if not (t is int and float in types))
        raise ConfigError(f"{key}: {value!r} is not {names}")
    return value


def _model_checks(cfg):
    name = cfg["model"]
    if name not in MODELS:
        raise ConfigError(f"model: {name!r} is not a known model; known: {', '.join(MODELS)}")
    entry = MODELS[name]
    if entry.task != cfg["task"]:
        raise ConfigError(f"model: {name!r} is a {entry.task} model, but task is {cfg['task']!r}")
    for key in MODEL_OPTIONS:
        if cfg[key] is not None and key not in entry.options:
            owners = sorted({n for n, e in MODELS.items() if key in e.options})
            raise ConfigError(f"{key}: {cfg[key]!r} applies to {', '.join(owners)} only, not {name!r}; "
                              "leave it unset (null)")


def _segmentation_checks(cfg):
    if cfg["classes"] not in SPECS:
        raise ConfigError(f"classes: {cfg['classes']!r} is not a class spec; known: {', '.join(SPECS)}")
    n = SPECS[cfg["classes"]].num_classes
    if cfg["image_size"] is not None and cfg["image_size"] % 32:
        raise ConfigError(f"image_size: {cfg['image_size']} must be a multiple of 32 (or null)")
    weights = cfg["class_weights"]
    if weights is not None:
        if len(weights) != n:
            raise ConfigError(f"class_weights: {len(weights)} values, but {cfg['classes']!r} has {n} classes")
        bad = [w for w in weights if isinstance(w, bool) or not isinstance(w, (int, float))
               or not math.isfinite(w) or w < 0]
        if bad:
            raise ConfigError(f"class_weights: {bad[0]!r} is not a finite number >= 0")
    if cfg["ignore_index"] is not None and not 0 <= cfg["ignore_index"] < n:
        raise ConfigError(f"ignore_index: {cfg['ignore_index']} is not a class of {cfg['classes']!r}")


def _device_checks(cfg):
    device = cfg["device"]
    if device != "auto" and device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"device: {device!r} is not auto, cpu, cuda or cuda:N")
    cuda = torch.cuda.is_available()
    if device.startswith("cuda") and not cuda:
        raise ConfigError(f"device: {device!r} asked for, but torch sees no CUDA GPU")
    if cfg["precision"] == "fp16" and (device == "cpu" or not cuda):
        raise ConfigError("precision: 'fp16' needs a CUDA GPU (with GradScaler); use auto, bf16 or fp32")


def validate(cfg):
    """Raise ConfigError for the first unknown key, wrong type or value, or misfit of keys."""
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(DEFAULTS)}")
    for key in DEFAULTS:
        cfg[key] = _coerce(key, cfg[key])
    for key, allowed in CHOICES.items():
        if cfg[key] not in allowed:
            raise ConfigError(f"{key}: {cfg[key]!r} is not one of {', '.join(allowed)}")
    task = cfg["task"]
    for key in ("epochs", "batch_size", "input_size", "num_classes", "image_size", "limit", "val_limit",
                "head_width"):
        if cfg[key] is not None and cfg[key] < 1:
            raise ConfigError(f"{key}: {cfg[key]!r} must be at least 1")
    if cfg["lr"] <= 0:
        raise ConfigError(f"lr: {cfg['lr']!r} must be positive")
    if not 0 <= cfg["warmup_epochs"] < cfg["epochs"]:
        raise ConfigError(f"warmup_epochs: {cfg['warmup_epochs']!r} must be at least 0 and less than epochs")
    if not 0 <= cfg["label_smoothing"] < 1:
        raise ConfigError(f"label_smoothing: {cfg['label_smoothing']!r} must be in [0, 1)")
    for key, allowed in OPTIONAL_CHOICES.items():
        if cfg[key] is not None and cfg[key] not in allowed:
            raise ConfigError(f"{key}: {cfg[key]!r} is not one of {', '.join(allowed)} (or null)")
    if cfg["checkpoint_minutes"] < 0:
        raise ConfigError(f"checkpoint_minutes: {cfg['checkpoint_minutes']!r} must be at least 0")
    augmentations = TASKS[task].augmentations
    bad = [a for a in cfg["augment"] if a not in augmentations]
    if bad:
        raise ConfigError(f"augment: {bad[0]!r} is not a {task} augmentation; use {', '.join(augmentations)}")
    if not all(isinstance(i, str) for i in cfg["snapshot_ids"]):
        raise ConfigError(f"snapshot_ids: {cfg['snapshot_ids']} must be quoted strings like '0010' "
                          "(unquoted, YAML reads 0010 as the octal number 8)")
    for key in ("snapshot_epochs", "keep_checkpoints"):
        if not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in cfg[key]):
            raise ConfigError(f"{key}: {cfg[key]} must be 1-based epoch numbers")
    if task == "segmentation":
        _segmentation_checks(cfg)
    else:
        for key in SEGMENTATION_ONLY:
            if cfg[key] != DEFAULTS[key]:
                raise ConfigError(f"{key}: {cfg[key]!r} applies to segmentation only")
    _model_checks(cfg)
    _device_checks(cfg)
    return cfg


def check_data(cfg):
    """What needs the data folder: its splits exist, the snapshot tiles are in validation, the
    init_from run is there. Every DDP rank runs it, so all fail alike instead of some hanging."""
    task = TASKS[cfg["task"]](cfg)
    for folder in (task.train_folder, task.val_folder):
        check_folder(folder)
    missing = [i for i in cfg["snapshot_ids"] if not (task.val_folder / f"{i}_sat.jpg").is_file()]
    if missing:
        raise ConfigError(f"snapshot_ids: {missing} not in {task.val_folder}")
    if cfg["init_from"] is not None and not RunDir(cfg["init_from"]).checkpoint("best").is_file():
        raise ConfigError(f"init_from: {cfg['init_from']} is not a trained run folder (train that run first)")


def make_config(values=None, overrides=()):
    """Defaults, updated by `values` (a dict), then by ``key=value`` strings; validated."""
    cfg = dict(DEFAULTS)
    cfg.update(values or {})
    cfg.update(parse_override(o) for o in overrides)
    return validate(cfg)


def load_config(path, overrides=()):
    """A flat params YAML (a run's keys) as a validated config."""
    values = read_yaml(path)
    try:
        return make_config(values, overrides)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
