"""Run settings: what a run is, typed and validated, each setting declared once.

    s = RunSettings.build({"model": "fcn8s", "epochs": 5}, ["lr=1e-4"])
    s.train.lr, s.model.name, s.task.image_size, s.place.out_dir
    s.flat()                 # the runs.yaml spelling: {"task": "segmentation", "model": "fcn8s", ...}
    s.replace(epochs=6)      # a changed copy, validated again

A setting is a field of one group below, with its default, type, choices and help beside it.
`runs.yaml` and `--set KEY=VALUE` use the flat names (each belongs to one group). A group is
validated when it is built; every problem is one `ConfigError` line naming the key and the
value. The task's own settings live on its group (`SegmentationSettings`,
`ClassificationSettings`): a key of the other task is refused.

Every group but `Placement` can change a run's numbers, so the cache key hashes exactly those
(`numbers()`); where a run's files, data and starting weights live and which device it uses are
placement, and a resume may change them. Nothing here touches the filesystem or a GPU: checks
that do are `engine/training.py`'s `check_inputs` and `engine/runtime.py`'s `resolve_device`.
"""
import math
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import yaml

from .data.label_specs import SPECS
from .errors import ConfigError
from .models import MODELS, option_choices


def setting(default, *, help, choices=None, at_least=None):
    """A field with its default, a one-line help, and optionally its choices or a minimum."""
    return field(default=default, metadata={"help": help, "choices": choices, "at_least": at_least})


_NAMES = {int: "an integer", float: "a number", str: "text", bool: "true/false", tuple: "a list",
          type(None): "null"}


def _coerce(key, value, kind):
    """`value` as the annotation `kind` expects it; YAML reads 1e-3 as text and lists as lists."""
    options = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    for option in options:
        base = typing.get_origin(option) or option
        if base is type(None) and value is None:
            return None
        if base is tuple and isinstance(value, (list, tuple)):
            return tuple(value)
        if base is float and not isinstance(value, bool):
            if isinstance(value, (int, float)):
                return float(value)
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
        if base in (int, str, bool) and isinstance(value, base) and not (base is int and isinstance(value, bool)):
            return value
    bases = [typing.get_origin(o) or o for o in options]
    names = [_NAMES[b] for b in bases if not (b is int and float in bases)]
    raise ConfigError(f"{key}: {value!r} is not {' or '.join(names)}")


