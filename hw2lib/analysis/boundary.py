"""Where does a model win? mIoU on pixels near class boundaries versus inside regions.

A pixel is "boundary" when a ground-truth class change lies within `width` // 2 pixels (at the
masks' native size). Each subset's mIoU averages the scored classes labelled in that subset (and,
in a bootstrap resample, in that resample's tiles), the same for every model compared, so a class
a model merely predicts never changes what is averaged. Per-tile confusion matrices of each
subset make the gains comparable with a paired bootstrap (`evidence.py`).
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..data.metrics import boundary_band, confusion_matrices
from ..engine.inference import load_trained, predicted_masks
from ..errors import ConfigError
from ..tasks import make_task
from .evidence import difference_of_differences, miou_statistic, paired_bootstrap

SUBSETS = ("boundary", "interior", "all")


@dataclass
class BoundaryStudy:
    runs: dict          # label -> {subset: {"ids", "cms"}} per-tile confusion matrices
    scored: tuple       # the scored classes; each subset averages those labelled in it
    boundary_share: float
    width: int

    def statistic(self):
        return miou_statistic(self.scored)

    def score(self, label, subset):
        """`label`'s mIoU on `subset`."""
        items = self.runs[label][subset]
        return float(self.statistic()(items, np.ones((1, len(items["cms"]))))[0])

    def table(self):
        """mIoU per run and subset, as a DataFrame (rows: runs)."""
        rows = {label: {f"{s} mIoU": self.score(label, s) for s in SUBSETS} for label in self.runs}
        return pd.DataFrame.from_dict(rows, orient="index")

    def gain(self, baseline, other, subset):
        """`other` minus `baseline` on `subset`, with its paired bootstrap interval."""
        return paired_bootstrap(self.runs[baseline][subset], self.runs[other][subset], self.statistic())

    def gain_gap(self, baseline, other):
        """(boundary gain) - (interior gain) of `other` over `baseline`, with its interval."""
        b, o = self.runs[baseline], self.runs[other]
        return difference_of_differences(b["boundary"], o["boundary"], b["interior"], o["interior"],
                                         self.statistic())


def _subset_items(predictor, val, width):
    """{subset: {"ids", "cms"}} of one model on its validation split, and the boundary band."""
    truth = val.targets.to(predictor.device).long()
    bands = torch.from_numpy(np.stack([boundary_band(m, width) for m in val.targets.numpy()]))
    bands = bands.to(predictor.device)
    preds = torch.from_numpy(predicted_masks(predictor, val.images, truth.shape[-2:])).to(predictor.device).long()
    n, ids = predictor.task.num_classes, np.array(val.ids)
    subsets = {"boundary": bands, "interior": ~bands, "all": torch.ones_like(bands)}
    # Pixels outside a subset are routed to an extra class and cut off afterwards.
    return {name: {"ids": ids, "cms": confusion_matrices(torch.where(keep, truth, n), torch.where(keep, preds, n),
                                                         n + 1)[:, :n, :n].cpu().numpy()}
            for name, keep in subsets.items()}, float(bands.float().mean())


def boundary_study(runs, width=7):
    """Per-tile boundary/interior/all confusion matrices of each run's kept checkpoint, each on
    the validation split as that run's own config loads it (image size, val_limit) from its
    data_root; every run must cover the same tiles. `runs` maps a label to a `Run`."""
    study, loaded, share, ids = {}, {}, None, None
    for label, run in runs.items():
        predictor = load_trained(run.dir.checkpoint("kept"))
        s = run.settings
        key = (s.place.data_root, s.task.image_size, s.data.val_limit, s.task.snapshot_ids)
        if key not in loaded:
            loaded[key] = make_task(s).load_validation()
        study[label], share = _subset_items(predictor, loaded[key], width)
        if ids is not None and list(study[label]["all"]["ids"]) != ids:
            raise ConfigError(f"boundary study: {label} is validated on other tiles than the first run "
                              "(its val_limit or data differ); compare runs validated alike")
        ids = list(study[label]["all"]["ids"])
    return BoundaryStudy(study, tuple(predictor.task.spec.scored), share, width)
