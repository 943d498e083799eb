"""A run's cache key: what the run computes, so that an unchanged key means "reuse, do not retrain".

It hashes the run's params (less where and how it runs), the training code, a fingerprint of the
data, the learning-rate re-plans of an extended run, and for a run that starts from another run's
weights, that run's key. The training code is every module of this package that
`engine/training.py` can import, followed through the package's own imports: a change to a
plot or to the report never retrains, a change to anything training uses does.
"""
import ast
import hashlib
import json
from functools import lru_cache
from pathlib import Path

from ..config import OPERATIONAL_KEYS
from ..errors import DataError
from .run_dir import RunDir

PACKAGE = Path(__file__).resolve().parents[1]


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


def _module_file(name):
    """The file of package module `hw2lib.a.b` (a module or a package's __init__), or None."""
    parts = name.split(".")[1:]
    path = PACKAGE.joinpath(*parts)
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path):
    """The package modules that the file at `path` imports (at any depth of its code)."""
    module = ".".join(("hw2lib", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            target = f"{base}.{node.module}" if node.module and base else (node.module or base)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from . import x`
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("hw2lib.") or name == "hw2lib"}


@lru_cache(maxsize=1)
def training_code_files():
    """Every package file that training can run, found by following imports from training.py."""
    todo, seen = [PACKAGE / "engine" / "training.py"], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imported_modules(path):
            file = _module_file(name)
            if file is not None:
                todo.append(file)
    return sorted(seen)


@lru_cache(maxsize=1)
def code_fingerprint():
    h = hashlib.sha256()
    for path in training_code_files():
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def cache_key(cfg, schedule_replanned=()):
    """The run's key. `init_from` enters through the parent run's own key, not its path."""
    params = {k: v for k, v in cfg.items() if k not in OPERATIONAL_KEYS and k != "init_from"}
    parent = RunDir(cfg["init_from"]).record().get("cache_key") if cfg["init_from"] else None
    text = json.dumps([params, parent, list(schedule_replanned), code_fingerprint(),
                       data_fingerprint(cfg["data_root"])], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
