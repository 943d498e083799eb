"""Profiles: `params/<profile>/runs.yaml` -> the settings of each training run.

A profile is a folder `params/<profile>/`: `runs.yaml` describes every training run once (shared
settings per task, then one entry per run; a top-level `reference_results:` names the reference
report's numbers when the profile runs on that report's data), and `<notebook>.yaml` holds the
notebook parameters where the profile differs from the notebook's own. `hw2 train
params/<profile>/runs.yaml --run NAME` trains the very same run from the shell. A run entry may
also say

    init_from: fcn8s        start from that run's kept weights (same profile)
    seeds: [0, 1, 2]        train repeats: NAME with seed 0, NAME_seed1 and NAME_seed2 (also in a
                            task block: for every run of that task)

A build may ask for fewer repeats (`hw2 report --repeats 1`: the first seed of each). A dry run
(`hw2 report --dry-run`) runs every run of a profile at toy scale on the real data, into
`runs/<profile>-dry/`: see `DRY_RUN`. Overrides (`--set key=value`) reach every run of the
profile whose task has that key.
"""
import sys
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigError
from ..models import MODELS
from ..settings import TASK_KEYS, TASKS, RunSettings, parse_override, read_yaml

ROOT = Path(__file__).resolve().parents[2]
DRY_SUFFIX = "-dry"
# Old names still read, with a one-line notice: the profile and key of the reference report.
PROFILE_ALIASES = {"seed": "reference"}
KEY_ALIASES = {"seed_results": "reference_results"}
MODEL_OPTIONS = {key for entry in MODELS.values() for key in entry.options}

# A dry run's toy scale, chosen by measurement: 32 px for tiles and images (the sample's image size).
# Models keep their full width, so run folders have their real size on disk; the convolutions on
# maps smaller than their kernels (the 4096-wide head's 3x3s on pool5's 1x1 map) go through
# `SmallInputConv2d`, so the smallest size is also the cheapest (fcn32s, fcn2s, unet16, segnet
# and deeplabv3 with the full head: 26 s at 32 px, 38 s at 96 px, 2-core Xeon held to AVX2).
# One optimiser step per run (batch 8 tiles, or 16 images): it passes every layer forwards and
# backwards, and more steps would prove nothing more. 100 validation images give the t-SNE two
# per class; classifiers see them at 32 px too (at 64 px ResNeXt-101 took 17 s instead of 7 s).
DRY_RUN = {
    "segmentation": {"epochs": 1, "image_size": 32, "limit": 8, "val_limit": 6, "batch_size": 8},
    "classification": {"epochs": 1, "input_size": 32, "limit": 16, "val_limit": 100, "batch_size": 16},
}


@lru_cache
def deprecated(old, new):
    """Say once per process that `old` is the old name of `new`."""
    print(f"hw2: {old!r} is the old name of {new!r}; it still works, but use {new!r}", file=sys.stderr)


def profile_name(profile):
    """The profile's current name (an old alias is accepted with a notice); a dry run keeps its suffix."""
    base, dry = profile.removesuffix(DRY_SUFFIX), profile.endswith(DRY_SUFFIX)
    if base in PROFILE_ALIASES:
        deprecated(base, PROFILE_ALIASES[base])
        base = PROFILE_ALIASES[base]
    return base + (DRY_SUFFIX if dry else "")


def params_dir(profile):
    folder = ROOT / "params" / profile_name(profile).removesuffix(DRY_SUFFIX)
    if not folder.is_dir():
        known = sorted(p.name for p in (ROOT / "params").iterdir() if p.is_dir())
        raise ConfigError(f"unknown profile {profile!r}; known: {', '.join(known)}")
    return folder


def read_runs_yaml(path):
    """A runs.yaml as a dict, old key names read as the new ones (read once while unchanged;
    callers copy what they change)."""
    path = Path(path)
    return _read_runs_yaml(path, path.stat().st_mtime_ns if path.is_file() else None)


@lru_cache(maxsize=32)
def _read_runs_yaml(path, mtime_ns):
    values = read_yaml(path)
    for old, new in KEY_ALIASES.items():
        if old in values:
            deprecated(old, new)
            values[new] = values.pop(old)
    return values


def _entries(runs_yaml, repeats=None):
    """{run name: (entry, seed or None)} with `seeds` (the entry's, else its task block's)
    expanded into repeats, the first `repeats` of them. Repeat k of a run that starts from
    another run's weights starts from that run's repeat k, so retraining covers the whole chain."""
    spec = read_runs_yaml(runs_yaml)
    raw = {name: dict(entry or {}) for name, entry in (spec.get("runs") or {}).items()}

    def seeds_of(entry):
        return entry.get("seeds", (spec.get(entry.get("task", "segmentation")) or {}).get("seeds"))

    def names_of(name):
        seeds = seeds_of(raw[name])
        if seeds is None:
            return [name]
        return [name if k == 0 else f"{name}_seed{s}" for k, s in enumerate(seeds[:repeats])]
    out = {}
    for name, entry in raw.items():
        seeds = seeds_of(entry)
        entry = {k: v for k, v in entry.items() if k != "seeds"}
        for k, repeat in enumerate(names_of(name)):
            parents = names_of(entry["init_from"]) if entry.get("init_from") in raw else []
            own = {**entry, "init_from": parents[k]} if k < len(parents) else entry
            out[repeat] = (own, None if seeds is None else seeds[k])
    return out