class Group:
    """A frozen group of settings, validated when built: each value's type, its choices or
    minimum, then the group's own cross-field `check`."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in fields(self):
            value = _coerce(f.name, getattr(self, f.name), hints[f.name])
            object.__setattr__(self, f.name, value)
            choices, at_least = f.metadata.get("choices"), f.metadata.get("at_least")
            if choices is not None and value is not None and value not in choices:
                tail = " (or null)" if type(None) in typing.get_args(hints[f.name]) else ""
                raise ConfigError(f"{f.name}: {value!r} is not one of {', '.join(choices)}{tail}")
            if at_least is not None and value is not None and value < at_least:
                raise ConfigError(f"{f.name}: {value!r} must be at least {at_least}")
        self.check()

    def check(self):
        """Checks between this group's values (none by default)."""

    @classmethod
    def keys(cls):
        return [f.name for f in fields(cls)]

    def values(self):
        """{key: value} with tuples as lists (the YAML and JSON spelling)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


def _epoch_numbers(key, values):
    if not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in values):
        raise ConfigError(f"{key}: {list(values)} must be 1-based epoch numbers")


def _augmentations(values, allowed, task):
    bad = [a for a in values if a not in allowed]
    if bad:
        raise ConfigError(f"augment: {bad[0]!r} is not a {task} augmentation; use {', '.join(allowed)}")


# --- the task's own settings -------------------------------------------------------------------
@dataclass(frozen=True)
class SegmentationSettings(Group):
    name: ClassVar[str] = "segmentation"
    classes: str = setting("dubai", help="class spec of the masks (hw2lib/data/label_specs.py)", choices=tuple(SPECS))
    image_size: int | None = setting(64, help="the model's input size, a multiple of 32 (null: native); "
                                         "scored at the masks' native size", at_least=1)
    augment: tuple[str, ...] = setting((), help="flip, rot90, scale_crop")
    loss: str = setting("ce", help="ce | lovasz | ce+lovasz", choices=("ce", "lovasz", "ce+lovasz"))
    lovasz_weight: float = setting(1.0, help="weight of the Lovasz term in ce+lovasz")
    class_weights: tuple[float, ...] | None = setting(None, help="cross-entropy weight per class")
    ignore_index: int | None = setting(None, help="a class index left out of the loss")
    snapshot_ids: tuple[str, ...] = setting((), help="validation tiles whose masks are saved, quoted: ['0010']")
    snapshot_epochs: tuple[int, ...] = setting((), help="1-based epochs at which they are saved")

    AUGMENTATIONS: ClassVar[tuple] = ("flip", "rot90", "scale_crop")

    def check(self):
        n = SPECS[self.classes].num_classes
        if self.image_size is not None and self.image_size % 32:
            raise ConfigError(f"image_size: {self.image_size} must be a multiple of 32 (or null)")
        _augmentations(self.augment, self.AUGMENTATIONS, self.name)
        if self.class_weights is not None:
            if len(self.class_weights) != n:
                raise ConfigError(f"class_weights: {len(self.class_weights)} values, but {self.classes!r} "
                                  f"has {n} classes")
            bad = [w for w in self.class_weights if isinstance(w, bool) or not isinstance(w, (int, float))
                   or not math.isfinite(w) or w < 0]
            if bad:
                raise ConfigError(f"class_weights: {bad[0]!r} is not a finite number >= 0")
        if self.ignore_index is not None and not 0 <= self.ignore_index < n:
            raise ConfigError(f"ignore_index: {self.ignore_index} is not a class of {self.classes!r}")
        if not all(isinstance(i, str) for i in self.snapshot_ids):
            raise ConfigError(f"snapshot_ids: {list(self.snapshot_ids)} must be quoted strings like '0010' "
                              "(unquoted, YAML reads 0010 as the octal number 8)")
        _epoch_numbers("snapshot_epochs", self.snapshot_epochs)


@dataclass(frozen=True)
class ClassificationSettings(Group):
    name: ClassVar[str] = "classification"
    num_classes: int = setting(50, help="number of classes", at_least=1)
    input_size: int = setting(32, help="network input, resized on the device", at_least=1)
    augment: tuple[str, ...] = setting((), help="crop (pad and crop, CIFAR style), flip")

    AUGMENTATIONS: ClassVar[tuple] = ("crop", "flip")

    def check(self):
        _augmentations(self.augment, self.AUGMENTATIONS, self.name)


TASKS = {g.name: g for g in (SegmentationSettings, ClassificationSettings)}


# --- what every run has ------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSettings(Group):
    limit: int | None = setting(None, help="at most this many training items, evenly spread (null: all)", at_least=1)
    val_limit: int | None = setting(None, help="at most this many validation items; snapshot tiles are always kept",
                                    at_least=1)


@dataclass(frozen=True)
class ModelSettings(Group):
    model: str = setting("fcn32s", help="a name of hw2lib.models.MODELS", choices=tuple(MODELS))
    pretrained: bool = setting(False, help="ImageNet backbone weights through torchvision (needs them cached)")
    head_width: int | None = setting(None, help="FCN head width (null: 4096)", at_least=1)
    score_relu: bool | None = setting(None, help="FCN: ReLU on the class scores (null: fcn32s only)")
    fcn_init: str | None = setting(None, help="FCN: interpolation (null) or torch (PyTorch's default init)")
    decoder: str | None = setting(None, help="unet16: bilinear (null) or transposed; segnet: mirrored (null) or "
                                        "reference (the 2020 author's)")

    def check(self):
        options = MODELS[self.model].options
        for key in ("head_width", "score_relu", "fcn_init", "decoder"):
            value = getattr(self, key)
            if value is None:
                continue
            if key not in options:
                owners = sorted(n for n, e in MODELS.items() if key in e.options)
                raise ConfigError(f"{key}: {value!r} applies to {', '.join(owners)} only, not {self.model!r}; "
                                  "leave it unset (null)")
            choices = option_choices(self.model, key)
            if choices and value not in choices:
                raise ConfigError(f"{key}: {value!r} is not one of {', '.join(choices)} (or null)")


@dataclass(frozen=True)
class TrainingSettings(Group):
    """How it trains, and which epochs it keeps."""
    epochs: int = setting(2, help="training epochs", at_least=1)
    batch_size: int = setting(8, help="items per optimiser step (per DDP rank)", at_least=1)
    optimizer: str = setting("adam", help="adam | adamw | sgd", choices=("adam", "adamw", "sgd"))
    lr: float = setting(1e-3, help="learning rate at the schedule's start")
    weight_decay: float = setting(0.0, help="weight decay")
    momentum: float = setting(0.9, help="SGD only")
    schedule: str = setting("constant", help="constant | poly | cosine, stepped per iteration",
                            choices=("constant", "poly", "cosine"))
    warmup_epochs: int = setting(0, help="linear learning-rate warm-up before the schedule", at_least=0)
    label_smoothing: float = setting(0.0, help="cross-entropy label smoothing")
    precision: str = setting("fp32", help="auto | fp32 | bf16 | fp16 (auto: bf16 where the hardware has it)",
                             choices=("auto", "fp32", "bf16", "fp16"))
    channels_last: bool = setting(False, help="channels_last memory format")
    seed: int = setting(0, help="the random seed of initialisation, data order and augmentation")
    select: str = setting("final", help="the epoch kept: val_loss | val_score | final",
                          choices=("val_loss", "val_score", "final"))
    keep_checkpoints: tuple[int, ...] = setting((), help="epochs also kept as epoch_<k>.pt (an early one for t-SNE)")

    def check(self):
        if self.lr <= 0:
            raise ConfigError(f"lr: {self.lr!r} must be positive")
        if not self.warmup_epochs < self.epochs:
            raise ConfigError(f"warmup_epochs: {self.warmup_epochs!r} must be at least 0 and less than epochs")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing: {self.label_smoothing!r} must be in [0, 1)")
        _epoch_numbers("keep_checkpoints", self.keep_checkpoints)


@dataclass(frozen=True)
class Placement(Group):
    """Where a run's files, data and starting weights live, which device runs it, and how often
    it saves: none of it changes a number (the data and a parent's weights enter the cache key
    by their content, not their path)."""
    out_dir: str = setting("runs/default", help="the run folder")
    data_root: str = setting("data/sample/dubai_aerial", help="the task's data folder (its two splits)")
    init_from: str | None = setting(None, help="a run folder whose kept weights start this run")
    weights_path: str | None = setting(None, help="a local file of the ImageNet backbone weights")
    device: str = setting("auto", help="auto | cpu | cuda | cuda:N")
    checkpoint_minutes: float = setting(10, help="last.pt at most this often (and on SIGTERM/SIGINT)", at_least=0)
    keep_last: bool = setting(False, help="keep last.pt (the optimiser state) after the run completes")

    def check(self):
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ConfigError(f"device: {self.device!r} is not auto, cpu, cuda or cuda:N")


GROUPS = {"data": DataSettings, "model": ModelSettings, "train": TrainingSettings, "place": Placement}
SHARED_KEYS = {key: group for group, cls in GROUPS.items() for key in cls.keys()}
TASK_KEYS = {key: task for task, cls in TASKS.items() for key in cls.keys()}
KNOWN = ["task", *SHARED_KEYS, *dict.fromkeys(TASK_KEYS)]


@dataclass(frozen=True)
class RunSettings:
    """Everything one training run is. `task` is the task's own group. Built by `build`."""
    task: SegmentationSettings | ClassificationSettings
    data: DataSettings
    model: ModelSettings
    train: TrainingSettings
    place: Placement

    @classmethod
    def build(cls, values=None, overrides=()):
        """Defaults, updated by `values` (flat keys), then by ``key=value`` strings; validated."""
        values = {**(values or {}), **dict(parse_override(o) for o in overrides)}
        unknown = sorted(set(values) - set(KNOWN))
        if unknown:
            raise ConfigError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(KNOWN)}")
        task = values.get("task", "segmentation")
        if task not in TASKS:
            raise ConfigError(f"task: {task!r} is not one of {', '.join(TASKS)}")
        model = values.get("model", ModelSettings.model)
        if model in MODELS and MODELS[model].task != task:
            raise ConfigError(f"model: {model!r} is a {MODELS[model].task} model, but task is {task!r}")
        own = TASKS[task]
        for key, value in values.items():
            if key in TASK_KEYS and key not in own.keys():
                raise ConfigError(f"{key}: {value!r} applies to {TASK_KEYS[key]} only")
        pick = lambda group: {k: values[k] for k in group.keys() if k in values}  # noqa: E731
        return cls(own(**pick(own)), **{name: group(**pick(group)) for name, group in GROUPS.items()})

    def groups(self):
        return {"task": self.task, **{name: getattr(self, name) for name in GROUPS}}

    def flat(self):
        """{key: value} of every setting, as runs.yaml spells them (lists, not tuples)."""
        out = {"task": self.task.name}
        for group in self.groups().values():
            out.update(group.values())
        return out

    def numbers(self):
        """The settings that can change a run's numbers: every group but placement."""
        return {k: v for k, v in self.flat().items() if k not in Placement.keys()}

    def replace(self, **changes):
        """A copy with `changes` (flat keys), validated again."""
        return RunSettings.build({**self.flat(), **changes})

    def differences(self, other):
        """["key: old -> new"] of every number-changing setting that differs from `other`."""
        mine, theirs = self.numbers(), other.numbers()
        return [f"{k}: {theirs.get(k)!r} -> {mine.get(k)!r}" for k in dict.fromkeys([*theirs, *mine])
                if theirs.get(k) != mine.get(k)]


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


def load_settings(path, overrides=()):
    """A flat params YAML (one run's keys) as validated settings."""
    try:
        return RunSettings.build(read_yaml(path), overrides)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def help_table():
    """Every setting with its group, default and help: the README's settings table."""
    rows = [("task", "run", "segmentation", "segmentation | classification")]
    for name, group in {**TASKS, **GROUPS}.items():
        rows += [(f.name, name, f.default, f.metadata["help"]) for f in fields(group)]
    return rows
