"""The notebooks' facade: everything a notebook calls, re-exported from where it lives.

    from hw2lib.workbook import train_runs, results_table, stage_grid, ...

A notebook keeps only its parameters cell, calls, text, and one import line of what it uses.
"""
from .boundary import boundary_study
from .findings import (boundary_sentence, class_shares, compare_pairs, comparison_sentences,
                       comparison_table, describe, findings, per_class, results_table, tsne_sentences)
from .models import describe_model
from .profiles import config
from .run_cache import train_runs
from .tsne import tsne_study
from .viz import (comparison_grid, plot_class_scores, plot_class_shares, plot_confusion,
                  plot_examples, plot_history, plot_tsne, save_figure, stage_grid)
from .widgets import MaskInspector


def architecture(run):
    """The printed network of a run's model, ending with its parameter count."""
    from .tasks import make_task

    cfg = run.cfg
    return describe_model(cfg["model"], make_task(cfg).num_classes, cfg["head_width"], cfg["score_relu"],
                          grouped=True)


def show(markdown):
    """Display markdown text in the notebook (and the exported report)."""
    from IPython.display import Markdown, display

    display(Markdown(markdown))


__all__ = ["MaskInspector", "architecture", "boundary_sentence", "boundary_study", "class_shares",
           "compare_pairs", "comparison_grid", "comparison_sentences", "comparison_table", "config",
           "describe", "findings", "per_class", "plot_class_scores", "plot_class_shares",
           "plot_confusion", "plot_examples", "plot_history", "plot_tsne", "results_table",
           "save_figure", "show", "stage_grid", "train_runs", "tsne_sentences", "tsne_study"]