def run_names(profile, repeats=None):
    """Every run of the profile, repeats included (at most `repeats` of each; a dry run trains
    one of each unless asked for more), in the file's order."""
    if repeats is None and profile.endswith(DRY_SUFFIX):
        repeats = 1  # a dry run proves each model and notebook once; repeats would prove nothing more
    return list(_entries(params_dir(profile) / "runs.yaml", repeats))


def repeat_names(profile, name, repeats=None):
    """The names of `name` and its seed repeats (just [name] without `seeds`)."""
    return [n for n in run_names(profile, repeats) if n == name or n.startswith(f"{name}_seed")]


def profile_settings(profile):
    """The profile's top-level settings (`data_root`, `reference_results`), without its runs."""
    spec = read_runs_yaml(params_dir(profile) / "runs.yaml")
    return {k: v for k, v in spec.items() if k not in ("runs", *TASKS)}


def parent(profile, name):
    """The run whose weights run `name` starts from (`init_from`), or None."""
    runs_yaml = params_dir(profile) / "runs.yaml"
    entries = _entries(runs_yaml)
    if name not in entries:
        raise ConfigError(f"{runs_yaml}: no run {name!r}; runs: {', '.join(entries)}")
    return entries[name][0].get("init_from")


def lineage(profile, name):
    """[the first ancestor, ..., its child, name]: run `name` after the runs whose weights it
    starts from (`init_from`), each before its child."""
    chain = [name]
    while (up := parent(profile, chain[0])) is not None:
        chain.insert(0, up)
    return chain


def settings_from_runs_yaml(runs_yaml, name, data_root=None, overrides=(), dry=False):
    """The settings of run `name` in a runs.yaml (task block + the run's entry), then `overrides`.

    `data_root` (the user's DATA_ROOT) replaces the file's `data_root`; each task block names the
    `dataset` subfolder under it. The run writes to runs/<profile>/<name> (<profile>-dry for a
    dry run, at the toy scale of `DRY_RUN`).
    """
    runs_yaml = Path(runs_yaml)
    spec, entries = read_runs_yaml(runs_yaml), _entries(runs_yaml)
    if name not in entries:
        raise ConfigError(f"{runs_yaml}: no run {name!r}; runs: {', '.join(entries)}")
    entry, seed = entries[name]
    task = entry.get("task", "segmentation")
    values = {**{k: v for k, v in (spec.get(task) or {}).items() if k != "seeds"}, **entry, "task": task}
    if seed is not None:
        values["seed"] = seed
    if dry:
        values.update(dry_values(values))
    dataset = values.pop("dataset", "")
    root = ROOT / Path(data_root or spec.get("data_root", "data/sample")).expanduser()  # absolute stays absolute
    values["data_root"] = str(root / dataset)
    profile = runs_yaml.parent.name + (DRY_SUFFIX if dry else "")
    values["out_dir"] = str(ROOT / "runs" / profile / name)
    if values.get("init_from") is not None:
        if values["init_from"] not in entries:
            raise ConfigError(f"{runs_yaml}, run {name}: init_from: {values['init_from']!r} is not a "
                              f"run of this profile")
        values["init_from"] = str(ROOT / "runs" / profile / values["init_from"])
    try:
        return RunSettings.build(values, overrides)
    except ConfigError as e:
        raise ConfigError(f"{runs_yaml}, run {name}: {e}") from None


def dry_values(values):
    """The toy-scale overrides of a dry run for a run's values."""
    out = {**DRY_RUN[values["task"]], "precision": "auto", "warmup_epochs": 0}
    for key in ("snapshot_epochs", "keep_checkpoints"):
        if values.get(key):
            out[key] = sorted({min(e, out["epochs"]) for e in values[key]})
    return out


def applicable(overrides, task, model):
    """The `key=value` overrides that apply to a run of `task` and `model`: a key of the other
    task's own settings (image_size for a classifier) or of another model family (head_width for
    a UNet) is left out for it."""
    def applies(text):
        key = parse_override(text)[0]
        if key in TASK_KEYS and key not in TASKS[task].keys():
            return False
        return key not in MODEL_OPTIONS or key in MODELS[model].options
    return [o for o in overrides if applies(o)]


def run_settings(profile, name, data_root=None, overrides=()):
    """Run `name` of profile `profile` (`<profile>-dry` for its dry run), with the profile-wide
    overrides of `hw2 runs/report --set key=value ...` that apply to it."""
    runs_yaml = params_dir(profile) / "runs.yaml"
    entry, _ = _entries(runs_yaml).get(name, ({}, None))
    task = entry.get("task", "segmentation")
    model = entry.get("model") or (read_runs_yaml(runs_yaml).get(task) or {}).get("model", "")
    wanted = overrides if model not in MODELS else applicable(overrides, task, model)
    return settings_from_runs_yaml(runs_yaml, name, data_root, wanted, dry=profile.endswith(DRY_SUFFIX))
