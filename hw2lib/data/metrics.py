"""Confusion matrices and the scores built from them. Pure functions; numpy arrays or torch tensors.

The mIoU follows the course's official evaluator exactly:
- it is global over the whole set (one confusion matrix), not a mean of per-image scores;
- it averages over the scored classes only;
- label pixels of the unscored class (unknown) are *not* ignored: predicting a scored class
  there is a false positive of that class;
- a scored class absent from both labels and predictions has IoU 0/0 = nan, as there.

This module imports no torch: `hw2 miou` stays light. Torch tensors work through their own
methods (duck typing), on the CPU or the GPU.
"""
import warnings

import numpy as np

# The boundary band that validation splits every tile's confusion matrix by (`evaluation/*.npz`),
# so the boundary study reads it instead of predicting again (analysis/boundary.py).
BOUNDARY_WIDTH = 7


def _check_range(values, num_classes, what):
    """Refuse a class index outside 0..n-1: it would silently land in another class's cell.
    Not on a GPU: reading the range back would make the device wait (there the inputs are only
    decoded masks and argmax, always in range)."""
    if getattr(values, "is_cuda", False) or len(values.reshape(-1)) == 0:
        return
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"{what} hold class {low if low < 0 else high}, outside 0..{num_classes - 1}")


def confusion_matrices(labels, preds, num_classes, split_by=None):
    """(N, C, C) counts, one confusion matrix per item of a batch (N, ...), in one bincount.

    Rows are labels, columns predictions; a class index outside 0..C-1 is an error. numpy in,
    numpy out; a torch tensor in gives a torch int64 tensor out on the same device. With
    `split_by`, a boolean array shaped like the labels: (N, 2, C, C), each item's pixels where it
    is False, then where it is True (still one bincount: a True pixel counts C x C cells further).
    """
    n = num_classes
    if labels.shape != preds.shape or (split_by is not None and split_by.shape != labels.shape):
        shapes = [tuple(a.shape) for a in (labels, preds, split_by) if a is not None]
        raise ValueError(f"labels, predictions (and split) differ in shape: {shapes}")
    _check_range(labels, n, "labels")
    _check_range(preds, n, "predictions")
    items, groups = labels.shape[0], 1 if split_by is None else 2
    cells = items * groups * n * n
    shape = (items, n, n) if split_by is None else (items, 2, n, n)
    if isinstance(labels, np.ndarray):
        # The smallest index type that holds every cell: uint8 for one small matrix (less memory
        # traffic on 512x512 masks), wider for a batch.
        dtype = np.uint8 if cells <= 256 else np.int64
        k = labels.reshape(items, -1).astype(dtype) * dtype(n) + preds.reshape(items, -1).astype(dtype)
        if split_by is not None:
            k += split_by.reshape(items, -1).astype(dtype) * dtype(n * n)
        if items > 1:
            k += (np.arange(items, dtype=dtype) * dtype(groups * n * n))[:, None]
        return np.bincount(k.ravel(), minlength=cells).reshape(shape)
    k = labels.reshape(items, -1).long() * n + preds.reshape(items, -1).long()
    if split_by is not None:
        k.add_(split_by.reshape(items, -1), alpha=n * n)
    offsets = (k.new_ones(items).cumsum(0) - 1) * (groups * n * n)  # arange on k's device, no host copy
    return (k + offsets[:, None]).reshape(-1).bincount(minlength=cells).reshape(shape)


def confusion_matrix(labels, preds, num_classes):
    """(C, C) counts of one set of labels and predictions (any shape, the same for both)."""
    return confusion_matrices(labels[None], preds[None], num_classes)[0]


def _as_numpy(cm):
    """A confusion matrix as numpy: from numpy, a (nested) list, or a torch tensor."""
    return cm.detach().cpu().numpy() if hasattr(cm, "detach") else np.asarray(cm)


def iou(cms, classes):
    """IoU of `classes` for a confusion matrix (C, C) or a stack (..., C, C): the official
    tp / (tp_fp + tp_fn - tp), float64, nan where 0/0."""
    cms = _as_numpy(cms).astype(np.float64)
    classes = list(classes)
    tp = cms[..., classes, classes]
    tp_fp = cms.sum(-2)[..., classes]  # predicted as the class, whatever the label (unknown included)
    tp_fn = cms.sum(-1)[..., classes]  # labelled as the class
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / (tp_fp + tp_fn - tp)


