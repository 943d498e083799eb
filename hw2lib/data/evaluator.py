"""The official evaluator's job: score a folder of predicted RGB masks against a folder of labels.

    hw2 miou -g hw2_data/p2_data/validation -p preds/ --classes deepglobe

Files are paired by name among the ``*.png`` of each folder (as the official script reads
them). Each pair is decoded and reduced to a confusion matrix in a worker thread, so the whole set
is never held in memory and decoding runs in parallel. No torch import on this path.
"""
from ..errors import DataError
from .datasets import check_folder, check_same_size, parallel_map, read_mask
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

    def one(name):
        label = read_mask(f"{labels_dir}/{name}", spec)
        pred = read_mask(f"{pred_dir}/{name}", spec)
        check_same_size(pred, f"{pred_dir}/{name}", label, "the label")
        return confusion_matrix(label, pred, spec.num_classes)

    cm = sum(parallel_map(one, names, workers))
    return scores(cm, spec), cm
