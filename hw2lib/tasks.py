"""What differs between the two tasks, decided once: data splits and their loading, input size,
augmentations, the loss, how an evaluated batch becomes per-item results, the scores, the
bootstrap statistic, and the words ("mIoU", "pixels") the report uses.

    task = make_task(settings)     # Segmentation(settings) or Classification(settings)
    train, val = task.load()
    task.metric                    # "val_miou" or "val_acc"

No other module branches on the task's name (the settings aside, which hold each task's own
keys): they ask the task.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .data.datasets import classification_files, load_classification, load_segmentation, pair_tiles
from .data.label_specs import get_spec
from .data.metrics import (BOUNDARY_WIDTH, banded_confusion_matrices, class_shares, confusion_matrix,
                           overall_accuracy, per_class_accuracy, pooled_accuracy, pooled_miou, scores)
from .losses import Loss

COLLAPSE_SHARE = 0.95  # a run that predicts one class for this share of its items has collapsed


def boundary_key(width):
    """The name of a saved evaluation's per-tile confusion matrices of the boundary band `width`."""
    return f"boundary_{width}_cms"


def at_size(logits, size):
    """(N, C, h, w) logits upsampled (bilinear) to `size` (H, W): how segmentation is scored."""
    if logits.shape[-2:] == tuple(size):
        return logits
    return F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)


@dataclass
class Split:
    images: torch.Tensor  # (N, 3, H, W) uint8
    targets: torch.Tensor  # (N, H', W') uint8 masks (validation: native size) or (N,) int64 labels
    ids: list              # tile ids or file names

    def to(self, device):
        return Split(self.images.to(device), self.targets.to(device), self.ids)


def _split(images, targets, ids):
    return Split(torch.from_numpy(images), torch.from_numpy(targets), ids)


class Task:
    """What both tasks share."""
    name = metric = metric_name = unit = item = item_noun = None
    chance = None        # the score of guessing, where it is one number
    splits = ()          # (training folder, validation folder) under the data root
    snapshot_ids = snapshot_epochs = ()  # the tiles whose masks are saved, and when
    loss_name = "ce"     # the loss trained with (and of the validation loss)

    def __init__(self, settings):
        self.settings = settings

    @property
    def train_folder(self):
        return Path(self.settings.place.data_root) / self.splits[0]

    @property
    def val_folder(self):
        return Path(self.settings.place.data_root) / self.splits[1]

    def load(self):
        """(the training split, the validation split)."""
        return self.load_train(), self.load_validation()

    def loss(self):
        return Loss(label_smoothing=self.settings.train.label_smoothing)

    def data_files(self):
        """{split folder: the files of it the task reads}: what the run's data fingerprint covers."""
        return {folder: self.split_files(folder) for folder in (self.train_folder, self.val_folder)}

    def missing_snapshot_tiles(self):
        """The snapshot tiles that are not in the validation folder."""
        return [i for i in self.snapshot_ids if not (self.val_folder / f"{i}_sat.jpg").is_file()]

    def collapsed(self, row):
        """The class predicted for `COLLAPSE_SHARE` or more of the items at that epoch, else None."""
        share = row.get("val_pred_share") or {}
        top = max(share, key=share.get, default=None)
        return top if top is not None and share[top] >= COLLAPSE_SHARE else None


