"""Tables and sentences written from the numbers, so the report never states what its numbers
could contradict.

Every score is the kept epoch's (the config's `select` rule, named in every table) shown beside
the final epoch's; every difference between two models comes with its paired bootstrap 95%
interval (`evidence.py`), and a sentence says "beats" only when that interval excludes zero.
`runs` is always {label: Run}.
"""
import pandas as pd

from ..data.metrics import class_shares
from ..engine.record import kept_label
from ..numbers import fmt
from ..tasks import make_task
from .evidence import (compare_runs, compare_sentence, correct_statistic, format_difference,
                       paired_bootstrap, seed_spread)
from .seed import seed_columns

COLLAPSE_SHARE = 0.95


def collapsed_class(record, epoch=None):
    """The class a run's kept epoch (or `epoch`) predicts for >= 95% of its items, else None."""
    task = make_task(record["params"])
    epoch = epoch or record["best"]["epoch"]
    row = next(r for r in record["history"] if r["epoch"] == epoch)
    return task.collapsed(row, COLLAPSE_SHARE)


def results_table(runs, seed=None):
    """One row per run: the kept epoch (the header names the rule), its score and val loss, the
    final epoch's score, a collapse flag, mean ± sd across seeds where the run has repeats, and
    with `seed` the seed report's number beside it (`seed.seed_columns`)."""
    rules = {run.record["params"]["select"] for run in runs.values()}
    rows = {}
    for label, run in runs.items():
        r, task = run.record, make_task(run.record["params"])
        name, metric, final = task.metric_name, task.metric, r["history"][-1]
        collapsed = collapsed_class(r)
        kept = r["best"]["epoch"] if len(rules) == 1 else f"{r['best']['epoch']} ({r['params']['select']})"
        row = {"model": r["params"]["model"], "epochs": r["params"]["epochs"],
               kept_label(*rules) if len(rules) == 1 else "epoch kept": kept,
               f"{name} (kept epoch)": fmt(r["best"][metric]), "val loss (kept epoch)": fmt(r["best"]["val_loss"]),
               f"{name} (final epoch)": fmt(final[metric]),
               "collapsed": "—" if collapsed is None else f"yes: {collapsed}"}
        if len(run.repeats) > 1:
            row[f"{name} across seeds"] = seed_spread([x.record["best"][metric] for x in run.repeats])
        if seed is not None:
            row.update(seed_columns(label, run, seed))
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index").fillna("—")


def compare_pairs(runs, pairs):
    """{"B vs A": Difference (B minus A)} for (B, A) label pairs of `runs`."""
    return {f"{b} vs {a}": compare_runs(runs[a].dir, runs[b].dir) for b, a in pairs}


READINGS = {"higher": "first is better", "lower": "first is worse", "tied": "cannot be told apart"}


def comparison_table(differences, metric):
    return pd.DataFrame.from_dict(
        {k: {f"difference in {metric}": format_difference(d), "reading": READINGS[d.verdict]}
         for k, d in differences.items()}, orient="index")


def describe(label, run):
    """'fcn8s: mIoU 0.3012 at epoch 5 of 5 (epoch kept: final epoch); the final epoch scores ...'."""
    r, task = run.record, make_task(run.record["params"])
    metric, best = task.metric, run.record["best"]
    text = (f"{label}: {task.metric_name} {fmt(best[metric])} at epoch {best['epoch']} of "
            f"{r['params']['epochs']} ({kept_label(r['params']['select'])}); the final epoch scores "
            f"{fmt(r['history'][-1][metric])}.")
    if task.chance is not None:
        text += f" Chance is {fmt(task.chance)}."
    if len(run.repeats) > 1:
        text += f" Across seeds: {seed_spread([x.record['best'][metric] for x in run.repeats])}."
    collapsed = collapsed_class(r)
    if collapsed is not None:
        text += (f" It is collapsed: at that epoch it predicts {collapsed!r} for at least "
                 f"{COLLAPSE_SHARE:.0%} of the {task.unit}.")
    return text


