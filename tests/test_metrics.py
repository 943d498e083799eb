import warnings

import numpy as np
import pytest
import torch

from hw2lib.data.label_specs import get_spec
from hw2lib.data.metrics import (banded_confusion_matrices, boundary_band, class_shares, confusion_matrices,
                                 confusion_matrix, iou, mean_iou, overall_accuracy, per_class_accuracy, pooled_miou,
                                 scores)
from official_miou import mean_iou_score


def random_masks(seed, n=4, size=(40, 30), num_classes=7):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, (n,) + size)
    preds = np.where(rng.random(labels.shape) < 0.6, labels, rng.integers(0, num_classes, labels.shape))
    return labels, preds


def test_confusion_matrix_numpy_and_torch_agree():
    labels, preds = random_masks(2)
    cm_np = confusion_matrix(labels, preds, 7)
    cm_t = confusion_matrix(torch.from_numpy(labels), torch.from_numpy(preds), 7)
    assert isinstance(cm_t, torch.Tensor)
    np.testing.assert_array_equal(cm_np, cm_t.numpy())
    assert cm_np.sum() == labels.size
    assert cm_np[2, 5] == np.sum((labels == 2) & (preds == 5))


def test_miou_matches_official_formula_and_counts_unknown_as_false_positive():
    labels, preds = random_masks(3)
    cm = confusion_matrix(labels, preds, 7)
    expected, expected_ious = mean_iou_score(preds.astype(float), labels.astype(float), verbose=False)
    assert abs(mean_iou(cm, range(6)) - expected) < 1e-12
    np.testing.assert_allclose(iou(cm, range(6)), expected_ious, rtol=0, atol=1e-12)
    # Predicting class 0 on unknown pixels must lower class 0's IoU (not be ignored).
    worse = np.where(labels == 6, 0, preds)
    assert iou(confusion_matrix(labels, worse, 7), [0])[0] < iou(cm, [0])[0]


def test_absent_class_gives_nan_like_the_official_evaluator():
    labels = np.zeros((4, 4), int)
    cm = confusion_matrix(labels, labels, 7)
    assert iou(cm, range(6))[0] == 1.0
    assert np.isnan(mean_iou(cm, range(6)))


