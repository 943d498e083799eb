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


def _check_range(values, num_classes, what):
    """Refuse a class index outside 0..n-1: it would silently land in another class's cell."""
    if len(values.reshape(-1)) == 0:
        return
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"{what} hold class {low if low < 0 else high}, outside 0..{num_classes - 1}")


def confusion_matrix(labels, preds, num_classes):
    """(num_classes, num_classes) counts; rows are labels, columns predictions.

    `labels` and `preds` are integer arrays (or tensors) of the same shape with values in
    [0, num_classes); any other value is an error (it would land in another class's cell). A
    torch tensor in gives a torch int64 tensor out, on the same device.
    """
    n = num_classes
    if labels.shape != preds.shape:
        raise ValueError(f"labels {tuple(labels.shape)} and predictions {tuple(preds.shape)} differ in shape")
    _check_range(labels, n, "labels")
    _check_range(preds, n, "predictions")
    if isinstance(labels, np.ndarray):
        # Small class counts fit the joint index in uint8: less memory traffic than int64.
        dtype = np.uint8 if n * n <= 256 else np.int64
        k = labels.astype(dtype) * dtype(n) + preds.astype(dtype)
        return np.bincount(k.ravel(), minlength=n * n).reshape(n, n)
    k = labels.reshape(-1).long() * n + preds.reshape(-1).long()
    return k.bincount(minlength=n * n).reshape(n, n)


def _as_numpy(cm):
    """A confusion matrix as numpy: from numpy, a (nested) list, or a torch tensor."""
    return cm.detach().cpu().numpy() if hasattr(cm, "detach") else np.asarray(cm)


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


def mean_iou_over(cm, classes):
    """Mean IoU over a fixed list of classes (nan-free when each has labels): a subset's score
    that averages the same classes for every model compared."""
    return float(np.mean(iou_per_class(cm, classes))) if len(classes) else float("nan")


def class_shares(cm, axis):
    """Fraction of entries in each class: axis 0 gives predicted shares, axis 1 true shares."""
    cm = _as_numpy(cm).astype(np.float64)
    return cm.sum(axis=axis) / max(cm.sum(), 1)


def scores(cm, spec):
    """A segmentation confusion matrix's scores, the official way: mIoU, each scored class's IoU,
    pixel accuracy, and the share of pixels predicted as each class (a collapse shows here)."""
    ious = iou_per_class(cm, spec.scored)
    return {"miou": mean_iou(cm, spec.scored),
            "iou": dict(zip(spec.scored_names, ious.tolist())),
            "pixel_acc": overall_accuracy(cm),
            "pred_share": dict(zip(spec.class_names, class_shares(cm, 0).tolist()))}
