"""Tables and sentences written from the numbers, so the report never states what its numbers
could contradict.

Every score is "the best epoch on validation" (the epoch whose checkpoint is kept) and is shown
beside the final epoch's; every difference between two models comes with its paired bootstrap
95% interval (`evidence.py`), and a sentence says "beats" only when that interval excludes zero.
"""
from .evidence import compare_runs, compare_sentence, format_difference, seed_spread
from .tasks import make_task

COLLAPSE_SHARE = 0.95


def _metric(record):
    return make_task(record["params"]).metric


def metric_name(record):
    return make_task(record["params"]).metric_name


def collapsed_class(record, epoch=None):
    """The class a run's best epoch (or `epoch`) predicts on >= 95% of pixels/images, else None."""
    task = make_task(record["params"])
    epoch = epoch or record["best"]["epoch"]
    row = next(r for r in record["history"] if r["epoch"] == epoch)
    return task.collapsed(row, COLLAPSE_SHARE)


def results_table(runs):
    """One row per run: the best epoch on validation, its score and val loss, the final epoch's
    score, a collapse flag, and mean ± sd across seeds where the run has repeats."""
    import pandas as pd

    rows = {}
    for label, run in runs.items():
        r, metric = run.record, _metric(run.record)
        name = metric_name(r)
        final = r["history"][-1]
        collapsed = collapsed_class(r)
        row = {"model": r["params"]["model"], "epochs": r["params"]["epochs"],
               "best epoch on validation": r["best"]["epoch"], f"{name} (best epoch)": r["best"][metric],
               "val loss (best epoch)": r["best"]["val_loss"], f"{name} (final epoch)": final[metric],
               "collapsed": "—" if collapsed is None else f"yes: {collapsed}"}
        if len(run.repeats) > 1:
            row[f"{name} across seeds"] = seed_spread([x.record["best"][metric] for x in run.repeats])
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index").fillna("—")


def compare_pairs(pairs):
    """{"B vs A": Difference} for pairs (label_b, run_b, label_a, run_a): B minus A."""
    return {f"{lb} vs {la}": compare_runs(ra.dir, rb.dir) for lb, rb, la, ra in pairs}


def comparison_table(differences, metric):
    import pandas as pd

    return pd.DataFrame.from_dict(
        {k: {f"difference in {metric}": format_difference(d),
             "reading": {"higher": "first is better", "lower": "first is worse",
                         "tied": "cannot be told apart"}[d.verdict]} for k, d in differences.items()},
        orient="index")


def describe(label, run):
    """'FCN8s: mIoU 0.3012 at epoch 4 of 5 (best epoch on validation); final epoch 0.2987.'"""
    r = run.record
    metric, name = _metric(r), metric_name(r)
    text = (f"{label}: {name} {r['best'][metric]:.4f} at epoch {r['best']['epoch']} of "
            f"{r['params']['epochs']} (best epoch on validation); the final epoch scores "
            f"{r['history'][-1][metric]:.4f}.")
    if r["params"]["task"] == "classification":
        text += f" Chance is {1 / r['params']['num_classes']:.4f}."
    if len(run.repeats) > 1:
        text += f" Across seeds: {seed_spread([x.record['best'][metric] for x in run.repeats])}."
    collapsed = collapsed_class(r)
    if collapsed is not None:
        text += (f" It is collapsed: at that epoch it predicts {collapsed!r} for at least "
                 f"{COLLAPSE_SHARE:.0%} of the {'pixels' if r['params']['task'] == 'segmentation' else 'images'}.")
    return text


def comparison_sentences(differences, metric):
    """One supported sentence per "B vs A" difference."""
    out = []
    for key, d in differences.items():
        b, a = key.split(" vs ")
        out.append(compare_sentence(b, a, d, metric))
    return out


def boundary_sentence(study, baseline, other):
    """Where `other` gains over `baseline`: boundary and interior gains with intervals, and a
    claim about where most of the gain is only when the gap between the two is itself clear."""
    from .evidence import difference_of_differences, miou_statistic

    gb, gi = study.gain(baseline, other, "boundary"), study.gain(baseline, other, "interior")
    text = (f"{other} minus {baseline}: boundary pixels {format_difference(gb)}, interior pixels "
            f"{format_difference(gi)} mIoU.")
    gap = difference_of_differences(
        study.runs[baseline]["boundary"], study.runs[other]["boundary"],
        study.runs[baseline]["interior"], study.runs[other]["interior"],
        miou_statistic(study.classes["boundary"]), miou_statistic(study.classes["interior"]))
    if gap.verdict == "higher":
        text += f" The gain is larger on boundary pixels (by {format_difference(gap)})."
    elif gap.verdict == "lower":
        text += f" The gain is larger on interior pixels (boundary minus interior: {format_difference(gap)})."
    else:
        text += (f" Whether it is larger near boundaries cannot be told on this validation set "
                 f"(boundary minus interior gain: {format_difference(gap)}).")
    return text


def tsne_sentences(study):
    """What the t-SNE numbers support: k-NN accuracy per checkpoint against chance, and the
    change between the first and last checkpoint with its interval."""
    from .evidence import correct_statistic, paired_bootstrap

    titles = list(study.quality)
    out = []
    for title in titles:
        q = study.quality[title]
        out.append(f"At {title}, a validation image's {q['k']} nearest neighbours in the penultimate "
                   f"features vote its own class {q['knn_acc_features']:.1%} of the time "
                   f"({q['knn_acc_tsne']:.1%} in the 2-D t-SNE; chance {q['chance']:.1%}); "
                   f"silhouette {q['silhouette_features']:.3f} in the features.")
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
    return f"## Findings\n\nGenerated from the numbers above; differences carry paired bootstrap 95% intervals.\n\n{body}"



def per_class(run):
    """{class: score} at the best epoch: IoU per scored class, or accuracy per class."""
    best = run.record["best"]
    if "val_iou" in best:
        return best["val_iou"]
    return {str(i): v for i, v in enumerate(best["per_class_acc"])}


def class_shares(run):
    """({class: predicted share}, {class: true share}) at the best epoch, from its confusion
    matrix (the true shares are the labels', the same for every model)."""
    from .metrics import class_shares as shares

    cm = run.record["best"]["confusion_matrix"]
    task = make_task(run.record["params"])
    names = task.spec.class_names if task.spec else [str(i) for i in range(task.num_classes)]
    return dict(zip(names, shares(cm, 0).tolist())), dict(zip(names, shares(cm, 1).tolist()))
