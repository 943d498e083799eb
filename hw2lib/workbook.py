"""What the notebooks call: run configs from a profile, cached training, tables, saved figures.

A profile is a folder `params/<profile>/`: `runs.yaml` describes every training run once (shared
settings per task, then one entry per run), and `<notebook>.yaml` holds each notebook's own
parameters (which runs it shows, which tiles...). papermill injects those, and `hw2 train
params/<profile>/runs.yaml --run NAME` trains the very same run from the shell.

A run folder `runs/<profile>/<name>/` is the unit of caching: its key hashes the run's params, the
training code and a fingerprint of the data, so re-running a notebook whose run is unchanged
reuses it instead of retraining (editing a plot never retrains).
"""
import hashlib
import json
from pathlib import Path

import yaml

from .config import make_config
from .files import DataError, write_json

ROOT = Path(__file__).resolve().parents[1]
# Modules whose change changes what training produces; viz, widgets, report... are not among them.
TRAINING_CODE = ("classes.py", "config.py", "data.py", "engine.py", "files.py", "losses.py",
                 "metrics.py", "checkpoint.py", "models")


def params_dir(profile):
    folder = ROOT / "params" / profile
    if not folder.is_dir():
        known = sorted(p.name for p in (ROOT / "params").iterdir() if p.is_dir())
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(known)}")
    return folder


def read_yaml(path):
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such params file")
    return yaml.safe_load(path.read_text()) or {}


def run_config(runs_yaml, name, data_root=None, overrides=()):
    """The full training config of run `name` in a runs.yaml (task block + the run's entry).

    `data_root` (the user's DATA_ROOT) replaces the file's `data_root`; each task block names the
    `dataset` subfolder under it. The run writes to runs/<profile>/<name>.
    """
    runs_yaml = Path(runs_yaml)
    spec = read_yaml(runs_yaml)
    if name not in spec.get("runs", {}):
        raise ValueError(f"{runs_yaml}: no run {name!r}; runs: {', '.join(spec.get('runs', {}))}")
    entry = dict(spec["runs"][name] or {})
    task = entry.get("task", "segmentation")
    values = {**spec.get(task, {}), **entry, "task": task}
    dataset = values.pop("dataset", "")
    root = ROOT / Path(data_root or spec.get("data_root", "data/sample")).expanduser()  # absolute stays absolute
    values["data_root"] = str(root / dataset)
    values["out_dir"] = str(ROOT / "runs" / runs_yaml.parent.name / name)
    try:
        return make_config(values, overrides)
    except ValueError as e:
        raise ValueError(f"{runs_yaml}, run {name}: {e}") from None


def config(profile, name, data_root=None):
    """Run `name` of profile `profile` (params/<profile>/runs.yaml)."""
    return run_config(params_dir(profile) / "runs.yaml", name, data_root)


def architecture(cfg):
    """The printed network of a run's model and its parameter count."""
    from .classes import get_spec
    from .models import build_model, count_parameters

    num_classes = (get_spec(cfg["classes"]).num_classes if cfg["task"] == "segmentation"
                   else cfg["num_classes"])
    model = build_model(cfg["model"], num_classes, cfg["head_width"])
    return f"{model}\nparams: {count_parameters(model):,}"


def data_fingerprint(data_root):
    """Names and sizes of every file under the data root (fast; changes when the data does)."""
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (set DATA_ROOT to the homework's data folder)")
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(root)}:{p.stat().st_size}\n".encode())
    return h.hexdigest()


def code_fingerprint():
    h = hashlib.sha256()
    for name in TRAINING_CODE:
        path = ROOT / "hw2lib" / name
        for p in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(p.read_bytes())
    return h.hexdigest()


def cache_key(cfg):
    # Where the data and the run live is not part of the key; what the data holds is.
    params = {k: v for k, v in cfg.items() if k not in ("out_dir", "device", "data_root")}
    text = json.dumps([params, code_fingerprint(), data_fingerprint(cfg["data_root"])], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_or_reuse(cfg, log=print):
    """The run's metrics record: reused when its folder holds the same cache key, else trained."""
    from .engine import train

    out_dir = Path(cfg["out_dir"])
    shown = out_dir.relative_to(ROOT) if out_dir.is_relative_to(ROOT) else out_dir
    key = cache_key(cfg)
    metrics = out_dir / "metrics.json"
    if metrics.is_file() and (out_dir / "best.pt").is_file():
        record = json.loads(metrics.read_text())
        if record.get("cache_key") == key:
            log(f"{shown}: unchanged (cache key {key}), reusing it")
            return record
    log(f"{shown}: training {cfg['model']} ({cfg['epochs']} epochs)")
    record = train(cfg, log=log)
    record["cache_key"] = key
    write_json(metrics, record)
    return record


def save_figure(fig, profile, name, dpi=110):
    """Write `fig` to figures/<profile>/<name>.png (for users' own write-ups); the notebook's
    inline backend shows it once at the end of the cell."""
    from .files import atomic_path

    path = ROOT / "figures" / profile / f"{name}.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")


def segmentation_table(records):
    """mIoU and per-class IoU of the best epoch of each run; `records` maps a label to a record."""
    import pandas as pd

    rows = {label: {"best epoch": r["best"]["epoch"], "mIoU": r["best"]["val_miou"],
                    **r["best"]["val_iou"]} for label, r in records.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def classification_table(records):
    import pandas as pd

    rows = {label: {"model": r["params"]["model"], "input": r["params"]["input_size"],
                    "epochs": r["params"]["epochs"], "best epoch": r["best"]["epoch"],
                    "val accuracy": r["best"]["val_acc"]} for label, r in records.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def boundary_vs_interior(runs, width=7):
    """mIoU near class boundaries versus inside regions, per run, on the validation set.

    A pixel is "boundary" when a ground-truth class change lies within `width` // 2 pixels. Skip
    connections (FCN16s/8s) should help most on boundary pixels; this measures whether they do.
    `runs` maps a label to a run folder. Means are over the classes present in each subset.
    """
    import numpy as np
    import pandas as pd

    from .engine import load_splits, predict
    from .inference import load_trained
    from .metrics import boundary_band, confusion_matrix, present_mean_iou

    rows, val = {}, None
    for label, run_dir in runs.items():
        model, cfg, device = load_trained(Path(run_dir) / "best.pt", "auto")
        if val is None:  # every run of a comparison shares its validation data
            _, val, num_classes, spec = load_splits(cfg)
            truth = val.targets.numpy()
            band = np.stack([boundary_band(m, width) for m in truth])
        preds = predict(model, val.images, cfg, device).argmax(1).cpu().numpy()
        rows[label] = {
            "boundary mIoU": present_mean_iou(confusion_matrix(truth[band], preds[band], num_classes), spec.scored),
            "interior mIoU": present_mean_iou(confusion_matrix(truth[~band], preds[~band], num_classes), spec.scored),
            "all-pixel mIoU": present_mean_iou(confusion_matrix(truth, preds, num_classes), spec.scored),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs["boundary_share"] = float(band.mean())
    return table
