"""The notebooks' facade: everything a notebook calls, re-exported from where it lives.

    from hw2lib.workbook import load_runs, results_table, stage_grid, ...

A notebook keeps only its parameters cell, calls, text, and one import line of what it uses.
Every function of several runs takes them as {label: Run}, as `load_runs` returns them; a run's
numbers are asked of its `RunRecord` (`run.record.kept_score()`, `.kept_confusion()`,
`.class_names`, `.per_class()`).
"""
import pandas as pd
from IPython.display import Markdown, display

from .analysis.boundary import boundary_study
from .analysis.findings import (boundary_sentence, compare_pairs, comparison_sentences, comparison_table,
                                describe, findings, predicted_and_true_shares, results_table, tsne_sentences)
from .analysis.reference import LOVASZ_BUG, reference_numbers, reference_sentences
from .analysis.tsne import tsne_study
from .models import layer_table
from .report.viz import (comparison_grid, plot_class_scores, plot_class_shares, plot_confusion,
                         plot_examples, plot_history, plot_tsne, save_figure, stage_grid)
from .report.widgets import MaskInspector
from .runs.reuse import load_runs

# Tables show whole cells: an interval's label ("3 trainings × 257 tiles") is part of its claim.
pd.set_option("display.max_colwidth", None)


def architecture(run):
    """The run's model as a per-layer table at the input size it trains at (layer, output shape,
    parameters), ending with its totals, like the reference report's p1_model.txt."""
    task = run.record.task
    return layer_table(run.settings.model.model, task.num_classes, run.settings.model.values(), task.model_side())


def show(markdown):
    """Display markdown text in the notebook (and the exported report)."""
    display(Markdown(markdown))


__all__ = ["LOVASZ_BUG", "MaskInspector", "architecture", "boundary_sentence", "boundary_study", "compare_pairs",
           "comparison_grid", "comparison_sentences", "comparison_table", "describe", "findings", "load_runs",
           "plot_class_scores", "plot_class_shares", "plot_confusion", "plot_examples", "plot_history",
           "plot_tsne", "predicted_and_true_shares", "reference_numbers", "reference_sentences",
           "results_table", "save_figure", "show", "stage_grid", "tsne_sentences", "tsne_study"]
