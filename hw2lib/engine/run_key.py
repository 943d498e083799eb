"""A run's cache key: what the run computes, so that an unchanged key means "reuse, do not retrain".

It hashes the run's params (less where and how it runs), the training code, a fingerprint of the
data, the learning-rate re-plans of an extended run, and for a run that starts from another run's
weights, that run's key. The training code is every module of this package that
`engine/training.py` can import, followed through the package's own imports (`code_files.py`):
a change to a plot or to the report never retrains, a change to anything training uses does.
"""
import hashlib
import json
from pathlib import Path

from ..code_files import code_fingerprint
from ..config import OPERATIONAL_KEYS
from ..errors import DataError
from .run_dir import RunDir

TRAINING = "engine/training.py"  # the module whose reach is the training code


def data_fingerprint(data_root):
    """Names and sizes of every file under the data root (fast; changes when the data does, and
    survives a copy to another machine)."""
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (set DATA_ROOT to the homework's data folder)")
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(f"{p.relative_to(root)}:{p.stat().st_size}\n".encode())
    return h.hexdigest()


def cache_key(cfg, schedule_replanned=()):
    """The run's key. `init_from` enters through the parent run's own key, not its path."""
    params = {k: v for k, v in cfg.items() if k not in OPERATIONAL_KEYS and k != "init_from"}
    parent = RunDir(cfg["init_from"]).record().get("cache_key") if cfg["init_from"] else None
    text = json.dumps([params, parent, list(schedule_replanned), code_fingerprint(TRAINING),
                       data_fingerprint(cfg["data_root"])], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
