"""Train or reuse: a run folder is the unit of caching.

A run's cache key hashes its params, the training code and a fingerprint of the data (and, for a
run that starts from another run's weights, that run's key). A folder holding a complete run
with the same key is reused instead of retrained, so editing a plot never retrains.
"""
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError
from .run_dir import RunDir

PACKAGE = Path(__file__).resolve().parent
# Modules whose change changes what training produces; viz, widgets, report... are not among them.
TRAINING_CODE = ("checkpoint.py", "config.py", "datasets.py", "images.py", "inference.py",
                 "label_specs.py", "losses.py", "metrics.py", "models", "run_dir.py", "runtime.py",
                 "snapshots.py", "tasks.py", "training.py", "transforms.py")
WHERE = ("out_dir", "device", "data_root", "init_from")  # where, not what: outside the key


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
        path = PACKAGE / name
        for p in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            h.update(p.read_bytes())
    return h.hexdigest()


def cache_key(cfg):
    # Where the data and the run live is not part of the key; what the data holds is.
    params = {k: v for k, v in cfg.items() if k not in WHERE}
    parent = RunDir(cfg["init_from"]).record().get("cache_key") if cfg["init_from"] else None
    text = json.dumps([params, parent, code_fingerprint(), data_fingerprint(cfg["data_root"])],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def train_or_reuse(cfg, log=print):
    """The run's record: reused when its folder holds a complete run with the same cache key,
    else trained (a fresh run replaces the folder whole)."""
    from .training import train

    run = RunDir(cfg["out_dir"])
    key = cache_key(cfg)
    if run.has_record() and run.checkpoint("best").is_file():
        record = run.record()
        if record.get("cache_key") == key and record.get("complete"):
            log(f"{run.path.name}: unchanged (cache key {key}), reusing it")
            return record
    log(f"{run.path.name}: training {cfg['model']} ({cfg['epochs']} epochs)")
    return train(cfg, log=log, cache_key=key)


@dataclass
class Run:
    """A trained (or reused) run of a profile: its name, config, record and folder, and the runs
    that repeat it with other seeds (itself first; just itself without `seeds`)."""
    name: str
    cfg: dict
    record: dict
    repeats: list = field(default_factory=list)

    @property
    def dir(self):
        return RunDir(self.cfg["out_dir"])


def train_runs(profile, names, data_root=None, log=print):
    """{name: Run} for runs of `profile`, each trained or reused; a run that starts from another
    run's weights (`init_from`) has that run trained or reused first."""
    from .profiles import config, repeats

    out = {}

    def ensure(name):
        if name not in out:
            cfg = config(profile, name, data_root)
            if cfg["init_from"] is not None:
                ensure(Path(cfg["init_from"]).name)
            out[name] = Run(name, cfg, train_or_reuse(cfg, log))
        return out[name]

    for name in names:
        ensure(name).repeats = [ensure(n) for n in repeats(profile, name)]
    return {name: out[name] for name in names}
