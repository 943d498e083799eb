"""Folders of images -> uint8 arrays, decoded once.

Classification folders hold ``{label}_{idx}.png`` (the homework's ``p1_data``); segmentation
folders hold ``{id}_sat.jpg`` + ``{id}_mask.png`` (``p2_data``). Everything is decoded once, in
parallel threads (PIL releases the GIL while decoding), into uint8 arrays: images as (N, 3, H, W),
masks as (N, H, W) class indices. An epoch then never touches a JPEG again.

    >>> seg = load_segmentation("data/sample/dubai_aerial/validation", get_spec("dubai"), size=128)
    >>> seg.images.shape, seg.masks.shape
    ((29, 3, 128, 128), (29, 128, 128))
"""
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .classes import MaskDecodeError
from .files import DataError, check_folder, read_rgb

_LABELLED_NAME = re.compile(r"^(\d+)_(\d+)\.png$")


def parallel_map(fn, items, workers=None):
    """`list(map(fn, items))` on a thread pool sized to the machine."""
    workers = workers or min(8, os.cpu_count() or 1)
    if workers == 1 or len(items) < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def evenly_spaced(items, limit):
    """At most `limit` items spread evenly over the list (so a limit keeps every class)."""
    if limit is None or limit >= len(items):
        return list(items)
    idx = np.unique(np.linspace(0, len(items) - 1, int(limit)).round().astype(int))
    return [items[i] for i in idx]


def _resize(array, size, resample):
    if size is None:
        return array
    size = (size, size) if isinstance(size, int) else tuple(size)  # (width, height)
    if array.shape[1::-1] == size:
        return array
    return np.asarray(Image.fromarray(array).resize(size, resample))


def _stack(arrays, paths):
    """Stack equally sized arrays; a different size is an error naming the odd file."""
    first = arrays[0].shape[:2]
    for a, p in zip(arrays, paths):
        if a.shape[:2] != first:
            raise DataError(f"{p}: size {a.shape[1]}x{a.shape[0]} differs from {paths[0]}'s "
                            f"{first[1]}x{first[0]}; set image_size to resize them all")
    return np.stack(arrays)


@dataclass
class ClassificationSet:
    images: np.ndarray  # (N, 3, H, W) uint8
    labels: np.ndarray  # (N,) int64; -1 where unlabelled
    names: list         # file names, in the order of the arrays


def classification_files(folder, labelled=True):
    """Sorted ``*.png`` paths of a folder and their labels (parsed from ``{label}_{idx}.png``)."""
    folder = check_folder(folder)
    paths = sorted(folder.glob("*.png"))
    if not paths:
        raise DataError(f"{folder}: no .png images")
    if not labelled:
        return paths, np.full(len(paths), -1, dtype=np.int64)
    labels = []
    for p in paths:
        m = _LABELLED_NAME.match(p.name)
        if m is None:
            raise DataError(f"{p}: name is not {{label}}_{{idx}}.png; load it unlabelled instead")
        labels.append(int(m.group(1)))
    return paths, np.array(labels, dtype=np.int64)


def load_classification(folder, labelled=True, size=None, limit=None):
    paths, labels = classification_files(folder, labelled)
    keep = evenly_spaced(list(range(len(paths))), limit)
    paths, labels = [paths[i] for i in keep], labels[keep]
    images = parallel_map(lambda p: _resize(read_rgb(p), size, Image.BILINEAR), paths)
    images = _stack(images, paths).transpose(0, 3, 1, 2).copy()
    return ClassificationSet(images, labels, [p.name for p in paths])


@dataclass
class SegmentationSet:
    images: np.ndarray  # (N, 3, H, W) uint8
    masks: np.ndarray   # (N, H, W) uint8 class indices
    ids: list           # tile ids ("0010"), in the order of the arrays


def segmentation_pairs(folder):
    """Sorted (id, sat_path, mask_path) triples; a missing partner is an error naming it."""
    folder = check_folder(folder)
    sats = {p.name[: -len("_sat.jpg")]: p for p in folder.glob("*_sat.jpg")}
    masks = {p.name[: -len("_mask.png")]: p for p in folder.glob("*_mask.png")}
    if not sats and not masks:
        raise DataError(f"{folder}: no {{id}}_sat.jpg / {{id}}_mask.png pairs")
    for i in sorted(sats.keys() ^ masks.keys()):
        have, missing = (sats[i], f"{i}_mask.png") if i in sats else (masks[i], f"{i}_sat.jpg")
        raise DataError(f"{have}: its partner {folder / missing} is missing")
    return [(i, sats[i], masks[i]) for i in sorted(sats)]


def read_mask(path, spec):
    """Decode an RGB mask file into (H, W) uint8 class indices."""
    try:
        return spec.decode(read_rgb(path))
    except MaskDecodeError as e:
        raise DataError(f"{path}: {e}") from None


def _load_pair(sat_path, mask_path, spec, size):
    image, mask = read_rgb(sat_path), read_mask(mask_path, spec)
    if image.shape[:2] != mask.shape:
        raise DataError(f"{mask_path}: size {mask.shape[1]}x{mask.shape[0]} differs from its "
                        f"image's {image.shape[1]}x{image.shape[0]}")
    return _resize(image, size, Image.BILINEAR), _resize(mask, size, Image.NEAREST)


def load_segmentation(folder, spec, size=None, limit=None):
    pairs = evenly_spaced(segmentation_pairs(folder), limit)
    loaded = parallel_map(lambda t: _load_pair(t[1], t[2], spec, size), pairs)
    sat_paths = [t[1] for t in pairs]
    images = _stack([im for im, _ in loaded], sat_paths).transpose(0, 3, 1, 2).copy()
    masks = _stack([m for _, m in loaded], sat_paths)
    return SegmentationSet(images, masks, [t[0] for t in pairs])


def sat_images(folder):
    """Sorted ``*_sat.jpg`` paths of a folder that may hold no masks (the homework's test set)."""
    folder = check_folder(folder)
    paths = sorted(folder.glob("*_sat.jpg"))
    if not paths:
        raise DataError(f"{folder}: no *_sat.jpg images")
    return paths


def image_id(path):
    """``0010`` for ``.../0010_sat.jpg``."""
    return Path(path).name[: -len("_sat.jpg")]
