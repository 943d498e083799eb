"""Profiles: `params/<profile>/runs.yaml` -> the full config of each training run.

A profile is a folder `params/<profile>/`: `runs.yaml` describes every training run once (shared
settings per task, then one entry per run; a top-level `seed_results:` names the seed report's
numbers when the profile runs on the seed's data), and `<notebook>.yaml` holds each notebook's
own parameters. `hw2 train params/<profile>/runs.yaml --run NAME` trains the very same run from the
shell. A run entry may also say

    init_from: fcn8s        start from that run's trained weights (same profile)
    seeds: [0, 1, 2]        train repeats: NAME with seed 0, NAME_seed1 and NAME_seed2

A dry run (`hw2 report --dry-run`) runs every run of a profile at toy scale on the real data,
into `runs/<profile>-dry/`: see `DRY_RUN`.
"""
import os
from pathlib import Path

from ..config import make_config, read_yaml
from ..errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DRY_SUFFIX = "-dry"
OVERRIDES = "HW2_SET"  # environment variable: "key=value key=value" applied to every run

# A dry run's toy scale, chosen by measurement: at 64 px a full-width VGG16-FCN training step hits
# a slow convolution-backward path on the head's 2x2 maps (28 s vs 6.4 s at 96 px on a 2-core
# AVX2 CPU), so 96 px is the cheapest size, not the smallest. Models keep their full width, so
# run folders have their real size on disk.
# One optimiser step of batch 8 per run: it passes every layer forwards and backwards, and more
# steps would prove nothing more (a full-width FCN step costs about 4 s on a 2-core CPU).
DRY_RUN = {
    "segmentation": {"epochs": 1, "image_size": 96, "limit": 8, "val_limit": 6, "batch_size": 8},
    "classification": {"epochs": 1, "input_size": 64, "limit": 100, "val_limit": 100, "batch_size": 100},
}



def params_dir(profile):
    folder = ROOT / "params" / profile.removesuffix(DRY_SUFFIX)
    if not folder.is_dir():
        known = sorted(p.name for p in (ROOT / "params").iterdir() if p.is_dir())
        raise ConfigError(f"unknown profile {profile!r}; known: {', '.join(known)}")
    return folder


def _entries(runs_yaml):
    """{run name: (entry, seed or None)} with `seeds` expanded into repeats."""
    spec = read_yaml(runs_yaml)
    out = {}
    for name, entry in (spec.get("runs") or {}).items():
        entry = dict(entry or {})
        seeds = entry.pop("seeds", None)
        if seeds is None:
            out[name] = (entry, None)
            continue
        for k, seed in enumerate(seeds):
            out[name if k == 0 else f"{name}_seed{seed}"] = (entry, seed)
    return out


def run_names(profile):
    """Every run of the profile, repeats included, in the file's order."""
    return list(_entries(params_dir(profile) / "runs.yaml"))


def repeats(profile, name):
    """The names of `name` and its seed repeats (just [name] without `seeds`)."""
    return [n for n in run_names(profile) if n == name or n.startswith(f"{name}_seed")]


def settings(profile):
    """The profile's top-level settings (`data_root`, `seed_results`), without its runs."""
    spec = read_yaml(params_dir(profile) / "runs.yaml")
    return {k: v for k, v in spec.items() if k not in ("runs", "segmentation", "classification")}


def parent(profile, name):
    """The run whose weights run `name` starts from (`init_from`), or None."""
    entry, _ = _entries(params_dir(profile) / "runs.yaml")[name]
    return entry.get("init_from")


def config_from_runs_yaml(runs_yaml, name, data_root=None, overrides=(), dry=False):
    """The full training config of run `name` in a runs.yaml (task block + the run's entry).

    `data_root` (the user's DATA_ROOT) replaces the file's `data_root`; each task block names the
    `dataset` subfolder under it. The run writes to runs/<profile>/<name> (<profile>-dry for a
    dry run, at the toy scale of `DRY_RUN`).
    """
    runs_yaml = Path(runs_yaml)
    spec, entries = read_yaml(runs_yaml), _entries(runs_yaml)
    if name not in entries:
        raise ConfigError(f"{runs_yaml}: no run {name!r}; runs: {', '.join(entries)}")
    entry, seed = entries[name]
    task = entry.get("task", "segmentation")
    values = {**(spec.get(task) or {}), **entry, "task": task}
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
        return make_config(values, overrides)
    except ConfigError as e:
        raise ConfigError(f"{runs_yaml}, run {name}: {e}") from None


def dry_values(values):
    """The toy-scale overrides of a dry run for a run's values."""
    out = {**DRY_RUN[values["task"]], "precision": "auto", "warmup_epochs": 0}
    for key in ("snapshot_epochs", "keep_checkpoints"):
        if values.get(key):
            out[key] = sorted({min(e, out["epochs"]) for e in values[key]})
    return out


def run_config(profile, name, data_root=None):
    """Run `name` of profile `profile` (`<profile>-dry` for its dry run), with the overrides of
    `hw2 report --set key=value ...` (passed to the notebooks' kernels as HW2_SET)."""
    return config_from_runs_yaml(params_dir(profile) / "runs.yaml", name, data_root,
                                 overrides=os.environ.get(OVERRIDES, "").split(),
                                 dry=profile.endswith(DRY_SUFFIX))
