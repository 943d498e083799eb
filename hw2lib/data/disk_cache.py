"""What the data layer caches on disk: content digests of data files, and decoded arrays.

    file_digests(folder, paths)                       # {name: sha256 of the file's content}
    cached_arrays(["segmentation", ..., 64], paths, decode)

A file's digest is cached by its size and modification time, so a cache keyed on digests sees an
in-place edit (same size, new content) and ignores everything else in the folder (a stray
`.DS_Store`, a picture written beside the images). The first call on a folder reads each file
once (about 1 s for 300 homework tiles); later calls only `stat` them.

Decoded arrays are cached once per (arguments, decoding code, image library version, digests of
the files decoded): every run and worker after the first reads the arrays instead of decoding
thousands of JPEGs and PNGs again. Each entry is a folder of `.npy` files plus an `arrays.json`,
written and fsynced beside its final place and renamed in whole, then opened memory-mapped
(copy-on-write), so processes on one machine share one copy in the page cache.

Both live in $HW2_DATA_CACHE (default ~/.cache/hw2/decoded); HW2_DATA_CACHE=off turns caching off.
"""
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np
import PIL

from ..code_files import code_hashes

# The decoding code: the datasets and the label specs whose decode rules they are handed.
DECODING = ("data/datasets.py", "data/label_specs.py")


def cache_root():
    """The cache folder, or None when caching is off."""
    value = os.environ.get("HW2_DATA_CACHE", str(Path.home() / ".cache" / "hw2" / "decoded"))
    return None if value.lower() in ("off", "0", "") else Path(value)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_digests(folder, paths):
    """{file name: content digest} of `paths` (files in `folder`)."""
    root = cache_root()
    store = None if root is None else \
        root / "digests" / (hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:24] + ".json")
    known = json.loads(store.read_text()) if store is not None and store.is_file() else {}
    out, changed = {}, False
    for path in map(Path, paths):
        stat = path.stat()
        stamp = [stat.st_size, stat.st_mtime_ns]
        entry = known.get(path.name)
        if entry is None or entry[:2] != stamp:
            entry = known[path.name] = [*stamp, _digest(path)]
            changed = True
        out[path.name] = entry[2]
    if changed and store is not None:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_name(f".{store.name}.{secrets.token_hex(4)}")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, store)
    return out


def _key(parts, paths):
    h = hashlib.sha256(json.dumps([str(p) for p in parts]).encode())
    h.update(json.dumps([code_hashes(*DECODING), PIL.__version__], sort_keys=True).encode())
    by_folder = {}
    for path in map(Path, paths):
        by_folder.setdefault(path.parent, []).append(path)
    for folder, files in sorted(by_folder.items()):
        h.update(json.dumps(sorted(file_digests(folder, files).items())).encode())
    return h.hexdigest()[:24]


def cached_arrays(parts, paths, decode):
    """The arrays `decode()` returns ({name: ndarray}) for the files `paths`, from the cache when
    an entry for `parts` and those files' contents exists, else decoded and stored."""
    root = cache_root()
    if root is None:
        return decode()
    entry = root / _key(parts, paths)
    if not (entry / "arrays.json").is_file():
        arrays = decode()
        tmp = root / f".{entry.name}.{secrets.token_hex(4)}"
        tmp.mkdir(parents=True)
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array)
            _fsync(tmp / f"{name}.npy")
        (tmp / "arrays.json").write_text(json.dumps(list(arrays)))
        _fsync(tmp / "arrays.json")
        try:
            tmp.rename(entry)
        except OSError:  # another process stored the same entry first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
    names = json.loads((entry / "arrays.json").read_text())
    return {name: np.load(entry / f"{name}.npy", mmap_mode="c") for name in names}
