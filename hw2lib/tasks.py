"""What differs between the two tasks, decided once: data splits, loss, the score that picks the
best epoch, and how an evaluation is summed up.

    task = make_task(cfg)          # Segmentation(cfg) or Classification(cfg)
    train, val = task.load()
    task.metric                    # "val_miou" or "val_acc"
"""
from dataclasses import dataclass
from pathlib import Path

import torch

from .datasets import load_classification, load_segmentation
from .label_specs import get_spec
from .metrics import class_shares, overall_accuracy, per_class_accuracy, scores


@dataclass
class Split:
    images: torch.Tensor  # (N, 3, H, W) uint8
    targets: torch.Tensor  # (N, H', W') uint8 masks (validation: native size) or (N,) int64 labels
    ids: list              # tile ids or file names


class Task:
    """What the two tasks share: how a history row shows a collapsed model."""

    def collapsed(self, row, threshold=0.95):
        """The class predicted for `threshold` or more of the pixels (images) at that epoch, else None."""
        share = row.get("val_pred_share") or {}
        top = max(share, key=share.get, default=None)
        return top if top is not None and share[top] >= threshold else None


class Segmentation(Task):
    name = "segmentation"
    metric, metric_name = "val_miou", "mIoU"

    def __init__(self, cfg):
        self.cfg = cfg
        self.spec = get_spec(cfg["classes"])
        self.num_classes = self.spec.num_classes

    def load(self):
        """(training tiles resized to image_size, the validation split)."""
        cfg = self.cfg
        train = load_segmentation(Path(cfg["data_root"]) / "train", self.spec, cfg["image_size"], cfg["limit"])
        return Split(torch.from_numpy(train.images), torch.from_numpy(train.masks), train.ids), \
            self.load_validation()

    def load_validation(self):
        """Validation images resized to image_size, masks at native size (scored as the official
        evaluator scores them); val_limit keeps the snapshot tiles."""
        cfg = self.cfg
        val = load_segmentation(Path(cfg["data_root"]) / "validation", self.spec, cfg["image_size"],
                                cfg["val_limit"], keep=cfg["snapshot_ids"], native_masks=True)
        return Split(torch.from_numpy(val.images), torch.from_numpy(val.masks), val.ids)

    def loss(self):
        from .losses import SegLoss

        cfg = self.cfg
        return SegLoss(cfg["loss"], cfg["class_weights"], cfg["ignore_index"], cfg["lovasz_weight"],
                       cfg["label_smoothing"])

    def scores(self, cm):
        """The history row's validation scores (official mIoU at native size, and more)."""
        return {f"val_{k}": v for k, v in scores(cm, self.spec).items()}

    def best_details(self, cm):
        return {"val_iou": scores(cm, self.spec)["iou"]}


class Classification(Task):
    name = "classification"
    metric, metric_name = "val_acc", "accuracy"

    def __init__(self, cfg):
        self.cfg = cfg
        self.spec = None
        self.num_classes = cfg["num_classes"]

    def load(self):
        root = Path(self.cfg["data_root"])
        train = load_classification(root / "train_50", limit=self.cfg["limit"])
        return Split(torch.from_numpy(train.images), torch.from_numpy(train.labels), train.names), \
            self.load_validation()

    def load_validation(self):
        val = load_classification(Path(self.cfg["data_root"]) / "val_50", limit=self.cfg["val_limit"])
        return Split(torch.from_numpy(val.images), torch.from_numpy(val.labels), val.names)

    def loss(self):
        return torch.nn.CrossEntropyLoss(label_smoothing=self.cfg["label_smoothing"])

    def scores(self, cm):
        shares = class_shares(cm, 0)
        return {"val_acc": overall_accuracy(cm), "val_pred_share": {str(c): v for c, v in enumerate(shares.tolist())}}

    def best_details(self, cm):
        return {"per_class_acc": per_class_accuracy(cm).tolist()}


TASKS = {"segmentation": Segmentation, "classification": Classification}


def make_task(cfg):
    return TASKS[cfg["task"]](cfg)
