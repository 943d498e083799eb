"""`hw2 check`: everything a profile needs, checked in under a minute, before hours of training.

    hw2 check --profile homework --data-root ~/hw2_data      # also: make check

It checks, without training: the data layout and the count per split; that every image decodes
and every mask pairs with its image, has its size and decodes with at most 1% off-palette pixels;
that the snapshot tiles exist in validation; that each pretrained weights file the profile needs
is in torch hub's cache or at its `weights_path`; the device; and free disk space against the
profile's checkpoint footprint. It returns one line per problem (none: all is well).
"""
import os
import shutil

import torch

from ..data.datasets import classification_files, pair_tiles, parallel_map
from ..data.images import read_rgb
from ..engine.checkpoint import compact_state_dict
from ..engine.runtime import cpu_has_native_bf16, resolve_device, resolve_precision
from ..errors import DataError, Hw2Error
from ..models import MODELS, build_model
from ..models.weights import hub_cache_path
from ..tasks import make_task
from .profiles import ROOT, run_names, run_settings

OFF_PALETTE_LIMIT = 0.01


def _check_tile(pair, spec):
    """Problems of one (id, sat, mask) pair: decoding, size, off-palette share."""
    _, sat, mask = pair
    try:
        image, rgb = read_rgb(sat), read_rgb(mask)
    except DataError as e:
        return [str(e)]
    if image.shape[:2] != rgb.shape[:2]:
        return [f"{mask}: size {rgb.shape[1]}x{rgb.shape[0]} differs from its image's "
                f"{image.shape[1]}x{image.shape[0]}"]
    off = spec.off_palette_fraction(rgb)
    if off > OFF_PALETTE_LIMIT:
        return [f"{mask}: {off:.1%} of its pixels are not a {spec.name} class colour "
                f"(at most {OFF_PALETTE_LIMIT:.0%} allowed)"]
    return []


def _check_image(path):
    try:
        read_rgb(path)
        return []
    except DataError as e:
        return [str(e)]


def check_split(folder, spec=None):
    """(number of items, problems) of one split folder: tile pairs decoded with `spec`, or
    labelled images without one."""
    try:
        if spec is not None:
            items, unpaired = pair_tiles(folder)
            return len(items), unpaired + sum(parallel_map(lambda p: _check_tile(p, spec), items), [])
        paths, _ = classification_files(folder)
        return len(paths), sum(parallel_map(_check_image, paths), [])
    except Hw2Error as e:
        return 0, [str(e)]


def footprint_bytes(settings, precision):
    """(bytes a completed run keeps, bytes it holds while in progress).

    Kept: kept.pt (conv/linear weights in 16 bits under bf16/fp16) and each kept epoch checkpoint,
    plus last.pt with keep_last. In progress, last.pt also holds fp32 weights and the optimiser's
    two moment buffers. The model is built on the meta device: no memory, no time."""
    with torch.device("meta"):
        model = build_model(settings.model.model, make_task(settings).num_classes, settings.model.values())
    compact = sum(t.numel() * t.element_size() for t in compact_state_dict(model, precision).values())
    full = sum(t.numel() * 4 for t in model.state_dict().values())
    last = 3 * full
    kept = compact * (1 + len(settings.train.keep_checkpoints)) + (last if settings.place.keep_last else 0)
    return kept, last


def device_line():
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return (f"GPU {props.name}, {props.total_memory / 2**30:.0f} GiB, "
                f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}")
    return (f"CPU ({torch.backends.cpu.get_cpu_capability()}, native bf16 "
            f"{'yes' if cpu_has_native_bf16() else 'no'}): no GPU, training the homework profile "
            "would take days; use --dry-run here")


def preflight(profile, data_root=None, log=print):
    """Check what `profile` needs; return the list of problems (empty when all is well)."""
    problems = []
    runs = {name: run_settings(profile, name, data_root) for name in run_names(profile)}
    # Data: each split once, whichever runs use it.
    splits = {}
    for settings in runs.values():
        task = make_task(settings)
        for folder in (task.train_folder, task.val_folder):
            splits[folder] = task
    for folder, task in splits.items():
        count, found = check_split(folder, task.spec)
        log(f"data: {folder}: {count} {task.item_noun}")
        problems += found
    # Snapshot tiles.
    for name, settings in runs.items():
        task = make_task(settings)
        missing = task.missing_snapshot_tiles()
        if missing and task.val_folder.is_dir():
            problems.append(f"run {name}: snapshot tiles {', '.join(missing)} are not in {task.val_folder}")
    # Pretrained weights.
    needed = {}
    for name, settings in runs.items():
        weights_path = settings.place.weights_path
        if weights_path is not None:
            if not os.path.isfile(weights_path):
                problems.append(f"run {name}: weights_path {weights_path} does not exist")
        elif settings.model.pretrained:
            needed.setdefault(MODELS[settings.model.model].weights, []).append(name)
    for weights, users in needed.items():
        path = hub_cache_path(weights)
        if path.is_file():
            log(f"weights: {path.name} found (for {', '.join(users)})")
        else:
            problems.append(f"weights: {path.name} is missing (needed by {', '.join(users)}): download "
                            f"{weights.url} and put it at {path}")
    # Device and disk.
    log(f"device: {device_line()}")
    device = resolve_device()
    sizes = [footprint_bytes(s, resolve_precision(s.train.precision, device)) for s in runs.values()]
    kept, peak = sum(k for k, _ in sizes), max((p for _, p in sizes), default=0)
    free = shutil.disk_usage(ROOT).free
    log(f"disk: the run folders will keep about {kept / 1e9:.1f} GB (up to {peak / 1e9:.1f} GB more "
        f"while a run is in progress); {free / 1e9:.1f} GB free")
    if free < kept + peak:
        problems.append(f"disk: {free / 1e9:.1f} GB free, but the run folders need about "
                        f"{(kept + peak) / 1e9:.1f} GB")
    return problems
