import numpy as np
import pytest

from hw2lib.analysis.evidence import (Interval, bootstrap_interval, compare_sentence, difference_of_differences,
                                      format_interval, miou_statistic, paired_bootstrap, prediction_interval,
                                      resample_counts, training_spread)
from hw2lib.data.metrics import confusion_matrix, mean_iou, pooled_accuracy


def tiles(seed, accuracy, n=40, classes=4, size=16, label_seed=None):
    """Per-tile confusion matrices of a model that is right on `accuracy` of the pixels (the
    labels drawn with `label_seed`, by default `seed`)."""
    labels = np.random.default_rng(seed if label_seed is None else label_seed).integers(0, classes, (n, size, size))
    rng = np.random.default_rng(seed)
    preds = np.where(rng.random(labels.shape) < accuracy, labels, rng.integers(0, classes, labels.shape))
    cms = np.stack([confusion_matrix(l, p, classes) for l, p in zip(labels, preds)])
    return {"ids": np.array([f"{i:04d}" for i in range(n)]), "cms": cms}


def accuracy(items, weights):
    return pooled_accuracy(items["labels"], items["preds"], weights)


def test_the_whole_set_statistic_is_the_official_miou():
    a = tiles(0, 0.7)
    assert miou_statistic(range(4))(a, np.ones((1, 40)))[0] == mean_iou(a["cms"].sum(0), range(4))


def rare_class_pair():
    """10 tiles of 100 px, classes 0 and 1 scored. Class 1 is labelled only in tile 0 (10 px).
    Model A is perfect; B equals A but for 5 px of class 1 predicted in each other tile."""
    a = np.zeros((10, 3, 3), int)
    a[0, 0, 0], a[0, 1, 1] = 90, 10
    a[1:, 0, 0] = 100
    b = a.copy()
    b[1:, 0, 0], b[1:, 0, 1] = 95, 5
    ids = np.array([f"{i}" for i in range(10)])
    return {"ids": ids, "cms": a}, {"ids": ids, "cms": b}


def test_in_every_resample_both_models_average_the_classes_labelled_there():
    a, b = rare_class_pair()
    statistic = miou_statistic([0, 1])
    weights = resample_counts(10)
    diffs = statistic(b, weights) - statistic(a, weights)
    without_tile_0 = weights[:, 0] == 0
    assert 0.25 < without_tile_0.mean() < 0.45
    # Without tile 0 class 1 has no labels and counts for neither model: class 0's IoU, 95/100,
    # is all that differs (a per-model class set gave B a 0 for class 1: -0.525).
    np.testing.assert_allclose(diffs[without_tile_0], -0.05)
    # With it once, B's class 1 is 10 / (10 + 5 k) for the k other tiles drawn.
    with_0 = next(i for i in range(len(weights)) if weights[i, 0] == 1)
    k = weights[with_0, 1:].sum()
    expected = ((90 + 95 * k) / (90 + 100 * k) + 10 / (10 + 5 * k)) / 2 - 1
    assert diffs[with_0] == pytest.approx(expected)


def test_the_whole_set_statistic_leaves_out_a_class_without_labels():
    a, b = rare_class_pair()
    a["cms"], b["cms"] = a["cms"][1:], b["cms"][1:]  # no tile labels class 1 now
    whole = np.ones((1, 9))
    assert miou_statistic([0, 1])(a, whole)[0] == 1.0
    assert miou_statistic([0, 1])(b, whole)[0] == pytest.approx(0.95)
    # The official evaluator: nan for A (class 1 is 0/0), and a 0 averaged in for B.
    assert np.isnan(mean_iou(a["cms"].sum(0), [0, 1]))
    assert mean_iou(b["cms"].sum(0), [0, 1]) == pytest.approx(0.95 / 2)


def test_a_clearly_better_model_beats_and_a_copy_ties():
    a, better = tiles(0, 0.5), tiles(0, 0.9)
    d = paired_bootstrap(a, better, miou_statistic(range(4)))
    assert d.low > 0 and d.verdict == "higher" and d.items == 40
    assert paired_bootstrap(better, a, miou_statistic(range(4))).verdict == "lower"
    same = paired_bootstrap(a, a, miou_statistic(range(4)))
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0) and same.verdict == "tied"


def test_two_models_of_equal_skill_cannot_be_told_apart_and_the_interval_is_seeded():
    a, b = tiles(1, 0.6, label_seed=0), tiles(2, 0.6, label_seed=0)
    d = paired_bootstrap(a, b, miou_statistic(range(4)))
    assert d.low < 0 < d.high
    assert d == paired_bootstrap(a, b, miou_statistic(range(4)))
    assert d != paired_bootstrap(a, b, miou_statistic(range(4)), seed=1)


def test_accuracy_differences_over_images():
    labels = np.arange(100) % 10
    right = {"labels": labels, "preds": labels}
    wrong = {"labels": labels, "preds": (labels + 1) % 10}
    d = paired_bootstrap(wrong, right, accuracy)
    assert (d.estimate, d.low, d.high) == (1.0, 1.0, 1.0)
    half = {"labels": labels, "preds": np.where(np.arange(100) < 50, labels, 0)}
    assert paired_bootstrap(half, right, accuracy).estimate == pytest.approx(0.45)


