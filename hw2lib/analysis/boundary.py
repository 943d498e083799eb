"""Where does a model win? mIoU on pixels near class boundaries versus inside regions.

A pixel is "boundary" when a ground-truth class change lies within `width` // 2 pixels (at the
masks' native size). Each subset's mIoU averages the scored classes labelled in that subset (and,
in a bootstrap resample, in that resample's tiles), the same for every model compared, so a class
a model merely predicts never changes what is averaged. Per-tile confusion matrices of each
subset, for every training of a run, make the gains comparable with the two-level bootstrap of
`evidence.py`. Validation saves them for the band of width `BOUNDARY_WIDTH` (7) with every kept
epoch, so a study at that width predicts nothing; another width predicts each training's
validation split once and saves the result in the run folder (`evaluation/kept_boundary_<width>.npz`,
with the digest of the kept weights it was computed from).
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..data.metrics import BOUNDARY_WIDTH, banded_confusion_matrices
from ..engine.inference import load_trained, predicted_masks
from ..errors import ConfigError
from ..tasks import boundary_key, make_task
from .evidence import difference_of_differences, miou_statistic, paired_bootstrap

SUBSETS = ("boundary", "interior", "all")


@dataclass
class BoundaryStudy:
    runs: dict          # label -> [{subset: {"ids", "cms"}} per training] per-tile confusion matrices
    scored: tuple       # the scored classes; each subset averages those labelled in it
    boundary_share: float
    width: int

    def statistic(self):
        return miou_statistic(self.scored)

    def trainings(self, label, subset):
        return [training[subset] for training in self.runs[label]]

    def score(self, label, subset):
        """`label`'s mIoU on `subset`, averaged over its trainings."""
        return float(np.mean([self.statistic()(items, np.ones((1, len(items["cms"]))))[0]
                              for items in self.trainings(label, subset)]))

    def table(self):
        """mIoU per run and subset, as a DataFrame (rows: runs)."""
        rows = {label: {f"{s} mIoU": self.score(label, s) for s in SUBSETS} for label in self.runs}
        return pd.DataFrame.from_dict(rows, orient="index")

    def gain(self, baseline, other, subset):
        """`other` minus `baseline` on `subset`, with its two-level interval."""
        return paired_bootstrap(self.trainings(baseline, subset), self.trainings(other, subset), self.statistic(),
                                noun="tile")

    def gain_gap(self, baseline, other):
        """(boundary gain) - (interior gain) of `other` over `baseline`, with its interval."""
        return difference_of_differences(self.trainings(baseline, "boundary"), self.trainings(other, "boundary"),
                                          self.trainings(baseline, "interior"), self.trainings(other, "interior"),
                                          self.statistic(), noun="tile")


def _predicted_band(run, width, loaded):
    """{"ids", "cms", boundary_key(width)} of a training's kept checkpoint, predicted again on its
    validation split (as its own settings load it) and saved, for a band validation did not split by."""
    tag, digest = f"kept_boundary_{width}", run.record.kept_digest() or ""
    if (run.dir.path / "evaluation" / f"{tag}.npz").is_file():
        saved = run.dir.evaluation(tag)
        if str(saved["kept_sha256"]) == digest and boundary_key(width) in saved:  # for these very weights
            return saved
    s = run.settings
    key = (s.place.data_root, s.task.image_size, s.data.val_limit, s.task.snapshot_ids)
    if key not in loaded:
        loaded[key] = make_task(s).load_validation()
    val, predictor = loaded[key], load_trained(run.dir.checkpoint("kept"))
    truth = val.targets.to(predictor.device).long()
    preds = torch.from_numpy(predicted_masks(predictor, val.images, truth.shape[-2:])).to(predictor.device).long()
    banded = banded_confusion_matrices(truth, preds, predictor.task.num_classes, width).cpu().numpy()
    saved = {"ids": np.array(val.ids), "cms": banded.sum(1), boundary_key(width): banded[:, 1], "kept_sha256": digest}
    run.dir.save_evaluation(tag, **saved)
    return saved


def subset_items(run, width, loaded):
    """({subset: {"ids", "cms"}}, boundary share) of one training's kept checkpoint. Validation
    saved each tile's confusion matrix split by the band of width `BOUNDARY_WIDTH` with the kept
    epoch (`evaluation/kept.npz`); another width predicts the split again, once."""
    saved = run.dir.path / "evaluation" / "kept.npz"
    kept = run.dir.evaluation("kept") if saved.is_file() else {}
    if boundary_key(width) not in kept:
        kept = _predicted_band(run, width, loaded)
    inside, every = kept[boundary_key(width)], kept["cms"]
    cms = {"boundary": inside, "interior": every - inside, "all": every}
    return {k: {"ids": kept["ids"], "cms": v} for k, v in cms.items()}, float(inside.sum() / every.sum())


def boundary_study(runs, width=BOUNDARY_WIDTH):
    """Per-tile boundary/interior/all confusion matrices of every training (each run and its
    seed repeats) at its kept checkpoint, on the validation split as that run's own settings
    load it; every run must cover the same tiles. `runs` maps a label to a `Run`."""
    study, loaded, share, ids = {}, {}, None, None
    for label, run in runs.items():
        study[label] = []
        for training in run.repeats or [run]:
            items, share = subset_items(training, width, loaded)
            if ids is not None and list(items["all"]["ids"]) != ids:
                raise ConfigError(f"boundary study: {label} is validated on other tiles than the first run "
                                  "(its val_limit or data differ); compare runs validated alike")
            ids = list(items["all"]["ids"])
            study[label].append(items)
    scored = tuple(make_task(next(iter(runs.values())).settings).spec.scored)
    return BoundaryStudy(study, scored, share, width)


def boundary_difference(runs, better, worse, width=BOUNDARY_WIDTH):
    """`better` minus `worse` on boundary pixels, with its two-level interval (a "finer" claim)."""
    return boundary_study({worse: runs[worse], better: runs[better]}, width).gain(worse, better, "boundary")