def comparison_sentences(differences, metric):
    """One supported sentence per "B vs A" difference."""
    out = []
    for key, d in differences.items():
        b, a = key.split(" vs ")
        out.append(compare_sentence(b, a, d, metric))
    return out


def where_the_gain_is(gap, boundary_gain, interior_gain):
    """What the gap (boundary change minus interior change) supports, by the signs of the two
    changes: a larger gain, a smaller loss, or a gain on one side and a loss on the other."""
    if gap.verdict == "tied":
        return ("Whether the change differs between boundary and interior pixels cannot be told on "
                f"this validation set (boundary minus interior: {format_difference(gap)}).")
    more, less = ("boundary", "interior") if gap.verdict == "higher" else ("interior", "boundary")
    gains = {"boundary": boundary_gain.estimate, "interior": interior_gain.estimate}
    if gains[less] >= 0:
        what = f"The gain is larger on {more} pixels"
    elif gains[more] <= 0:
        what = f"The loss is smaller on {more} pixels"
    else:
        what = f"It gains on {more} pixels and loses on {less} pixels"
    return f"{what} (boundary minus interior: {format_difference(gap)})."


def boundary_sentence(study, baseline, other):
    """Where `other` gains over `baseline`: boundary and interior changes with intervals, and a
    claim about where the change is only when the gap between the two is itself clear."""
    gb, gi = study.gain(baseline, other, "boundary"), study.gain(baseline, other, "interior")
    return (f"{other} minus {baseline}: boundary pixels {format_difference(gb)}, interior pixels "
            f"{format_difference(gi)} mIoU. " + where_the_gain_is(study.gain_gap(baseline, other), gb, gi))


def tsne_sentences(study):
    """What the t-SNE numbers support: k-NN accuracy per checkpoint against chance, and the
    change between the first and last checkpoint with its interval."""
    titles = list(study.quality)
    out = []
    for title in titles:
        q = study.quality[title]
        out.append(f"At {title}, a validation image's {q['k']} nearest neighbours in the penultimate "
                   f"features vote its own class {fmt(q['knn_acc_features'], '.1%')} of the time "
                   f"({fmt(q['knn_acc_tsne'], '.1%')} in the 2-D t-SNE; chance {fmt(q['chance'], '.1%')}); "
                   f"silhouette {fmt(q['silhouette_features'], '.3f')} in the features.")
    if len(titles) > 1:
        first, last = titles[0], titles[-1]
        d = paired_bootstrap({"correct": study.knn[first]}, {"correct": study.knn[last]}, correct_statistic)
        change = {"higher": "rises", "lower": "falls", "tied": "changes"}[d.verdict]
        tail = "" if d.verdict != "tied" else "; the interval includes zero, so no change can be claimed"
        out.append(f"From {first} to {last} the feature-space k-NN accuracy {change} by "
                   f"{format_difference(d)}{tail}.")
    return out


def findings(sentences):
    """The Findings section's markdown: one bullet per sentence."""
    body = "\n".join(f"- {s}" for s in sentences if s)
    return ("## Findings\n\nGenerated from the numbers above; differences carry paired bootstrap 95% "
            f"intervals.\n\n{body}")


def per_class(run):
    """{class: score} at the kept epoch: IoU per scored class, or accuracy per class."""
    return make_task(run.record["params"]).per_class(run.record["best"])


def predicted_and_true_shares(run):
    """({class: predicted share}, {class: true share}) at the kept epoch, from its confusion
    matrix (the true shares are the labels', the same for every model)."""
    cm, names = run.record["best"]["confusion_matrix"], make_task(run.record["params"]).class_names
    return dict(zip(names, class_shares(cm, 0).tolist())), dict(zip(names, class_shares(cm, 1).tolist()))
