"""A run's cache key: what the run computes, so that an unchanged key means "reuse, do not retrain".

The key hashes its parts (`key_parts`), which the record keeps so that a changed key can say why:

    settings   every setting that can change a number (`RunSettings.numbers`: all but placement)
    code       each training module's code, docstrings, comments and help texts stripped: every
               module `engine/training.py` reaches through the package's imports (`code_files.py`)
    data       per split, the content of the files the task reads (its images and masks), each
               file's digest cached by its size and modification time: an extra file in the data
               folder changes nothing, an edited mask changes its split
    parent     for a run that starts from another run's weights, the digest of those weights
    weights    for local ImageNet weights (`weights_path`), the file's name and size
    replanned  the learning-rate re-plans of an extended run

    hw2 runs --plan      # for each run: reuse, resume or train, and which part changed
"""
import hashlib
import json
from pathlib import Path

from ..code_files import code_hashes
from ..data.disk_cache import file_digests
from ..errors import DataError
from ..tasks import make_task
from .run_dir import RunDir

TRAINING = "engine/training.py"  # the module whose reach is the training code


def data_fingerprints(settings):
    """{split folder name: digest of the names and contents of the files the task reads there}."""
    task = make_task(settings)
    out = {}
    for folder, files in task.data_files().items():
        h = hashlib.sha256()
        for name, digest in sorted(file_digests(folder, files).items()):
            h.update(f"{name}:{digest}\n".encode())
        out[Path(folder).name] = h.hexdigest()[:16]
    return out


def parent_digest(settings):
    """The digest of the kept weights the run starts from (init_from), or None."""
    if settings.place.init_from is None:
        return None
    run = RunDir(settings.place.init_from)
    if not run.has_record():
        raise DataError(f"init_from: {run.path} is not a trained run folder (train that run first)")
    return run.record().kept_digest()


def key_parts(settings, schedule_replanned=()):
    """What the cache key hashes, part by part (see the module's docstring)."""
    weights = settings.place.weights_path
    return {"settings": settings.numbers(), "code": code_hashes(TRAINING), "data": data_fingerprints(settings),
            "parent": parent_digest(settings),
            "weights": f"{Path(weights).name}:{Path(weights).stat().st_size}" if weights else None,
            "replanned": list(schedule_replanned)}


def key_of(parts):
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def cache_key(settings, schedule_replanned=()):
    return key_of(key_parts(settings, schedule_replanned))


def what_changed(old, new):
    """Why a key changed, from the old and new `key_parts`: "params: lr, epochs; code:
    engine/training.py; data: validation; parent weights"."""
    if not old:
        return "no earlier key"
    reasons = []
    settings = [k for k in dict.fromkeys([*old.get("settings", {}), *new["settings"]])
                if old.get("settings", {}).get(k) != new["settings"].get(k)]
    if settings:
        reasons.append(f"params: {', '.join(settings)}")
    files = [f for f in dict.fromkeys([*old.get("code", {}), *new["code"]])
             if old.get("code", {}).get(f) != new["code"].get(f)]
    if files:
        reasons.append(f"code: {', '.join(files)}")
    splits = [s for s in dict.fromkeys([*old.get("data", {}), *new["data"]])
              if old.get("data", {}).get(s) != new["data"].get(s)]
    if splits:
        reasons.append(f"data: {', '.join(splits)}")
    for part, words in (("parent", "parent weights"), ("weights", "ImageNet weights file"),
                        ("replanned", "schedule re-plans")):
        if old.get(part) != new[part]:
            reasons.append(words)
    return "; ".join(reasons) or "no part changed"
