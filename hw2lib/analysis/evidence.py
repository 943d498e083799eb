"""Is a difference real? Bootstrap confidence intervals over validation items, and the sentences
the report writes from them.

    diff = compare_runs("runs/sample/fcn32s", "runs/sample/fcn8s")   # fcn8s minus fcn32s
    format_difference(diff)    # '+0.0123 (95% CI [-0.0040, +0.0290])'
    compare_sentence("fcn8s", "fcn32s", diff, "mIoU")

Both models are scored on the same resampled items (tiles for segmentation, images for
classification): the items are drawn with replacement, the global score is recomputed from the
resampled per-item results (saved when the checkpoint was evaluated, so no inference is repeated)
for both models, and the 2.5th and 97.5th percentiles of the differences bound the 95% interval.
In each resample both models' mIoU average the same classes, those labelled in that resample
(`pooled_miou`). Seeded: the same inputs give the same interval.
"""
from dataclasses import dataclass

import numpy as np

from ..data.metrics import pooled_miou
from ..engine.run_dir import RunDir
from ..numbers import fmt

RESAMPLES = 2000


def resample_counts(n_items, resamples=RESAMPLES, seed=0):
    """(resamples, n_items): how often each item is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_items, (resamples, n_items))
    offsets = np.arange(resamples)[:, None] * n_items
    return np.bincount((draws + offsets).ravel(), minlength=resamples * n_items).reshape(resamples, n_items)


def miou_statistic(classes):
    """mIoU over `classes` of per-item confusion matrices, for each weighting of the items."""
    return lambda items, weights: pooled_miou(items["cms"], weights, classes)


def correct_statistic(items, weights):
    """Mean of a per-item 0/1 (or any per-item value) array `items["correct"]`."""
    return weights @ np.asarray(items["correct"], dtype=np.float64) / weights.sum(1)


@dataclass
class Difference:
    """A statistic (or a difference of two) on all items, with its 95% bootstrap interval."""
    estimate: float
    low: float       # 2.5th percentile of the resampled values
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


def _count(items):
    return len(next(v for k, v in items.items() if k not in ("ids", "epoch")))


def _labels(items):
    """What a per-item evaluation says of the labels: per-tile label counts, or labels."""
    if "cms" in items:
        return np.asarray(items["cms"]).sum(-1)
    return np.asarray(items.get("labels", []))


def _check_paired(a, b):
    ids_a, ids_b = a.get("ids"), b.get("ids")
    if ids_a is not None and ids_b is not None and list(ids_a) != list(ids_b):
        raise ValueError("a paired comparison needs both models scored on the same items in the "
                         "same order; these evaluations differ")
    if not np.array_equal(_labels(a), _labels(b)):
        raise ValueError("a paired comparison needs both models scored on the same labels; these "
                         "evaluations were made on different data")


def _interval(values, estimate, n, resamples):
    values = values[np.isfinite(values)]
    low, high = np.percentile(values, [2.5, 97.5]) if len(values) else (np.nan, np.nan)
    return Difference(float(estimate), float(low), float(high), n, resamples)


def bootstrap_interval(items, statistic, resamples=RESAMPLES, seed=0):
    """One model's statistic on all items with its 95% bootstrap interval over the items."""
    n = _count(items)
    return _interval(statistic(items, resample_counts(n, resamples, seed)),
                     statistic(items, np.ones((1, n)))[0], n, resamples)


def paired_bootstrap(a, b, statistic, resamples=RESAMPLES, seed=0):
    """The difference statistic(b) - statistic(a) with its 95% paired bootstrap interval.

    `a` and `b` are per-item evaluations (dicts of arrays, e.g. `RunDir.evaluation("kept")`)."""
    _check_paired(a, b)
    n = _count(a)
    whole, weights = np.ones((1, n)), resample_counts(n, resamples, seed)
    return _interval(statistic(b, weights) - statistic(a, weights),
                     statistic(b, whole)[0] - statistic(a, whole)[0], n, resamples)


def difference_of_differences(a1, b1, a2, b2, statistic, *, resamples=RESAMPLES, seed=0):
    """(stat(b1) - stat(a1)) - (stat(b2) - stat(a2)) on the same resamples: e.g. whether a gain
    on boundary pixels exceeds the gain on interior pixels (the same tiles in all four)."""
    for x, y in ((a1, b1), (a2, b2)):
        _check_paired(x, y)
    if list(a1.get("ids", [])) != list(a2.get("ids", [])):
        raise ValueError("a difference of differences needs all four evaluations on the same items")
    n = _count(a1)

    def gap(w):
        return (statistic(b1, w) - statistic(a1, w)) - (statistic(b2, w) - statistic(a2, w))
    return _interval(gap(resample_counts(n, resamples, seed)), gap(np.ones((1, n)))[0], n, resamples)


def format_difference(d, digits=4):
    """'+0.0123 (95% CI [-0.0040, +0.0290])'; NaN prints as n/a."""
    spec = f"+.{digits}f"
    return f"{fmt(d.estimate, spec)} (95% CI [{fmt(d.low, spec)}, {fmt(d.high, spec)}])"


def format_interval(d, digits=4):
    """'0.6973 (95% CI [0.6812, 0.7120])' for a single model's statistic."""
    spec = f".{digits}f"
    return f"{fmt(d.estimate, spec)} (95% CI [{fmt(d.low, spec)}, {fmt(d.high, spec)}])"


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
    return f"{fmt(values.mean())} ± {fmt(sd)} ({len(values)} seeds)"


def compare_runs(run_a, run_b, tag="kept"):
    """`run_b` minus `run_a` on their `tag` evaluations ("kept": the kept epoch, or "final"),
    with the paired bootstrap interval. Run folders or RunDirs."""
    a, b = RunDir(run_a), RunDir(run_b)
    return paired_bootstrap(a.evaluation(tag), b.evaluation(tag), a.record().task.statistic())


def run_interval(run, tag="kept"):
    """A run's own score on its `tag` evaluation with its 95% bootstrap interval over items."""
    run = RunDir(run)
    return bootstrap_interval(run.evaluation(tag), run.record().task.statistic())
