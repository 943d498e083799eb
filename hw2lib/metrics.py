"""Confusion matrix and the scores built from it. Pure functions; numpy or torch tensors.

The mIoU follows the course's official evaluator exactly:
- it is global over the whole set (one confusion matrix), not a mean of per-image scores;
- it averages over the scored classes only;
- label pixels of the unscored class (unknown) are *not* ignored: predicting a scored class
  there is a false positive of that class;
- a scored class absent from both labels and predictions has IoU 0/0 = nan, as there.

This module imports no torch: `hw2 miou` stays light. Torch tensors work through their own
methods (duck typing), on CPU or GPU.
"""
import numpy as np


def confusion_matrix(labels, preds, num_classes):
    """(num_classes, num_classes) counts; rows are labels, columns predictions.

    `labels` and `preds` are integer arrays (or tensors) of the same shape with values in
    [0, num_classes). A torch tensor in gives a torch int64 tensor out, on the same device.
    """
    n = num_classes
    if isinstance(labels, np.ndarray):
        # Small class counts fit the joint index in uint8: less memory traffic than int64.
        dtype = np.uint8 if n * n <= 256 else np.int64
        k = labels.astype(dtype) * dtype(n) + preds.astype(dtype)
        return np.bincount(k.ravel(), minlength=n * n).reshape(n, n)
    k = labels.reshape(-1).long() * n + preds.reshape(-1).long()
    return k.bincount(minlength=n * n).reshape(n, n)


def _as_numpy(cm):
    return cm if isinstance(cm, np.ndarray) else cm.detach().cpu().numpy()


def iou_per_class(cm, scored):
    """IoU of each scored class, as the official tp / (tp_fp + tp_fn - tp), float64."""
    cm = _as_numpy(cm).astype(np.float64)
    out = []
    for i in scored:
        tp = cm[i, i]
        tp_fp = cm[:, i].sum()  # predicted as i, whatever the label (unknown included)
        tp_fn = cm[i, :].sum()  # labelled i
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.float64(tp) / (tp_fp + tp_fn - tp))
    return np.array(out)


def mean_iou(cm, scored):
    """Mean IoU over the scored classes, summed in the official evaluator's order."""
    total = 0.0
    for iou in iou_per_class(cm, scored):
        total += iou / len(scored)
    return float(total)


def overall_accuracy(cm):
    """Fraction of correct entries: pixel accuracy for masks, accuracy for image labels."""
    cm = _as_numpy(cm)
    return float(np.trace(cm) / cm.sum())


def per_class_accuracy(cm):
    """Recall of each class: correct / labelled; nan for a class with no labels."""
    cm = _as_numpy(cm).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / cm.sum(axis=1)


def boundary_band(mask, width=5):
    """Boolean (H, W): pixels within `width` // 2 of a change of class (a square neighbourhood)."""
    edge = np.zeros(mask.shape, dtype=bool)
    vertical, horizontal = mask[:-1, :] != mask[1:, :], mask[:, :-1] != mask[:, 1:]
    edge[:-1, :] |= vertical
    edge[1:, :] |= vertical
    edge[:, :-1] |= horizontal
    edge[:, 1:] |= horizontal
    grown = edge.copy()
    for s in range(1, width // 2 + 1):  # dilate rows, then columns, one shift at a time
        grown[s:, :] |= edge[:-s, :]
        grown[:-s, :] |= edge[s:, :]
    out = grown.copy()
    for s in range(1, width // 2 + 1):
        out[:, s:] |= grown[:, :-s]
        out[:, :-s] |= grown[:, s:]
    return out


def present_mean_iou(cm, scored):
    """Mean IoU over the scored classes that occur in labels or predictions (nan ones skipped)."""
    with np.errstate(invalid="ignore"):
        return float(np.nanmean(iou_per_class(cm, scored)))
