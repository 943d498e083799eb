"""The official evaluator's job: score a folder of predicted RGB masks against a folder of labels.

    hw2 miou -g hw2_data/p2_data/validation -p preds/ --classes deepglobe

Files are paired by name among the ``*.png`` of each folder (as the official script reads
them). Each pair is decoded and reduced to a confusion matrix in a worker thread, so the whole set
is never held in memory and decoding runs in parallel. No torch import on this path.
"""
from .data import parallel_map, read_mask
from .files import DataError, check_folder
from .metrics import confusion_matrix, iou_per_class, mean_iou


def paired_mask_names(labels_dir, pred_dir):
    """Sorted ``*.png`` names present in both folders; any name in one only is an error."""
    labels_dir, pred_dir = check_folder(labels_dir), check_folder(pred_dir)
    labels = {p.name for p in labels_dir.glob("*.png")}
    preds = {p.name for p in pred_dir.glob("*.png")}
    if not labels:
        raise DataError(f"{labels_dir}: no .png masks")
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
    """Return (miou, {class_name: iou}, confusion matrix) over all paired masks."""
    names = paired_mask_names(labels_dir, pred_dir)

    def one(name):
        label = read_mask(f"{labels_dir}/{name}", spec)
        pred = read_mask(f"{pred_dir}/{name}", spec)
        if label.shape != pred.shape:
            raise DataError(f"{pred_dir}/{name}: size {pred.shape[1]}x{pred.shape[0]} differs "
                            f"from the label's {label.shape[1]}x{label.shape[0]}")
        return confusion_matrix(label, pred, spec.num_classes)

    cm = sum(parallel_map(one, names, workers))
    per_class = dict(zip(spec.scored_names, iou_per_class(cm, spec.scored).tolist()))
    return mean_iou(cm, spec.scored), per_class, cm