def test_overall_and_per_class_accuracy():
    labels = np.array([0, 0, 1, 1, 2])
    preds = np.array([0, 1, 1, 1, 0])
    cm = confusion_matrix(labels, preds, 3)
    assert overall_accuracy(cm) == pytest.approx(3 / 5)
    np.testing.assert_allclose(per_class_accuracy(cm), [0.5, 1.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing labelled: nan, quietly
        assert np.isnan(overall_accuracy(np.zeros((3, 3), int)))


@pytest.mark.parametrize("bad", [np.array([0, 7]), np.array([-1, 0])])
def test_confusion_matrix_refuses_a_class_outside_the_range(bad):
    ok = np.array([0, 1])
    with pytest.raises(ValueError, match="outside 0..6"):
        confusion_matrix(bad.astype(np.int64), ok, 7)
    with pytest.raises(ValueError, match="outside 0..6"):
        confusion_matrix(torch.from_numpy(ok), torch.from_numpy(bad), 7)
    # uint8 arithmetic would have wrapped 7 * 7 + 0 = 49 into another cell without the check
    with pytest.raises(ValueError):
        confusion_matrix(np.array([37], np.uint8), np.array([0], np.uint8), 7)
    # split by the boundary band, a class out of range would otherwise land in the other block
    with pytest.raises(ValueError, match="outside 0..6"):
        banded_confusion_matrices(torch.from_numpy(ok)[None, None], torch.from_numpy(bad)[None, None], 7)


def test_scores_report_predicted_shares_so_a_collapse_is_visible():
    spec = get_spec("dubai")
    labels = np.random.default_rng(0).integers(0, 6, (40, 40))
    everything_land = np.ones_like(labels)
    s = scores(confusion_matrix(labels, everything_land, 6), spec)
    assert s["pred_share"]["land"] == 1.0 and sum(s["pred_share"].values()) == pytest.approx(1)
    assert list(s["iou"]) == spec.scored_names and s["miou"] < 0.2
    np.testing.assert_allclose(class_shares(confusion_matrix(labels, labels, 6), 1),
                               np.bincount(labels.ravel(), minlength=6) / labels.size)


def test_confusion_matrices_give_one_matrix_per_item_in_numpy_and_torch():
    labels, preds = random_masks(4, n=3)
    stacked = confusion_matrices(labels, preds, 7)
    assert stacked.shape == (3, 7, 7)
    for k in range(3):
        np.testing.assert_array_equal(stacked[k], confusion_matrix(labels[k], preds[k], 7))
    torch_stack = confusion_matrices(torch.from_numpy(labels), torch.from_numpy(preds), 7)
    np.testing.assert_array_equal(torch_stack.numpy(), stacked)


def test_banded_confusion_matrices_split_each_item_by_its_boundary_band_in_numpy_and_torch():
    rng = np.random.default_rng(6)
    labels = np.repeat(np.repeat(rng.integers(0, 6, (3, 4, 3)), 10, 1), 10, 2)  # 10x10 blocks: real regions
    preds = np.where(rng.random(labels.shape) < 0.7, labels, rng.integers(0, 6, labels.shape))
    banded = banded_confusion_matrices(labels, preds, 6, width=5)
    assert banded.shape == (3, 2, 6, 6)
    outside, inside = banded[:, 0], banded[:, 1]
    band = np.stack([boundary_band(m, 5) for m in labels])
    assert band.any() and (~band).any()
    for k in range(3):
        np.testing.assert_array_equal(inside[k], confusion_matrix(labels[k][band[k]], preds[k][band[k]], 6))
        np.testing.assert_array_equal(outside[k], confusion_matrix(labels[k][~band[k]], preds[k][~band[k]], 6))
    np.testing.assert_array_equal(banded_confusion_matrices(torch.from_numpy(labels), torch.from_numpy(preds), 6,
                                                            width=5).numpy(), banded)
    np.testing.assert_array_equal(boundary_band(torch.from_numpy(labels), 5).numpy(), band)


def test_confusion_matrices_refuse_a_split_of_another_shape():
    labels, preds = random_masks(4, n=2)
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrices(labels, preds, 7, split_by=np.zeros((2, 4), bool))


def test_iou_of_a_stack_equals_the_iou_of_each_matrix():
    labels, preds = random_masks(5, n=4)
    stacked = confusion_matrices(labels, preds, 7)
    np.testing.assert_array_equal(iou(stacked, range(6))[2], iou(stacked[2], range(6)))


def tile(label_counts, pred_counts=None):
    """A 3-class confusion matrix from (label, prediction) pixel counts."""
    cm = np.zeros((3, 3), int)
    for (label, pred), count in label_counts.items():
        cm[label, pred] += count
    return cm


def test_pooled_miou_averages_the_classes_labelled_in_each_pooling():
    # Tile 0: class 1 labelled (2 px right); tile 1: class 0 only, with 2 px wrongly called 1.
    cms = np.stack([tile({(0, 0): 4, (1, 1): 2}), tile({(0, 0): 2, (0, 1): 2})])
    both, only_second = np.ones((1, 2)), np.array([[0.0, 1.0]])
    # Both tiles: class 0 IoU 6/8, class 1 IoU 2/4 -> mean 0.625 (the official number here).
    assert pooled_miou(cms, both, [0, 1])[0] == pytest.approx(0.625)
    assert pooled_miou(cms, both, [0, 1])[0] == mean_iou(cms.sum(0), [0, 1])
    # Tile 1 alone has no class-1 labels: class 1 is left out, though it is predicted (IoU 0/2).
    assert pooled_miou(cms, only_second, [0, 1])[0] == pytest.approx(2 / 4)


def test_pooled_miou_is_nan_when_no_class_is_labelled():
    cms = np.stack([tile({(2, 0): 5})])
    assert np.isnan(pooled_miou(cms, np.ones((1, 1)), [0, 1])[0])