class Segmentation(Task):
    name = "segmentation"
    metric, metric_name, unit = "val_miou", "mIoU", "pixels"
    item, item_noun = "tile", "tile pairs"  # a validation item; what a split folder holds
    splits = ("train", "validation")
    input_size = None  # the data are loaded at `image_size`; logits are scored at the masks' size

    def __init__(self, settings):
        super().__init__(settings)
        self.spec = get_spec(settings.task.classes)
        self.num_classes = self.spec.num_classes
        self.class_names = list(self.spec.class_names)
        # Per tile, the confusion matrices of its pixels outside and inside the boundary band.
        self.item_shape = (2, self.num_classes, self.num_classes)
        self.loss_name = settings.task.loss
        self.snapshot_ids = list(settings.task.snapshot_ids)
        self.snapshot_epochs = list(settings.task.snapshot_epochs)

    def split_files(self, folder):
        return [path for _, sat, mask in pair_tiles(folder)[0] for path in (sat, mask)]

    def items_in(self, folder):
        """How many items (tile pairs) the split folder holds."""
        return len(pair_tiles(folder)[0])

    def model_side(self):
        """The side of the square input the model sees (the homework's tiles are 512 natively)."""
        return self.settings.task.image_size or 512

    def load_train(self):
        s = self.settings
        data = load_segmentation(self.train_folder, self.spec, s.task.image_size, s.data.limit)
        return _split(data.images, data.masks, data.ids)

    def load_validation(self):
        """Validation images resized to image_size, masks at native size (scored as the official
        evaluator scores them); val_limit keeps the snapshot tiles."""
        s = self.settings
        data = load_segmentation(self.val_folder, self.spec, s.task.image_size, s.data.val_limit,
                                 keep=s.task.snapshot_ids, native_masks=True)
        return _split(data.images, data.masks, data.ids)

    def loss(self):
        s, t = self.settings, self.settings.task
        return Loss(t.loss, t.class_weights, t.ignore_index, t.lovasz_weight, s.train.label_smoothing)


    def scored_parts(self, predictor, images, targets):
        """(a slice of the batch, its logits at the labels' size), one tile at a time from one
        forward pass: on a CPU a tile's logits upsampled to 512x512 stay in the cache while its
        loss, classes and confusion matrices are taken (for the whole batch at once, upsampling,
        loss and classes took twice the time); on every device the loss is then summed tile by
        tile, whatever the batch."""
        low = predictor.logits(images)
        for k in range(len(low)):
            yield slice(k, k + 1), at_size(low[k:k + 1], targets.shape[-2:])

    def item_results(self, targets, preds):
        """Per tile, the confusion matrices outside and inside its boundary band: (N, 2, C, C)."""
        return banded_confusion_matrices(targets, preds, self.num_classes)

    def summarise(self, items, ids):
        """(the set's confusion matrix, the per-item arrays saved for the bootstrap: each tile's
        confusion matrix, and that of its boundary band for the boundary study, which reads the
        kept epoch's; the final epoch's is saved alike, as the same function writes both)."""
        cms = items.sum(1)
        return cms.sum(0), {"ids": np.array(ids), "cms": cms, boundary_key(BOUNDARY_WIDTH): items[:, 1]}

    def scores(self, cm):
        """The history row's validation scores (official mIoU at native size, and more)."""
        return {f"val_{k}": v for k, v in scores(cm, self.spec).items()}

    def kept_details(self, cm):
        return {"val_iou": scores(cm, self.spec)["iou"]}

    def per_class(self, kept):
        """{class: score} of a kept epoch: IoU per scored class."""
        return kept["val_iou"]

    def statistic(self):
        """The bootstrap's statistic on saved per-item results: official-class mIoU."""
        scored = self.spec.scored
        return lambda items, weights: pooled_miou(items["cms"], weights, scored)


class Classification(Task):
    name = "classification"
    metric, metric_name, unit = "val_acc", "accuracy", "images"
    item, item_noun = "image", "images"
    splits = ("train_50", "val_50")
    spec = None

    def __init__(self, settings):
        super().__init__(settings)
        self.num_classes = settings.task.num_classes
        self.class_names = [str(i) for i in range(self.num_classes)]
        self.input_size = settings.task.input_size  # images are resized to it on the device
        self.chance = 1 / self.num_classes

    def model_side(self):
        return self.input_size

    def split_files(self, folder):
        return classification_files(folder)[0]

    def items_in(self, folder):
        return len(self.split_files(folder))

    def load_train(self):
        data = load_classification(self.train_folder, limit=self.settings.data.limit)
        return _split(data.images, data.labels, data.names)

    def load_validation(self):
        data = load_classification(self.val_folder, limit=self.settings.data.val_limit)
        return _split(data.images, data.labels, data.names)

    def scored_parts(self, predictor, images, targets):
        """The whole batch at once: (all of it, its logits)."""
        yield slice(None), predictor.logits(images)

    item_shape = (2,)  # (label, prediction) per image

    def item_results(self, targets, preds):
        """(label, prediction) per image: (N, 2)."""
        return torch.stack([targets, preds], 1)

    def summarise(self, items, ids):
        labels, preds = items[:, 0], items[:, 1]
        return (confusion_matrix(labels, preds, self.num_classes),
                {"ids": np.array(ids), "labels": labels, "preds": preds})

    def scores(self, cm):
        shares = class_shares(cm, 0)
        return {"val_acc": overall_accuracy(cm),
                "val_pred_share": dict(zip(self.class_names, shares.tolist()))}

    def kept_details(self, cm):
        return {"per_class_acc": per_class_accuracy(cm).tolist()}

    def per_class(self, kept):
        return dict(zip(self.class_names, kept["per_class_acc"]))

    def statistic(self):
        return lambda items, weights: pooled_accuracy(items["labels"], items["preds"], weights)


TASKS = {"segmentation": Segmentation, "classification": Classification}


def make_task(settings):
    return TASKS[settings.task.name](settings)
