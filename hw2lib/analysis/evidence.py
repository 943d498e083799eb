"""Is a difference real? Bootstrap intervals over trainings and validation items, and the
sentences the report writes from them.

    d = compare_runs(runs["fcn32s"], runs["fcn8s"])     # fcn8s minus fcn32s, over their repeats
    format_interval(d, signed=True)  # '+0.0123 (95% CI [-0.0040, +0.0290]; 3 trainings × 29 tiles)'
    compare_sentence("fcn8s", "fcn32s", d, "mIoU")

A run's score depends on which validation items were drawn and on which training happened
(initialisation, data order, augmentation, non-deterministic kernels). Where a run has repeats
(`seeds:`), an interval resamples both levels: in each of the 2,000 resamples each model's
trainings are drawn with replacement and, inside it, the validation items (the same draw for
both models of a comparison, so the comparison is paired); each training's global score is
recomputed from its saved per-item results (no inference is repeated) and averaged over the
trainings drawn. The interval then covers retraining as well as item sampling, and says so:
"3 trainings × 257 tiles". With one training it covers item sampling only, and says that
instead: "1 training: tile sampling only". In each resample every model's mIoU averages the
same classes, those labelled in the items drawn (`pooled_miou`). Seeded: the same inputs give
the same interval.
"""
from dataclasses import dataclass

import numpy as np

from ..data.metrics import pooled_miou
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
class Interval:
    """A statistic (or a difference of two) with its 95% bootstrap interval, and what it covers."""
    estimate: float
    low: float          # 2.5th percentile of the resampled values
    high: float         # 97.5th percentile
    items: int          # validation items resampled
    trainings: tuple    # trainings resampled, per model: (3,) for one model, (b's, a's) for b - a
    resamples: int = RESAMPLES
    noun: str = "item"  # what an item is: "tile", "image"

    @property
    def verdict(self):
        """"higher", "lower" or "tied": whether the interval excludes zero."""
        if self.low > 0:
            return "higher"
        if self.high < 0:
            return "lower"
        return "tied"

    @property
    def covers(self):
        """'3 trainings × 257 tiles', '3 and 1 trainings × 29 tiles' (for b - a: b's, then a's), or
        '1 training: tile sampling only'."""
        if set(self.trainings) == {1}:
            return f"1 training: {self.noun} sampling only"
        counts = self.trainings[0] if len(set(self.trainings)) == 1 else " and ".join(map(str, self.trainings))
        return f"{counts} trainings × {self.items} {self.noun}s"

    @property
    def repeated(self):
        """Whether retraining is part of the interval (some model has repeats)."""
        return max(self.trainings) > 1


def _as_trainings(evaluations):
    """A list of per-training evaluations (one evaluation alone is one training)."""
    return [evaluations] if isinstance(evaluations, dict) else list(evaluations)


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


def _resampled(trainings, statistic, weights, rng, one=False):
    """(resamples,) values: per resample, the statistic of each training under that resample's
    item weights, averaged over the trainings drawn with replacement (`one`: a single training
    drawn, the spread of one new training)."""
    scores = np.stack([statistic(t, weights) for t in trainings])  # (trainings, resamples)
    r = np.arange(weights.shape[0])
    draws = rng.integers(0, len(trainings), (weights.shape[0], 1 if one else len(trainings)))
    if len(trainings) == 1:
        draws[:] = 0
    with np.errstate(invalid="ignore"):
        return scores[draws, r[:, None]].mean(1)


def _whole(trainings, statistic, n):
    """The statistic on all items, averaged over the trainings."""
    return float(np.mean([statistic(t, np.ones((1, n)))[0] for t in trainings]))


def _interval(values, estimate, n, trainings, resamples, noun):
    values = values[np.isfinite(values)]
    low, high = np.percentile(values, [2.5, 97.5]) if len(values) else (np.nan, np.nan)
    return Interval(float(estimate), float(low), float(high), n, tuple(trainings), resamples, noun)


def bootstrap_interval(evaluations, statistic, *, noun="item", resamples=RESAMPLES, seed=0):
    """One model's statistic (its mean over trainings) with its 95% two-level interval."""
    trainings = _as_trainings(evaluations)
    n = _count(trainings[0])
    weights, rng = resample_counts(n, resamples, seed), np.random.default_rng(seed + 1)
    return _interval(_resampled(trainings, statistic, weights, rng), _whole(trainings, statistic, n), n,
                     [len(trainings)], resamples, noun)


def prediction_interval(evaluations, statistic, *, noun="item", resamples=RESAMPLES, seed=0):
    """Where the score of one new training of this recipe would fall, on a new draw of items:
    in each resample one training drawn at random, then the items (95%)."""
    trainings = _as_trainings(evaluations)
    n = _count(trainings[0])
    weights, rng = resample_counts(n, resamples, seed), np.random.default_rng(seed + 1)
    return _interval(_resampled(trainings, statistic, weights, rng, one=True), _whole(trainings, statistic, n), n,
                     [len(trainings)], resamples, noun)