def test_a_single_models_interval_brackets_its_score():
    labels = np.arange(200) % 10
    preds = np.where(np.arange(200) % 4 == 0, (labels + 1) % 10, labels)  # 75% right
    d = bootstrap_interval({"labels": labels, "preds": preds}, accuracy)
    assert d.estimate == 0.75 and 0.65 < d.low < 0.75 < d.high < 0.85


def test_unpaired_items_are_refused():
    a, b = tiles(0, 0.5), tiles(0, 0.5)
    b["ids"] = b["ids"][::-1]
    with pytest.raises(ValueError, match="same items in the same order"):
        paired_bootstrap(a, b, miou_statistic(range(4)))
    c = tiles(3, 0.5)  # same ids, other labels
    with pytest.raises(ValueError, match="same labels"):
        paired_bootstrap(a, c, miou_statistic(range(4)))


def test_difference_of_differences_on_hand_made_gains():
    # Four 2-class "subsets" over 3 tiles: the gain on the first pair is +0.5 on every tile, on
    # the second +0.25, so the gap is +0.25 whatever the resample.
    def constant(iou_class_0):
        cm = np.array([[int(100 * iou_class_0), 100 - int(100 * iou_class_0)], [0, 0]])
        return {"ids": np.array(["a", "b", "c"]), "cms": np.stack([cm, cm, cm])}
    gap = difference_of_differences(constant(0.25), constant(0.75), constant(0.5), constant(0.75),
                                    miou_statistic([0]))
    assert gap.estimate == pytest.approx(0.25)
    assert gap.low == pytest.approx(0.25) and gap.high == pytest.approx(0.25) and gap.verdict == "higher"


def test_difference_of_differences_without_any_finite_resample_is_tied_and_says_n_a():
    empty = {"ids": np.array(["a"]), "cms": np.zeros((1, 2, 2), int)}  # no labels at all
    gap = difference_of_differences(empty, empty, empty, empty, miou_statistic([0, 1]))
    assert np.isnan(gap.low) and gap.verdict == "tied"
    assert format_interval(gap, signed=True) == "n/a (95% CI [n/a, n/a]; 1 training: item sampling only)"


def test_formats_with_signs_nan_and_what_the_interval_covers():
    one = Interval(0.01234, -0.004, 0.029, 29, (1, 1), noun="tile")
    assert format_interval(one, signed=True) == "+0.0123 (95% CI [-0.0040, +0.0290]; 1 training: tile sampling only)"
    three = Interval(0.6973, 0.68, 0.71, 257, (3,), noun="tile")
    assert format_interval(three) == "0.6973 (95% CI [0.6800, 0.7100]; 3 trainings × 257 tiles)"
    assert Interval(0.1, 0, 1, 10, (3, 1), noun="image").covers == "3 and 1 trainings × 10 images"
    assert training_spread([0.3, 0.32, 0.31]) == "0.3100 ± 0.0100 (3 trainings)"
    assert training_spread([0.3]) == "0.3000 ± n/a (1 training)"


def test_trainings_that_scatter_more_than_their_difference_cannot_be_told_apart():
    """Each B training is 0.05 more accurate than its A counterpart, but the trainings of each
    model scatter over 0.4: one training each shows a clear difference, the two levels do not."""
    a = [tiles(10 + k, acc, label_seed=0) for k, acc in enumerate((0.5, 0.7, 0.9))]
    b = [tiles(20 + k, acc, label_seed=0) for k, acc in enumerate((0.55, 0.75, 0.95))]
    statistic = miou_statistic(range(4))
    items_only = paired_bootstrap(a[0], b[0], statistic, noun="tile")
    assert items_only.low > 0 and items_only.covers == "1 training: tile sampling only"
    both = paired_bootstrap(a, b, statistic, noun="tile")
    assert both.low < 0 < both.high and both.covers == "3 trainings × 40 tiles"
    assert both.estimate == pytest.approx(np.mean([statistic(x, np.ones((1, 40)))[0] for x in b])
                                          - np.mean([statistic(x, np.ones((1, 40)))[0] for x in a]))
    assert compare_sentence("b", "a", both, "mIoU").startswith("b and a cannot be told apart")
    assert compare_sentence("b", "a", items_only, "mIoU").startswith("b beats a by +")


def test_one_new_training_is_expected_further_out_than_the_mean_of_three():
    trainings = [tiles(30 + k, acc, label_seed=0) for k, acc in enumerate((0.5, 0.7, 0.9))]
    statistic = miou_statistic(range(4))
    mean, one = bootstrap_interval(trainings, statistic), prediction_interval(trainings, statistic)
    assert mean.estimate == one.estimate
    assert one.low < mean.low and one.high > mean.high  # a single training spreads wider than a mean
