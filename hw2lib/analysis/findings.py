"""Tables and sentences written from the numbers, so the report never states what its numbers
could contradict.

Every score is the kept epoch's (the settings' `select` rule, named in every table) shown beside
the final epoch's; every difference between two models comes with its 95% interval over
trainings and validation items, labelled with what it covers (`evidence.py`), and a sentence
says "beats" only when that interval excludes zero. `runs` is always {label: Run}.
"""
import pandas as pd

from ..data.metrics import class_shares
from ..engine.record import kept_label
from ..numbers import fmt
from ..tasks import COLLAPSE_SHARE
from .evidence import (compare_runs, compare_sentence, correct_statistic, format_interval, paired_bootstrap,
                       training_spread)
from .reference import reference_columns


def results_table(runs, reference=None):
    """One row per run: the kept epoch (the header names the rule), its score and val loss, the
    final epoch's score, a collapse flag, mean ± sd across trainings where the run has repeats, and
    with `reference` the reference report's number beside it (`reference.reference_columns`)."""
    rules = {run.record.rule for run in runs.values()}
    rows = {}
    for label, run in runs.items():
        r = run.record
        name = r.task.metric_name
        collapsed = r.collapsed_class()
        kept = r.kept_epoch if len(rules) == 1 else f"{r.kept_epoch} ({r.rule})"
        row = {"model": run.settings.model.model, "epochs": run.settings.train.epochs,
               kept_label(*rules) if len(rules) == 1 else "epoch kept": kept,
               f"{name} (kept epoch)": fmt(r.kept_score()),
               "val loss (kept epoch)": f"{fmt(r.kept_loss())} ({r.task.loss_name})",
               f"{name} (final epoch)": fmt(r.final_score()),
               "collapsed": "—" if collapsed is None else f"yes: {collapsed}"}
        if len(run.repeats) > 1:
            row[f"{name} across trainings"] = training_spread([x.record.kept_score() for x in run.repeats])
        if reference is not None:
            row.update(reference_columns(label, run, reference))
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index").fillna("—")


def compare_pairs(runs, pairs):
    """{"B vs A": Interval (B minus A)} for (B, A) label pairs of `runs`."""
    return {f"{b} vs {a}": compare_runs(runs[a], runs[b]) for b, a in pairs}


READINGS = {"higher": "first is better", "lower": "first is worse", "tied": "cannot be told apart"}


def comparison_table(differences, metric):
    return pd.DataFrame.from_dict(
        {k: {f"difference in {metric}": format_interval(d, signed=True), "reading": READINGS[d.verdict]}
         for k, d in differences.items()}, orient="index")


def describe(label, run):
    """'fcn8s: mIoU 0.3012 at epoch 5 of 5 (epoch kept: final epoch); the final epoch scores ...'."""
    r = run.record
    task = r.task
    text = (f"{label}: {task.metric_name} {fmt(r.kept_score())} at epoch {r.kept_epoch} of "
            f"{run.settings.train.epochs} ({kept_label(r.rule)}); the final epoch scores "
            f"{fmt(r.final_score())}.")
    if task.chance is not None:
        text += f" Chance is {fmt(task.chance)}."
    if len(run.repeats) > 1:
        text += f" Across its trainings: {training_spread([x.record.kept_score() for x in run.repeats])}."
    collapsed = r.collapsed_class()
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
                f"this validation set (boundary minus interior: {format_interval(gap, signed=True)}).")
    more, less = ("boundary", "interior") if gap.verdict == "higher" else ("interior", "boundary")
    gains = {"boundary": boundary_gain.estimate, "interior": interior_gain.estimate}
    if gains[less] >= 0:
        what = f"The gain is larger on {more} pixels"
    elif gains[more] <= 0:
        what = f"The loss is smaller on {more} pixels"
    else:
        what = f"It gains on {more} pixels and loses on {less} pixels"
    return f"{what} (boundary minus interior: {format_interval(gap, signed=True)})."


def boundary_sentence(study, baseline, other):
    """Where `other` gains over `baseline`: boundary and interior changes with intervals, and a
    claim about where the change is only when the gap between the two is itself clear."""
    gb, gi = study.gain(baseline, other, "boundary"), study.gain(baseline, other, "interior")
    return (f"{other} minus {baseline}: boundary pixels {format_interval(gb, signed=True)}, interior pixels "
            f"{format_interval(gi, signed=True)} mIoU. " + where_the_gain_is(study.gain_gap(baseline, other), gb, gi))


def tsne_sentences(study):
    """What the t-SNE numbers support: k-NN accuracy per checkpoint against chance, and the
    change between the first and last checkpoint with its interval."""
    titles = list(study.quality)
    out = []
    for title in titles:
        q = study.quality[title]
        out.append(f"At {title}, a validation image's {q['k']} nearest neighbours in these "
                   f"features vote its own class {fmt(q['knn_acc_features'], '.1%')} of the time "
                   f"({fmt(q['knn_acc_tsne'], '.1%')} in the 2-D t-SNE; chance {fmt(q['chance'], '.1%')}); "
                   f"silhouette {fmt(q['silhouette_features'], '.3f')} in the features.")
    if len(titles) > 1:
        first, last = titles[0], titles[-1]
        d = paired_bootstrap({"correct": study.knn[first]}, {"correct": study.knn[last]}, correct_statistic,
                             noun="image")
        change = {"higher": "rises", "lower": "falls", "tied": "changes"}[d.verdict]
        tail = "" if d.verdict != "tied" else "; the interval includes zero, so no change can be claimed"
        out.append(f"From {first} to {last} the feature-space k-NN accuracy {change} by "
                   f"{format_interval(d, signed=True)}{tail}.")
    return out


def findings(sentences):
    """The Findings section's markdown: one bullet per sentence."""
    body = "\n".join(f"- {s}" for s in sentences if s)
    return ("## Findings\n\nGenerated from the numbers above; each interval is a 95% bootstrap interval and "
            "says what it covers: several trainings and the validation items, or one training's item sampling "
            f"only.\n\n{body}")


def predicted_and_true_shares(run):
    """({class: predicted share}, {class: true share}) at the kept epoch, from its confusion
    matrix (the true shares are the labels', the same for every model)."""
    cm, names = run.record.kept_confusion(), run.record.class_names
    return dict(zip(names, class_shares(cm, 0).tolist())), dict(zip(names, class_shares(cm, 1).tolist()))