def paired_bootstrap(a, b, statistic, *, noun="item", resamples=RESAMPLES, seed=0):
    """statistic(b) - statistic(a) (each averaged over its trainings) with its 95% interval,
    the items paired across the two models. `a` and `b` are per-item evaluations (dicts of
    arrays, e.g. `RunDir.evaluation("kept")`), or lists of them, one per training."""
    a, b = _as_trainings(a), _as_trainings(b)
    for x in a + b[1:]:
        _check_paired(b[0], x)
    n = _count(a[0])
    weights, rng = resample_counts(n, resamples, seed), np.random.default_rng(seed + 1)
    values = _resampled(b, statistic, weights, rng) - _resampled(a, statistic, weights, rng)
    return _interval(values, _whole(b, statistic, n) - _whole(a, statistic, n), n, [len(b), len(a)], resamples,
                     noun)


def difference_of_differences(a1, b1, a2, b2, statistic, *, noun="item", resamples=RESAMPLES, seed=0):
    """(stat(b1) - stat(a1)) - (stat(b2) - stat(a2)) on the same resamples: e.g. whether a gain
    on boundary pixels exceeds the gain on interior pixels (the same tiles in all four). The
    `1` and `2` evaluations of a model are lists of the same trainings, drawn together."""
    a1, b1, a2, b2 = map(_as_trainings, (a1, b1, a2, b2))
    for x, y in ((a1[0], b1[0]), (a2[0], b2[0])):
        _check_paired(x, y)
    if list(a1[0].get("ids", [])) != list(a2[0].get("ids", [])):
        raise ValueError("a difference of differences needs all four evaluations on the same items")
    n = _count(a1[0])
    weights = resample_counts(n, resamples, seed)

    def gap(rng):
        a_draws = rng.integers(0, len(a1), (resamples, len(a1)))
        b_draws = rng.integers(0, len(b1), (resamples, len(b1)))

        def mean(trainings, draws):
            scores = np.stack([statistic(t, weights) for t in trainings])
            return scores[draws, np.arange(resamples)[:, None]].mean(1)
        with np.errstate(invalid="ignore"):
            return (mean(b1, b_draws) - mean(a1, a_draws)) - (mean(b2, b_draws) - mean(a2, a_draws))
    estimate = ((_whole(b1, statistic, n) - _whole(a1, statistic, n))
                - (_whole(b2, statistic, n) - _whole(a2, statistic, n)))
    return _interval(gap(np.random.default_rng(seed + 1)), estimate, n, [len(b1), len(a1)], resamples, noun)


def format_interval(d, signed=False, digits=4):
    """'0.6973 (95% CI [0.6812, 0.7120]; 3 trainings × 257 tiles)'; `signed` for a difference
    ('+0.0123 ...'); NaN prints as n/a."""
    spec = f"{'+' if signed else ''}.{digits}f"
    return f"{fmt(d.estimate, spec)} (95% CI [{fmt(d.low, spec)}, {fmt(d.high, spec)}]; {d.covers})"


def compare_sentence(better_name, other_name, d, metric):
    """One sentence about `better_name` versus `other_name` that the interval supports."""
    if d.verdict == "higher":
        return (f"{better_name} beats {other_name} by {format_interval(d, signed=True)} {metric} on this "
                f"validation set.")
    if d.verdict == "lower":
        return (f"{better_name} scores lower than {other_name}: {format_interval(d, signed=True)} {metric} on "
                f"this validation set.")
    return (f"{better_name} and {other_name} cannot be told apart on this validation set: "
            f"{format_interval(d, signed=True)} {metric}; the interval includes zero.")


def training_spread(values):
    """'0.3012 ± 0.0081 (3 trainings)': mean and sample standard deviation across repeats."""
    values = np.asarray(values, dtype=np.float64)
    sd = values.std(ddof=1) if len(values) > 1 else float("nan")
    return f"{fmt(values.mean())} ± {fmt(sd)} ({len(values)} training{'s' if len(values) > 1 else ''})"


def evaluations(run, tag="kept"):
    """The per-item evaluations of a run's trainings (itself and its seed repeats)."""
    return [r.dir.evaluation(tag) for r in (run.repeats or [run])]


def compare_runs(run_a, run_b, tag="kept"):
    """`run_b` minus `run_a` (two `Run`s) on their `tag` evaluations ("kept" or "final"), over
    their trainings and the validation items."""
    task = run_a.record.task
    return paired_bootstrap(evaluations(run_a, tag), evaluations(run_b, tag), task.statistic(), noun=task.item)


def run_interval(run, tag="kept"):
    """A run's score (its mean over trainings) with its 95% interval over trainings and items."""
    task = run.record.task
    return bootstrap_interval(evaluations(run, tag), task.statistic(), noun=task.item)


def new_training_interval(run, tag="kept"):
    """Where one new training of the run's recipe would score (see `prediction_interval`)."""
    task = run.record.task
    return prediction_interval(evaluations(run, tag), task.statistic(), noun=task.item)
