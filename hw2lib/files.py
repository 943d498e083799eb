"""Reading images with errors that name the file, and writing files atomically.

Every file the project writes goes to a temporary name in the same folder and is renamed into
place, so a crash or Ctrl-C never leaves half a PNG, CSV, JSON or checkpoint behind.
"""
import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


class DataError(Exception):
    """Bad input data: the message names the file and the problem."""


def read_rgb(path):
    """Decode an image file into an (H, W, 3) uint8 array."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: cannot decode image ({e})") from None


def check_folder(folder):
    """Return `folder` as a Path, or raise DataError if it is not an existing directory."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    return folder


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success rename it to `path`, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path, obj):
    write_text(path, json.dumps(obj, indent=2) + "\n")


def write_png(path, array):
    """Save a uint8 (H, W) or (H, W, 3) array as PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")
