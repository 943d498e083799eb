"""Folders of images -> uint8 arrays, decoded once.

Classification folders hold ``{label}_{idx}.png`` (the homework's ``p1_data``); segmentation
folders hold ``{id}_sat.jpg`` + ``{id}_mask.png`` (``p2_data``). Everything is decoded once, in
parallel threads (PIL releases the GIL while decoding), into uint8 arrays: images as (N, 3, H, W),
masks as (N, H, W) class indices. An epoch then never touches a JPEG again.

    >>> seg = load_segmentation("data/sample/dubai_aerial/validation", get_spec("dubai"), size=128,
    ...                         native_masks=True)
    >>> seg.images.shape, seg.masks.shape
    ((29, 3, 128, 128), (29, 512, 512))

Validation sets keep their masks at native size (`native_masks=True`): scores are computed the
official way, on the masks as the evaluator reads them. The decoded arrays are cached on disk by
the content of the files decoded (`disk_cache.py`), so a run after the first skips the decoding.
"""
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, MaskDecodeError
from .disk_cache import cached_arrays
from .images import check_same_size, read_rgb, resize

_LABELLED_NAME = re.compile(r"^(\d+)_(\d+)\.png$")


def check_folder(folder):
    """Return `folder` as a Path, or raise DataError if it is not an existing directory."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    return folder


def parallel_map(fn, items, workers=None):
    """`list(map(fn, items))` on a thread pool sized to the machine."""
    workers = workers or min(8, os.cpu_count() or 1)
    if workers == 1 or len(items) < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def evenly_spaced(items, limit, keep=()):
    """At most `limit` items spread evenly over the list (so a limit keeps every class), plus
    every item whose key (first element, or the item itself) is in `keep`."""
    if limit is None or limit >= len(items):
        return list(items)
    chosen = set(np.linspace(0, len(items) - 1, int(limit)).round().astype(int).tolist())
    key = (lambda item: item[0]) if items and isinstance(items[0], tuple) else (lambda item: item)
    chosen |= {i for i, item in enumerate(items) if key(item) in set(keep)}
    return [items[i] for i in sorted(chosen)]


def _stack(arrays, paths):
    """Stack equally sized arrays; a different size is an error naming the odd file."""
    for a, p in zip(arrays, paths):
        check_same_size(a, p, arrays[0], paths[0])
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

    def decode():
        images = parallel_map(lambda p: resize(read_rgb(p), size), paths)
        return {"images": _stack(images, paths).transpose(0, 3, 1, 2).copy()}

    arrays = cached_arrays(["classification", Path(folder).resolve(), labelled, size, limit], paths, decode)
    return ClassificationSet(arrays["images"], labels, [p.name for p in paths])


@dataclass
class SegmentationSet:
    images: np.ndarray  # (N, 3, H, W) uint8, at the size asked for
    masks: np.ndarray   # (N, H', W') uint8 class indices: the same size, or native
    ids: list           # tile ids ("0010"), in the order of the arrays


def pair_tiles(folder):
    """(sorted (id, sat_path, mask_path) triples, one problem line per file without its partner)."""
    folder = check_folder(folder)
    sats = {p.name[: -len("_sat.jpg")]: p for p in folder.glob("*_sat.jpg")}
    masks = {p.name[: -len("_mask.png")]: p for p in folder.glob("*_mask.png")}
    if not sats and not masks:
        raise DataError(f"{folder}: no {{id}}_sat.jpg / {{id}}_mask.png pairs")
    problems = []
    for i in sorted(sats.keys() ^ masks.keys()):
        have, missing = (sats[i], f"{i}_mask.png") if i in sats else (masks[i], f"{i}_sat.jpg")
        problems.append(f"{have}: its partner {folder / missing} is missing")
    return [(i, sats[i], masks[i]) for i in sorted(sats.keys() & masks.keys())], problems


def segmentation_pairs(folder):
    """Sorted (id, sat_path, mask_path) triples; a missing partner is an error naming it."""
    pairs, problems = pair_tiles(folder)
    if problems:
        raise DataError(problems[0])
    return pairs


def read_mask(path, spec):
    """Decode an RGB mask file into (H, W) uint8 class indices."""
    try:
        return spec.decode(read_rgb(path))
    except MaskDecodeError as e:
        raise DataError(f"{path}: {e}") from None


def read_pair(sat_path, mask_path, spec):
    """(image (H, W, 3), mask (H, W) class indices) of one tile; sizes must agree."""
    image, mask = read_rgb(sat_path), read_mask(mask_path, spec)
    check_same_size(mask, mask_path, image, "its image")
    return image, mask


def load_segmentation(folder, spec, size=None, limit=None, keep=(), native_masks=False):
    """Tiles of `folder`, images resized to `size` (bilinear); masks resized too (nearest), or
    left at native size with `native_masks`. `limit` keeps that many tiles evenly spread, plus
    the ids in `keep` (the snapshot tiles)."""
    pairs = evenly_spaced(segmentation_pairs(folder), limit, keep)

    def load(pair):
        image, mask = read_pair(pair[1], pair[2], spec)
        return resize(image, size), mask if native_masks else resize(mask, size, nearest=True)

    def decode():
        loaded = parallel_map(load, pairs)
        images = _stack([im for im, _ in loaded], [t[1] for t in pairs]).transpose(0, 3, 1, 2).copy()
        return {"images": images, "masks": _stack([m for _, m in loaded], [t[2] for t in pairs])}

    parts = ["segmentation", Path(folder).resolve(), spec.name, size, [t[0] for t in pairs], native_masks]
    arrays = cached_arrays(parts, [p for t in pairs for p in t[1:]], decode)
    return SegmentationSet(arrays["images"], arrays["masks"], [t[0] for t in pairs])


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
