import numpy as np
import pytest
import torch

from conftest import DUBAI
from hw2lib.datasets import read_mask
from hw2lib.errors import DataError, MaskDecodeError
from hw2lib.images import read_rgb
from hw2lib.label_specs import SPECS, get_spec
from hw2lib.metrics import (class_shares, confusion_matrix, iou_per_class, mean_iou, overall_accuracy,
                            per_class_accuracy, scores)
from official_miou import mean_iou_score

DEEPGLOBE = get_spec("deepglobe")


def official_decode(rgb):
    """The official rule written out by hand, one code at a time."""
    bits = (rgb >= 128).astype(int)
    code = 4 * bits[..., 0] + 2 * bits[..., 1] + bits[..., 2]
    out = np.full(code.shape, -1)
    for c, cls in {3: 0, 6: 1, 5: 2, 2: 3, 1: 4, 7: 5, 0: 6, 4: 6}.items():
        out[code == c] = cls
    return out


def test_deepglobe_decodes_any_colour_like_the_official_rule():
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)  # pure red is unknown
    decoded = DEEPGLOBE.decode(rgb)
    np.testing.assert_array_equal(decoded, official_decode(rgb))
    assert decoded[0, 0] == 6


@pytest.mark.parametrize("name", sorted(SPECS))
def test_encode_then_decode_is_identity(name):
    spec = SPECS[name]
    idx = np.random.default_rng(1).integers(0, spec.num_classes, (32, 48)).astype(np.uint8)
    np.testing.assert_array_equal(spec.decode(spec.encode(idx)), idx)


def test_unscored_class_is_last():
    for spec in SPECS.values():
        assert max(spec.scored) == spec.num_classes - 2


def test_dubai_sample_masks_decode_exactly():
    mask = read_mask(DUBAI / "validation" / "0000_mask.png", get_spec("dubai"))
    assert mask.dtype == np.uint8 and mask.shape == (512, 512)
    assert set(np.unique(mask)) <= set(range(6))
    rgb = read_rgb(DUBAI / "validation" / "0000_mask.png")
    np.testing.assert_array_equal(get_spec("dubai").encode(mask), rgb)


def test_exact_spec_refuses_off_palette_colour(tmp_path):
    rgb = get_spec("dubai").encode(np.zeros((8, 8), np.uint8))
    rgb[3, 5] = (1, 2, 3)
    with pytest.raises(MaskDecodeError, match=r"x=5, y=3.*\(1, 2, 3\)"):
        get_spec("dubai").decode(rgb)


def test_unknown_spec_lists_known_ones():
    with pytest.raises(ValueError, match="deepglobe, dubai"):
        get_spec("voc")


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
    np.testing.assert_allclose(iou_per_class(cm, range(6)), expected_ious, rtol=0, atol=1e-12)
    # Predicting class 0 on unknown pixels must lower class 0's IoU (not be ignored).
    worse = np.where(labels == 6, 0, preds)
    assert iou_per_class(confusion_matrix(labels, worse, 7), [0])[0] < iou_per_class(cm, [0])[0]


def test_absent_class_gives_nan_like_the_official_evaluator():
    labels = np.zeros((4, 4), int)
    cm = confusion_matrix(labels, labels, 7)
    assert iou_per_class(cm, range(6))[0] == 1.0
    assert np.isnan(mean_iou(cm, range(6)))


def test_overall_and_per_class_accuracy():
    labels = np.array([0, 0, 1, 1, 2])
    preds = np.array([0, 1, 1, 1, 0])
    cm = confusion_matrix(labels, preds, 3)
    assert overall_accuracy(cm) == pytest.approx(3 / 5)
    np.testing.assert_allclose(per_class_accuracy(cm), [0.5, 1.0, 0.0])


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "0000_mask.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match="0000_mask.png: cannot decode"):
        read_rgb(bad)


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


def test_scores_report_predicted_shares_so_a_collapse_is_visible():
    spec = get_spec("dubai")
    labels = np.random.default_rng(0).integers(0, 6, (40, 40))
    everything_land = np.ones_like(labels)
    s = scores(confusion_matrix(labels, everything_land, 6), spec)
    assert s["pred_share"]["land"] == 1.0 and sum(s["pred_share"].values()) == pytest.approx(1)
    assert list(s["iou"]) == spec.scored_names and s["miou"] < 0.2
    np.testing.assert_allclose(class_shares(confusion_matrix(labels, labels, 6), 1),
                               np.bincount(labels.ravel(), minlength=6) / labels.size)


def test_off_palette_fraction_counts_exact_colours():
    spec = get_spec("deepglobe")
    rgb = spec.encode(np.zeros((10, 10), np.uint8))
    rgb[0, :5] = (255, 0, 0)  # pure red decodes (as unknown) but is not a palette colour
    rgb[1, :5] = (250, 250, 5)
    assert spec.off_palette_fraction(rgb) == pytest.approx(0.10)
