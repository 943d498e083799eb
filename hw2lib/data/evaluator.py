"""The official evaluator's job: score a folder of predicted RGB masks against a folder of labels.

    hw2 miou -g hw2_data/p2_data/validation -p preds/ --classes deepglobe

Files are paired by name among the ``*.png`` of each folder (as the official script reads
them). The pairs are split among worker processes, each returning one confusion matrix, so the
whole set is never held in memory and decoding runs on every core. No torch import on this path.

Under the official threshold rule a pixel's class depends only on its code 4R + 2G + B of each
channel's top bit, so a pair of masks reduces to the 8x8 counts of (label code, prediction code),
computed on whole images at once; the spec's code table then folds those counts into the
confusion matrix. PNG decoding is most of what remains (bench/bench_miou.py).
"""
import ctypes
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image

from ..errors import DataError
from .datasets import check_folder, read_mask
from .images import check_same_size, open_rgb
from .metrics import confusion_matrix, scores


def paired_mask_names(labels_dir, pred_dir):
    """Sorted ``*.png`` names present in both folders; any name in one only is an error."""
    labels_dir, pred_dir = check_folder(labels_dir), check_folder(pred_dir)
    labels = {p.name for p in labels_dir.glob("*.png")}
    preds = {p.name for p in pred_dir.glob("*.png")}
    for folder, names in ((labels_dir, labels), (pred_dir, preds)):
        if not names:
            raise DataError(f"{folder}: empty, it holds no .png masks")
    if labels != preds:
        only_l, only_p = sorted(labels - preds), sorted(preds - labels)
        parts = []
        if only_l:
            parts.append(f"only in {labels_dir}: {', '.join(only_l)}")
        if only_p:
            parts.append(f"only in {pred_dir}: {', '.join(only_p)}")
        raise DataError("label and prediction folders hold different masks; " + "; ".join(parts))
    return sorted(labels)


def score_folders(labels_dir, pred_dir, spec, workers=None):
    """The scores (`metrics.scores`) of all paired masks, and their confusion matrix."""
    names = paired_mask_names(labels_dir, pred_dir)
    workers = min(workers or _usable_cores(), len(names))
    chunks = [(str(labels_dir), str(pred_dir), names[i::workers], spec) for i in range(workers)]
    if workers == 1:
        cm = _confusion_of_names(*chunks[0])
    else:
        with ProcessPoolExecutor(workers, initializer=_prepare_worker) as pool:
            cm = sum(pool.map(_confusion_of_names, *zip(*chunks)))
    return scores(cm, spec), cm


def _usable_cores():
    """The cores this process may run on (a job's CPU set, not the whole machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _confusion_of_names(labels_dir, pred_dir, names, spec):
    """The summed confusion matrix of the named pairs (one worker's share)."""
    if spec.decode_rule == "threshold":
        code_counts = sum(_code_pair_counts(f"{labels_dir}/{name}", f"{pred_dir}/{name}") for name in names)
        return _fold_codes(code_counts, spec)
    cm = np.zeros((spec.num_classes, spec.num_classes), np.int64)
    for name in names:
        label_path, pred_path = f"{labels_dir}/{name}", f"{pred_dir}/{name}"
        label, pred = read_mask(label_path, spec), read_mask(pred_path, spec)
        check_same_size(pred, pred_path, label, "the label")
        cm += confusion_matrix(label, pred, spec.num_classes)
    return cm


def _code_pair_counts(label_path, pred_path):
    """(8, 8) counts of pixels by (label code, prediction code), code = 4R + 2G + B of the top bits.

    Pillow hands the pixels over as 32-bit RGBX words (R in the lowest byte). `>> 7 & 0x010101`
    leaves each channel's top bit at the bottom of its byte; the label's bits move up by 3, so
    every byte holds 8 * label bit + prediction bit (at most 9); multiplying by 0x04020100 adds
    4 * R-byte + 2 * G-byte + B-byte into the top byte, where lower products cannot reach, giving
    8 * label code + prediction code."""
    label, pred = open_rgb(label_path), open_rgb(pred_path)
    check_same_size(pred, pred_path, label, "the label")
    words = [np.frombuffer(im.tobytes("raw", "RGBX"), "<u4") for im in (label, pred)]  # R lowest
    key = (words[0] >> 7) & 0x010101
    key <<= 3
    key |= (words[1] >> 7) & 0x010101
    key *= 0x04020100
    key >>= 24
    counts = Image.frombuffer("L", label.size, key.astype(np.uint8), "raw", "L", 0, 1).histogram()
    return np.array(counts[:64]).reshape(8, 8)


def _fold_codes(code_counts, spec):
    """(C, C) confusion matrix from (8, 8) code-pair counts and the spec's code -> class table."""
    cm = np.zeros((spec.num_classes, spec.num_classes), np.int64)
    codes = np.asarray(spec.codes)
    np.add.at(cm, (codes[:, None], codes[None, :]), code_counts)
    return cm


def _prepare_worker():
    """In each worker process: Ctrl-C is the parent's to handle (it stops the pool), and freed
    image buffers are kept. Every pair allocates and frees a few image-sized buffers; glibc hands
    freed ones back to the kernel and the next pair faults them in again, which cost a third of
    the time. Raising its trim and mmap thresholds keeps them (other C libraries: as they are).
    Only workers do this: the caller's process keeps its own allocator settings."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None) if sys.platform.startswith("linux") else None
    if mallopt:
        m_trim_threshold, m_mmap_threshold = -1, -3
        mallopt(m_mmap_threshold, 32 << 20)
        mallopt(m_trim_threshold, 256 << 20)
