"""Decoded data cached on disk, once per data fingerprint: every run and worker after the first
reads the arrays instead of decoding thousands of JPEGs and PNGs again.

    arrays = cached_arrays(["segmentation", folder, "dubai", 64], folder, decode)

The key hashes the arguments, the decoding code (what `datasets.py` and
`label_specs.py` import, see `code_files.py`), and the folder's listing (names, sizes and
modification times). Each entry is a folder of `.npy` files plus an `arrays.json`, written beside
its final place and renamed in whole, then opened memory-mapped (copy-on-write), so processes
on one machine share one copy in the page cache. The cache lives in $HW2_DATA_CACHE (default
~/.cache/hw2/decoded); HW2_DATA_CACHE=off turns it off.
"""
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path

import numpy as np

from ..code_files import code_fingerprint

# The decoding code: the datasets and the label specs whose decode rules they are handed.
DECODING = ("data/datasets.py", "data/label_specs.py")


def cache_root():
    """The cache folder, or None when caching is off."""
    value = os.environ.get("HW2_DATA_CACHE", str(Path.home() / ".cache" / "hw2" / "decoded"))
    return None if value.lower() in ("off", "0", "") else Path(value)


def _key(parts, folder):
    h = hashlib.sha256(json.dumps([str(p) for p in parts]).encode())
    h.update(code_fingerprint(*DECODING).encode())
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_file():
            stat = entry.stat()
            h.update(f"{entry.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def cached_arrays(parts, folder, decode):
    """The arrays `decode()` returns ({name: ndarray}), from the cache when an entry for `parts`
    and the folder's current listing exists, else decoded and stored."""
    root = cache_root()
    if root is None:
        return decode()
    entry = root / _key(parts, folder)
    if not (entry / "arrays.json").is_file():
        arrays = decode()
        tmp = root / f".{entry.name}.{secrets.token_hex(4)}"
        tmp.mkdir(parents=True)
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array)
        (tmp / "arrays.json").write_text(json.dumps(list(arrays)))
        try:
            tmp.rename(entry)
        except OSError:  # another process stored the same entry first: use theirs
            shutil.rmtree(tmp, ignore_errors=True)
    names = json.loads((entry / "arrays.json").read_text())
    return {name: np.load(entry / f"{name}.npy", mmap_mode="c") for name in names}
