"""Where does a model win? mIoU on pixels near class boundaries versus inside regions.

A pixel is "boundary" when a ground-truth class change lies within `width` // 2 pixels (at the
masks' native size). Each subset's mIoU averages a fixed class set taken from the labels (the
scored classes with labelled pixels in that subset), the same for every model compared, so a
class a model merely predicts never changes what is averaged. Per-tile confusion matrices of each
subset make the gains comparable with a paired bootstrap (`evidence.py`).
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .evidence import miou_statistic, paired_bootstrap
from .inference import load_trained, predicted_masks, tile_confusion_matrices
from .metrics import boundary_band
from .run_dir import RunDir
from .tasks import make_task

SUBSETS = ("boundary", "interior", "all")


@dataclass
class BoundaryStudy:
    runs: dict          # label -> {subset: {"ids", "cms"}} per-tile confusion matrices
    classes: dict       # subset -> the scored classes averaged (present in that subset's labels)
    boundary_share: float
    width: int

    def score(self, label, subset):
        """`label`'s mIoU on `subset` over that subset's fixed class set."""
        items = self.runs[label][subset]
        return float(miou_statistic(self.classes[subset])(items, np.ones((1, len(items["cms"]))))[0])

    def table(self):
        """mIoU per run and subset, as a DataFrame (rows: runs)."""
        import pandas as pd

        rows = {label: {f"{s} mIoU": self.score(label, s) for s in SUBSETS} for label in self.runs}
        return pd.DataFrame.from_dict(rows, orient="index")

    def gain(self, baseline, other, subset):
        """`other` minus `baseline` on `subset`, with its paired bootstrap interval."""
        return paired_bootstrap(self.runs[baseline][subset], self.runs[other][subset],
                                miou_statistic(self.classes[subset]))


def boundary_study(runs, data_root, width=7):
    """Per-tile boundary/interior/all confusion matrices of each run's best checkpoint on the
    validation set under `data_root` (the current DATA_ROOT, not the path stored in the
    checkpoint); only the validation split is loaded. `runs` maps a label to a run folder."""
    study, val, bands = {}, None, None
    for label, run_dir in runs.items():
        predictor = load_trained(RunDir(run_dir).checkpoint("best"))
        if val is None:  # every run of a comparison shares its validation data
            task = make_task({**predictor.cfg, "data_root": str(Path(data_root))})
            val = task.load_validation()
            truth = val.targets.to(predictor.device).long()
            bands = torch.from_numpy(np.stack([boundary_band(m, width) for m in val.targets.numpy()]))
            bands = bands.to(predictor.device)
        preds = torch.from_numpy(predicted_masks(predictor, val.images, truth.shape[-2:])).to(predictor.device).long()
        n, ids = task.num_classes, np.array(val.ids)
        # Pixels outside a subset are routed to an extra class and cut off afterwards.
        subsets = {"boundary": bands, "interior": ~bands, "all": torch.ones_like(bands)}
        study[label] = {}
        for name, keep in subsets.items():
            cms = tile_confusion_matrices(torch.where(keep, truth, n), torch.where(keep, preds, n), n + 1)
            study[label][name] = {"ids": ids, "cms": cms[:, :n, :n].cpu().numpy()}
    first = next(iter(study.values()))
    classes = {name: [c for c in task.spec.scored if first[name]["cms"][:, c, :].sum() > 0]
               for name in SUBSETS}
    return BoundaryStudy(study, classes, float(bands.float().mean()), width)
