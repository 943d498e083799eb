"""A run's record (`metrics.json`): its params, one history row per epoch, the kept epoch, the
snapshots' tile scores, where and when it ran.

Which epoch `best.pt` keeps is the config's `select` rule:

    val_loss    the lowest validation loss (the seed author's rule)
    val_score   the highest validation score (mIoU or accuracy): the most optimistic, since the
                kept score is then the maximum of several noisy measurements
    final       the last epoch: no selection on validation at all

An epoch whose deciding number is NaN is never kept while another can be; if none can, the
final epoch is.
"""
import math
from dataclasses import asdict, dataclass, field

from ..numbers import nan_from_null

SELECT_RULES = {"val_loss": "lowest val loss", "val_score": "highest val score", "final": "final epoch"}


def kept_label(rule):
    """'epoch kept: lowest val loss' (table headers name the rule)."""
    return f"epoch kept: {SELECT_RULES[rule]}"


@dataclass
class RunRecord:
    params: dict
    cache_key: str = None
    complete: bool = False
    history: list = field(default_factory=list)   # one row per epoch
    best: dict = None                              # the kept epoch: its scores and confusion matrix
    snapshots: dict = field(default_factory=dict)  # {"ids": [...], "tile_miou": {epoch: {tile: mIoU}}}
    data: dict = field(default_factory=dict)       # items per split
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
        if values.get("best") is not None:
            values["best"] = nan_from_null(values["best"])
        if "tile_miou" in values.get("snapshots", {}):
            values["snapshots"] = {**values["snapshots"], "tile_miou": nan_from_null(values["snapshots"]["tile_miou"])}
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self):
        return asdict(self)

    def add(self, row):
        self.history.append(row)
        self.train_seconds = round(sum(r["seconds"] for r in self.history), 3)

    def keeps(self, row, metric, last):
        """Whether the select rule keeps epoch `row` over the epoch kept so far."""
        rule = self.params["select"]
        if rule == "final":
            return last
        key, sign = ("val_loss", -1) if rule == "val_loss" else (metric, 1)
        value = row[key]
        if math.isnan(value):
            return last and self.best is None  # nothing better exists: keep the final epoch
        return self.best is None or math.isnan(self.best[key]) or sign * value > sign * self.best[key]

    def keep(self, row, metric, confusion_matrix, details):
        self.best = {"epoch": row["epoch"], metric: row[metric], "val_loss": row["val_loss"],
                     "rule": self.params["select"], "confusion_matrix": confusion_matrix.tolist(), **details}
