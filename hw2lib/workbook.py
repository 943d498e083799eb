"""The notebooks' facade: everything a notebook calls, re-exported from where it lives.

    from hw2lib.workbook import load_runs, results_table, stage_grid, ...

A notebook keeps only its parameters cell, calls, text, and one import line of what it uses.
Every function of several runs takes them as {label: Run}, as `load_runs` returns them; a run's
numbers are asked of its `RunRecord` (`run.record.kept_score()`, `.kept_confusion()`,
`.class_names`, `.per_class()`).
"""
from IPython.display import Markdown, display

from .analysis.boundary import boundary_study
from .analysis.findings import (boundary_sentence, compare_pairs, comparison_sentences, comparison_table,
                                describe, findings, predicted_and_true_shares, results_table, tsne_sentences)
from .analysis.reference import LOVASZ_BUG, reference_numbers, reference_sentences
from .analysis.tsne import tsne_study
from .models import describe_model
from .report.viz import (comparison_grid, plot_class_scores, plot_class_shares, plot_confusion,
                         plot_examples, plot_history, plot_tsne, save_figure, stage_grid)
from .report.widgets import MaskInspector
from .runs.reuse import load_runs


def architecture(run):
    """The printed network of a run's model, ending with its parameter count."""
    s = run.settings
    return describe_model(s.model.model, run.record.task.num_classes, s.model.values(), grouped=True)


def show(markdown):
    """Display markdown text in the notebook (and the exported report)."""
    display(Markdown(markdown))


__all__ = ["LOVASZ_BUG", "MaskInspector", "architecture", "boundary_sentence", "boundary_study", "compare_pairs",
           "comparison_grid", "comparison_sentences", "comparison_table", "describe", "findings", "load_runs",
           "plot_class_scores", "plot_class_shares", "plot_confusion", "plot_examples", "plot_history",
           "plot_tsne", "predicted_and_true_shares", "reference_numbers", "reference_sentences",
           "results_table", "save_figure", "show", "stage_grid", "tsne_sentences", "tsne_study"]
