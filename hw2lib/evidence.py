"""Is a difference real? Paired bootstrap confidence intervals over validation items, and the
sentences the report writes from them.

    diff = paired_bootstrap(fcn32s_items, fcn8s_items, miou_statistic(spec.scored))
    format_difference(diff)    # '+0.0123 (95% CI [-0.0040, +0.0290])'
    compare_sentence("FCN8s", "FCN32s", diff, "mIoU")

Both models are scored on the same resampled items (tiles for segmentation, images for
classification): the items are drawn with replacement, the global score is recomputed from the
resampled per-item confusion matrices (saved when the checkpoint was evaluated, so no inference
is repeated) for both models, and the 2.5th and 97.5th percentiles of the differences bound the
95% interval. Seeded: the same inputs give the same interval.
"""
import warnings
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000


def resample_counts(n_items, resamples=RESAMPLES, seed=0):
    """(resamples, n_items): how often each item is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_items, (resamples, n_items))
    offsets = np.arange(resamples)[:, None] * n_items
    return np.bincount((draws + offsets).ravel(), minlength=resamples * n_items).reshape(resamples, n_items)


def _iou(cms, classes):
    """IoU of `classes` for a stack of confusion matrices (..., C, C), nan where 0/0."""
    tp = np.stack([cms[..., c, c] for c in classes], -1).astype(np.float64)
    fp = np.stack([cms[..., :, c].sum(-1) for c in classes], -1)
    fn = np.stack([cms[..., c, :].sum(-1) for c in classes], -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / (fp + fn - tp)


def miou_statistic(classes):
    """Mean IoU over a fixed class set from per-item confusion matrices, for each weighting of
    the items. A class absent from a resample's labels and predictions (0/0) is left out of that
    resample's mean rather than making it nan."""
    classes = list(classes)

    def statistic(items, weights):
        cms = items["cms"]
        pooled = np.tensordot(weights, cms.reshape(len(cms), -1), axes=1).reshape(-1, *cms.shape[1:])
        with warnings.catch_warnings():  # an all-nan resample is nan, silently
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(_iou(pooled, classes), axis=-1)
    return statistic


def accuracy_statistic(items, weights):
    """Accuracy of per-image predictions for each weighting of the images."""
    correct = (np.asarray(items["labels"]) == np.asarray(items["preds"])).astype(np.float64)
    return weights @ correct / weights.sum(1)


def correct_statistic(items, weights):
    """Mean of a per-item 0/1 (or any per-item value) array `items["correct"]`."""
    return weights @ np.asarray(items["correct"], dtype=np.float64) / weights.sum(1)


@dataclass
class Difference:
    estimate: float  # statistic(b) - statistic(a) on all items
    low: float       # 2.5th percentile of the resampled differences
    high: float      # 97.5th percentile
    items: int
    resamples: int

    @property
    def verdict(self):
        """"higher", "lower" or "tied": whether the interval excludes zero."""
        if self.low > 0:
            return "higher"
        if self.high < 0:
            return "lower"
        return "tied"


def _check_paired(a, b):
    ids_a, ids_b = a.get("ids"), b.get("ids")
    if ids_a is not None and ids_b is not None and list(ids_a) != list(ids_b):
        raise ValueError("a paired comparison needs both models scored on the same items in the "
                         "same order; these evaluations differ")


def paired_bootstrap(a, b, statistic, resamples=RESAMPLES, seed=0):
    """The difference statistic(b) - statistic(a) with its 95% paired bootstrap interval.

    `a` and `b` are per-item evaluations (dicts of arrays, e.g. `RunDir.evaluation("best")`)."""
    _check_paired(a, b)
    n = len(next(v for k, v in a.items() if k not in ("ids", "epoch")))
    whole = np.ones((1, n))
    estimate = float(statistic(b, whole)[0] - statistic(a, whole)[0])
    weights = resample_counts(n, resamples, seed)
    diffs = statistic(b, weights) - statistic(a, weights)
    diffs = diffs[np.isfinite(diffs)]
    low, high = np.percentile(diffs, [2.5, 97.5]) if len(diffs) else (np.nan, np.nan)
    return Difference(estimate, float(low), float(high), n, resamples)


def difference_of_differences(a1, b1, a2, b2, stat1, stat2, resamples=RESAMPLES, seed=0):
    """(stat1(b1) - stat1(a1)) - (stat2(b2) - stat2(a2)) on the same resamples: e.g. whether a
    gain on boundary pixels exceeds the gain on interior pixels."""
    for x, y in ((a1, b1), (a2, b2), (a1, a2)):
        _check_paired(x, y)
    n = len(a1["cms"])
    whole = np.ones((1, n))

    def gap(w):
        return (stat1(b1, w) - stat1(a1, w)) - (stat2(b2, w) - stat2(a2, w))
    diffs = gap(resample_counts(n, resamples, seed))
    diffs = diffs[np.isfinite(diffs)]
    low, high = np.percentile(diffs, [2.5, 97.5])
    return Difference(float(gap(whole)[0]), float(low), float(high), n, resamples)


def format_difference(d, digits=4):
    """'+0.0123 (95% CI [-0.0040, +0.0290])'."""
    return f"{d.estimate:+.{digits}f} (95% CI [{d.low:+.{digits}f}, {d.high:+.{digits}f}])"


def compare_sentence(better_name, other_name, d, metric):
    """One sentence about `better_name` versus `other_name` that the interval supports."""
    if d.verdict == "higher":
        return (f"{better_name} beats {other_name} by {format_difference(d)} {metric} on this "
                f"validation set ({d.items} items, {d.resamples} paired bootstrap resamples).")
    if d.verdict == "lower":
        return (f"{better_name} scores lower than {other_name}: {format_difference(d)} {metric} on "
                f"this validation set ({d.items} items).")
    return (f"{better_name} and {other_name} cannot be told apart on this validation set: "
            f"{format_difference(d)} {metric} ({d.items} items); the interval includes zero.")


def seed_spread(values):
    """'0.3012 ± 0.0081 (3 seeds)': mean and sample standard deviation across seed repeats."""
    values = np.asarray(values, dtype=np.float64)
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{values.mean():.4f} ± {sd:.4f} ({len(values)} seeds)"


def run_statistic(record):
    """The statistic that scores a run's saved per-item evaluation: official-class mIoU for
    segmentation, accuracy for classification."""
    if record["params"]["task"] == "classification":
        return accuracy_statistic
    from .label_specs import get_spec

    return miou_statistic(get_spec(record["params"]["classes"]).scored)


def compare_runs(run_a, run_b, tag="best"):
    """`run_b` minus `run_a` on their `tag` evaluations ("best" epoch on validation, or
    "final"), with the paired bootstrap interval. Run folders or RunDirs."""
    from .run_dir import RunDir

    a, b = RunDir(run_a), RunDir(run_b)
    return paired_bootstrap(a.evaluation(tag), b.evaluation(tag), run_statistic(a.record()))
