"""A run's record (`metrics.json`): its settings, one history row per epoch, the kept epoch, the
snapshots' tile scores, where and when it ran. Every reader gets a `RunRecord` and asks it
(`kept_score()`, `kept_confusion()`, `class_names`, ...), never the JSON layout.

Which epoch `kept.pt` keeps is the settings' `select` rule:

    val_loss    the lowest validation loss (the reference author's rule)
    val_score   the highest validation score (mIoU or accuracy): the most optimistic, since the
                kept score is then the maximum of several noisy measurements
    final       the last epoch: no selection on validation at all

An epoch whose deciding number is NaN is never kept while another can be; if none can, the
final epoch is.
"""
import math
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np

from ..numbers import nan_from_null
from ..settings import RunSettings
from ..tasks import make_task

SELECT_RULES = {"val_loss": "lowest val loss", "val_score": "highest val score", "final": "final epoch"}


def kept_label(rule):
    """'epoch kept: lowest val loss' (table headers name the rule)."""
    return f"epoch kept: {SELECT_RULES[rule]}"


@dataclass
class RunRecord:
    params: dict                                   # the run's settings, flat (`RunSettings.flat`)
    cache_key: str = None
    key_parts: dict = field(default_factory=dict)  # what the key hashes (engine/run_key.py)
    complete: bool = False
    history: list = field(default_factory=list)   # one row per epoch
    kept: dict = None                              # the kept epoch: its scores and confusion matrix
    snapshots: dict = field(default_factory=dict)  # {"ids": [...], "tile_miou": {epoch: {tile: mIoU}}}
    data: dict = field(default_factory=dict)       # items trained and scored; val_split: items in validation
    environment: dict = field(default_factory=dict)
    worker: dict = field(default_factory=dict)     # host, pid, device
    schedule_replanned: list = field(default_factory=list)
    started_at: str = None                         # ISO 8601, UTC
    finished_at: str = None
    train_seconds: float = 0.0
    wall_time_s: float = 0.0

    @classmethod
    def from_dict(cls, values):
        """A record from its JSON form: numbers written as null (NaN) read back as NaN."""
        values = dict(values)
        values["history"] = [nan_from_null(row) for row in values.get("history", [])]
        if values.get("kept") is not None:
            values["kept"] = nan_from_null(values["kept"])
        if "tile_miou" in values.get("snapshots", {}):
            values["snapshots"] = {**values["snapshots"], "tile_miou": nan_from_null(values["snapshots"]["tile_miou"])}
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self):
        return {k: v for k, v in asdict(self).items()}

    # --- what readers ask ------------------------------------------------------------------------
    @cached_property
    def settings(self):
        return RunSettings.build(self.params)

    @cached_property
    def task(self):
        return make_task(self.settings)

    @property
    def metric(self):
        """"val_miou" or "val_acc"."""
        return self.task.metric

    @property
    def class_names(self):
        return self.task.class_names

    @property
    def rule(self):
        """The `select` rule that chose the kept epoch."""
        return self.params["select"]

    @property
    def kept_epoch(self):
        return self.kept["epoch"]

    def kept_score(self):
        return self.kept[self.metric]

    def kept_loss(self):
        return self.kept["val_loss"]

    def kept_digest(self):
        """The sha256 of kept.pt as it was written (a child run's key includes it)."""
        return self.kept.get("weights_sha256") if self.kept else None

    def kept_confusion(self):
        """The kept epoch's (C, C) confusion matrix (rows: labels, columns: predictions)."""
        return np.asarray(self.kept["confusion_matrix"])

    def per_class(self):
        """{class: score} at the kept epoch: IoU per scored class, or accuracy per class."""
        return self.task.per_class(self.kept)

    def partial_validation(self):
        """"scored on 6 of 257 validation tiles" when the run scored only part of its validation
        split (val_limit, a dry run), else None."""
        scored, split = self.data.get("val"), self.data.get("val_split")
        if split is None or scored >= split:
            return None
        return f"scored on {scored} of {split} validation {self.task.item}s"

    def row(self, epoch):
        """The history row of `epoch`."""
        return next(r for r in self.history if r["epoch"] == epoch)

    def final_score(self):
        return self.history[-1][self.metric]

    def collapsed_class(self, epoch=None):
        """The class the kept epoch (or `epoch`) predicts for nearly every item, else None."""
        return self.task.collapsed(self.row(epoch or self.kept_epoch))

    def snapshot_ids(self):
        return list(self.snapshots.get("ids", []))

    def snapshot_epochs(self):
        """The epochs this run (not any earlier one) saved snapshots at, ascending."""
        return sorted(int(e) for e in self.snapshots.get("tile_miou", {}))

    def snapshot_caption(self):
        """Which epochs the snapshot masks show, and whether the kept epoch is one of them."""
        epochs = self.snapshot_epochs()
        kept = f"the kept epoch ({SELECT_RULES[self.rule]}) is {self.kept_epoch}"
        if self.kept_epoch in epochs:
            return f"masks at epochs {', '.join(map(str, epochs))}; {kept}"
        return (f"masks at epochs {', '.join(map(str, epochs))}; {kept}, whose masks were not saved: the last "
                f"column is epoch {epochs[-1]}")

    def epoch_tag(self, epoch):
        """'4, kept' or '15, last; kept 12': how a mask's epoch relates to the kept one."""
        if epoch == self.kept_epoch:
            return f"{epoch}, kept"
        return f"{epoch}" + (f", last; kept {self.kept_epoch}" if epoch == self.history[-1]["epoch"] else "")

    def tile_miou(self, epoch, tile):
        return self.snapshots["tile_miou"][str(epoch)][tile]

    # --- what training does ----------------------------------------------------------------------
    def add(self, row):
        self.history.append(row)
        self.train_seconds = round(sum(r["seconds"] for r in self.history), 3)

    def keeps(self, row, last, so_far=None):
        """Whether the select rule keeps epoch `row` over `so_far`, the entry of the epoch kept
        so far (default: the record's)."""
        rule, so_far = self.rule, self.kept if so_far is None else so_far
        if rule == "final":
            return last
        key, sign = ("val_loss", -1) if rule == "val_loss" else (self.metric, 1)
        value = row[key]
        if math.isnan(value):
            return last and so_far is None  # nothing better exists: keep the final epoch
        return so_far is None or math.isnan(so_far[key]) or sign * value > sign * so_far[key]

    def kept_entry(self, row, confusion_matrix, details):
        """What `kept` says of epoch `row`: its scores, the rule, its confusion matrix."""
        return {"epoch": row["epoch"], self.metric: row[self.metric], "val_loss": row["val_loss"],
                "rule": self.rule, "confusion_matrix": confusion_matrix.tolist(), **details}

    def keep(self, row, confusion_matrix, details):
        self.kept = self.kept_entry(row, confusion_matrix, details)