def mean_iou(cm, scored):
    """Mean IoU over the scored classes, summed in the official evaluator's order."""
    total = 0.0
    for value in iou(cm, scored):
        total += value / len(scored)
    return float(total)


def mean_iou_over(cm, classes):
    """Mean IoU over a fixed list of classes: a score that averages the same classes for every
    model compared (nan for an empty list)."""
    return float(np.mean(iou(cm, classes))) if len(classes) else float("nan")


def pooled_miou(cms, weights, classes):
    """mIoU of per-item confusion matrices (N, C, C) pooled under each row of `weights` (R, N).

    Each pooling averages the classes of `classes` that have labels in it: the labels are the
    same for every model scored on the same items, so two models compared on a bootstrap
    resample always average the same class set, and a class a model merely predicts never
    changes it. When every class has labels, this is the official mIoU of the pooling."""
    cms = np.asarray(cms)
    pooled = np.tensordot(weights, cms.reshape(len(cms), -1), axes=1).reshape(-1, *cms.shape[1:])
    labelled = pooled.sum(-1)[:, list(classes)] > 0
    values, count = np.where(labelled, iou(pooled, classes), 0.0), labelled.sum(-1)
    total = np.zeros(len(pooled))
    with warnings.catch_warnings():  # a pooling without any labelled class is nan, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        for k in range(values.shape[-1]):  # the official evaluator's order of summation
            total = total + values[:, k] / count
    return total


def pooled_accuracy(labels, preds, weights):
    """Accuracy of per-image predictions under each row of `weights` (R, N)."""
    correct = (np.asarray(labels) == np.asarray(preds)).astype(np.float64)
    return weights @ correct / weights.sum(1)


def overall_accuracy(cm):
    """Fraction of correct entries: pixel accuracy for masks, accuracy for image labels; nan for
    an empty matrix (nothing labelled)."""
    cm = _as_numpy(cm)
    return float(np.trace(cm) / cm.sum()) if cm.sum() else float("nan")


def per_class_accuracy(cm):
    """Recall of each class: correct / labelled; nan for a class with no labels."""
    cm = _as_numpy(cm).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / cm.sum(axis=1)


def class_shares(cm, axis):
    """Fraction of entries in each class: axis 0 gives predicted shares, axis 1 true shares."""
    cm = _as_numpy(cm).astype(np.float64)
    return cm.sum(axis=axis) / max(cm.sum(), 1)


def boundary_band(mask, width=5):
    """Boolean (..., H, W): pixels within `width` // 2 of a change of class (a square
    neighbourhood), for one mask or a batch; numpy in, numpy out, a torch tensor stays on its device."""
    edge = mask != mask  # all False, shaped and placed like `mask`
    vertical, horizontal = mask[..., :-1, :] != mask[..., 1:, :], mask[..., :, :-1] != mask[..., :, 1:]
    edge[..., :-1, :] |= vertical
    edge[..., 1:, :] |= vertical
    edge[..., :, :-1] |= horizontal
    edge[..., :, 1:] |= horizontal
    grown = edge | edge  # a copy
    for s in range(1, width // 2 + 1):  # dilate rows, then columns, one shift at a time
        grown[..., s:, :] |= edge[..., :-s, :]
        grown[..., :-s, :] |= edge[..., s:, :]
    out = grown | grown
    for s in range(1, width // 2 + 1):
        out[..., :, s:] |= grown[..., :, :-s]
        out[..., :, :-s] |= grown[..., :, s:]
    return out


def banded_confusion_matrices(labels, preds, num_classes, width=BOUNDARY_WIDTH):
    """(N, 2, C, C): per item, the confusion matrices of its pixels outside ([:, 0]) and inside
    ([:, 1]) the boundary band of its labels (`boundary_band`); their sum is the item's confusion
    matrix."""
    return confusion_matrices(labels, preds, num_classes, split_by=boundary_band(labels, width))


def scores(cm, spec):
    """A segmentation confusion matrix's scores, the official way: mIoU, each scored class's IoU,
    pixel accuracy, and the share of pixels predicted as each class (a collapse shows here)."""
    return {"miou": mean_iou(cm, spec.scored),
            "iou": dict(zip(spec.scored_names, iou(cm, spec.scored).tolist())),
            "pixel_acc": overall_accuracy(cm),
            "pred_share": dict(zip(spec.class_names, class_shares(cm, 0).tolist()))}
