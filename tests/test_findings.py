"""Sentences and table rows say what the numbers say: hand-made runs, hand-computed answers."""
import numpy as np
import pytest

from conftest import hand_made_run
from hw2lib.analysis.boundary import BoundaryStudy
from hw2lib.analysis.findings import (boundary_sentence, compare_pairs, comparison_sentences, comparison_table,
                                      results_table, tsne_sentences)
from hw2lib.analysis.tsne import TsneStudy
from hw2lib.engine.record import RunRecord


def dubai_tiles(right, n=20):
    """n tiles over the 6 dubai classes: 50 px of building and of land, of which `right` are
    predicted right and the rest called the other one; 10 px each of road, vegetation and
    water, all right. So building and land have IoU right / (100 - right), the others 1."""
    cm = np.diag([right, right, 10, 10, 10, 0])
    cm[0, 1] = cm[1, 0] = 50 - right
    return np.stack([cm] * n)


@pytest.fixture
def runs(tmp_path):
    return {"weak": hand_made_run(tmp_path / "weak", dubai_tiles(30)),
            "strong": hand_made_run(tmp_path / "strong", dubai_tiles(45))}


def test_compare_pairs_subtract_the_second_from_the_first_and_the_words_follow(runs):
    # Building and land: weak 30 / 70 = 3/7, strong 45 / 55 = 9/11; the 3 others 1.
    gain = 2 * (9 / 11 - 3 / 7) / 5
    d = compare_pairs(runs, [("strong", "weak"), ("weak", "strong")])
    assert d["strong vs weak"].estimate == pytest.approx(gain)
    assert d["weak vs strong"].estimate == pytest.approx(-gain)
    up, down = comparison_sentences(d, "mIoU")
    assert up.startswith(f"strong beats weak by +{gain:.4f}") and down.startswith(f"weak scores lower than strong: -{gain:.4f}")
    table = comparison_table(d, "mIoU")
    assert table.loc["strong vs weak", "reading"] == "first is better"
    assert table.loc["weak vs strong", "reading"] == "first is worse"


def test_two_copies_cannot_be_told_apart(tmp_path):
    runs = {"a": hand_made_run(tmp_path / "a", dubai_tiles(40)), "b": hand_made_run(tmp_path / "b", dubai_tiles(40))}
    (sentence,) = comparison_sentences(compare_pairs(runs, [("b", "a")]), "mIoU")
    assert sentence.startswith("b and a cannot be told apart on this validation set: +0.0000")


def test_the_results_table_names_the_kept_epochs_rule(runs):
    table = results_table(runs)
    assert "epoch kept: final epoch" in table.columns
    assert table.loc["strong", "mIoU (kept epoch)"] == f"{(2 * 9 / 11 + 3) / 5:.4f}"


def row_with_shares(shares):
    return {"epoch": 1, "val_pred_share": shares}


@pytest.mark.parametrize("shares, expected", [
    ({"land": 0.95, "road": 0.05}, "land"), ({"land": 0.94, "road": 0.06}, None), ({}, None)])
def test_collapsed_class_is_the_class_predicted_for_95_percent_or_more(shares, expected):
    record = RunRecord(params={"task": "segmentation", "classes": "dubai"}, kept={"epoch": 1},
                       history=[row_with_shares(shares)])
    assert record.collapsed_class() == expected


def subsets(boundary_right, interior_right, n=10):
    """Per-tile confusion matrices of a boundary and an interior subset (dubai classes)."""
    def cms(right):
        return dubai_tiles(right, n)
    return {"boundary": {"ids": np.arange(n), "cms": cms(boundary_right)},
            "interior": {"ids": np.arange(n), "cms": cms(interior_right)}}


@pytest.mark.parametrize("other, sentence", [
    ((45, 35), "The gain is larger on boundary pixels"),
    ((35, 45), "The gain is larger on interior pixels"),
    ((25, 15), "The loss is smaller on boundary pixels"),
    ((35, 20), "It gains on boundary pixels and loses on interior pixels"),
    ((30, 30), "Whether the change differs between boundary and interior pixels cannot be told"),
])
def test_boundary_sentences_follow_the_signs_of_the_two_changes(other, sentence):
    # The baseline is right on 30 of 50 pixels of each class in both subsets.
    study = BoundaryStudy({"base": [subsets(30, 30)], "other": [subsets(*other)]}, (0, 1), 0.3, 7)
    text = boundary_sentence(study, "base", "other")
    assert sentence in text
    expected = 2 * [None]
    for k, right in enumerate(other):
        expected[k] = right / (100 - right) - 30 / 70  # IoU of each class: right / (50 + 50 - right)
    assert f"boundary pixels {expected[0]:+.4f}" in text and f"interior pixels {expected[1]:+.4f}" in text


def test_tsne_sentences_say_rises_falls_or_cannot_be_claimed():
    quality = {"k": 5, "knn_acc_features": 0.5, "knn_acc_tsne": 0.4, "silhouette_features": 0.1, "chance": 0.02}
    def study(first, last):
        return TsneStudy({}, {"early": quality, "late": quality},
                         {"early": np.array(first, bool), "late": np.array(last, bool)}, None, None, None, [])
    rises = tsne_sentences(study([0] * 50, [1] * 50))
    assert rises[0].startswith("At early, a validation image's 5 nearest neighbours in these features "
                               "vote its own class 50.0% of the time (40.0% in the 2-D t-SNE; chance 2.0%)")
    assert rises[-1] == ("From early to late the feature-space k-NN accuracy rises by +1.0000 "
                         "(95% CI [+1.0000, +1.0000]; 1 training: image sampling only).")
    assert "falls by -1.0000" in tsne_sentences(study([1] * 50, [0] * 50))[-1]
    same = tsne_sentences(study([0, 1] * 25, [1, 0] * 25))[-1]
    assert "changes by +0.0000" in same and "no change can be claimed" in same
