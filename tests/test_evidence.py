import numpy as np
import pytest

from hw2lib.evidence import (accuracy_statistic, compare_sentence, format_difference, miou_statistic,
                             paired_bootstrap, seed_spread)
from hw2lib.metrics import confusion_matrix, mean_iou


def tiles(seed, accuracy, n=40, classes=4, size=16):
    """Per-tile confusion matrices of a model that is right on `accuracy` of the pixels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, (n, size, size))
    preds = np.where(rng.random(labels.shape) < accuracy, labels, rng.integers(0, classes, labels.shape))
    cms = np.stack([confusion_matrix(l, p, classes) for l, p in zip(labels, preds)])
    return {"ids": np.array([f"{i:04d}" for i in range(n)]), "cms": cms}


def test_the_whole_set_statistic_is_the_official_miou():
    a = tiles(0, 0.7)
    whole = miou_statistic(range(4))(a, np.ones((1, 40)))[0]
    assert whole == pytest.approx(mean_iou(a["cms"].sum(0), range(4)), abs=1e-12)


def test_a_clearly_better_model_beats_and_a_copy_ties():
    a, better = tiles(0, 0.5), tiles(0, 0.9)
    d = paired_bootstrap(a, better, miou_statistic(range(4)))
    assert d.low > 0 and d.verdict == "higher" and d.items == 40
    assert compare_sentence("B", "A", d, "mIoU").startswith("B beats A by +0.")
    same = paired_bootstrap(a, a, miou_statistic(range(4)))
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0) and same.verdict == "tied"
    assert "cannot be told apart" in compare_sentence("A", "A'", same, "mIoU")


def test_two_models_of_equal_skill_cannot_be_told_apart_and_the_interval_is_seeded():
    a, b = tiles(1, 0.6), tiles(2, 0.6)
    b["ids"] = a["ids"]
    d = paired_bootstrap(a, b, miou_statistic(range(4)))
    assert d.low < 0 < d.high
    assert d == paired_bootstrap(a, b, miou_statistic(range(4)))
    assert d != paired_bootstrap(a, b, miou_statistic(range(4)), seed=1)


def test_accuracy_differences_over_images():
    labels = np.arange(100) % 10
    right = {"labels": labels, "preds": labels}
    wrong = {"labels": labels, "preds": (labels + 1) % 10}
    d = paired_bootstrap(wrong, right, accuracy_statistic)
    assert (d.estimate, d.low, d.high) == (1.0, 1.0, 1.0)
    half = {"labels": labels, "preds": np.where(np.arange(100) < 50, labels, 0)}
    assert paired_bootstrap(half, right, accuracy_statistic).estimate == pytest.approx(0.45)


def test_unpaired_items_are_refused():
    a, b = tiles(0, 0.5), tiles(0, 0.5)
    b["ids"] = b["ids"][::-1]
    with pytest.raises(ValueError, match="same items in the same order"):
        paired_bootstrap(a, b, miou_statistic(range(4)))


def test_formats():
    d = paired_bootstrap(tiles(0, 0.5), tiles(0, 0.9), miou_statistic(range(4)))
    assert format_difference(d) == f"{d.estimate:+.4f} (95% CI [{d.low:+.4f}, {d.high:+.4f}])"
    assert seed_spread([0.3, 0.32, 0.31]) == "0.3100 ± 0.0100 (3 seeds)"
