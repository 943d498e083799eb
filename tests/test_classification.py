import csv
import shutil

import numpy as np
import pytest
import torch

from conftest import CIFAR, ROOT, hw2
from hw2lib.datasets import load_classification
from hw2lib.inference import load_trained, penultimate_features
from hw2lib.models import build_model, count_parameters
from hw2lib.tsne import cluster_quality, knn_accuracy, most_confused_pairs, tsne_2d


def test_resnet18_with_a_50_way_head_has_the_reports_parameter_count():
    assert count_parameters(build_model("resnet18", 50)) == 11_202_162
    out = hw2("arch", "resnet18", "--num-classes", "50")
    assert out.stdout.strip().splitlines()[-1] == "params: 11202162"


@pytest.mark.parametrize("name", ["resnet34", "vgg16"])
def test_other_backbones_output_one_score_per_class(name):
    with torch.no_grad():
        assert build_model(name, 50).eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 50)


def test_a_short_run_beats_chance_clearly(tiny_cls_run):
    out, record = tiny_cls_run
    assert record["best"]["val_acc"] > 3 / 50  # chance is 1/50
    assert len(record["best"]["per_class_acc"]) == 50
    cm = np.array(record["best"]["confusion_matrix"])
    assert cm.shape == (50, 50) and cm.sum() == 500
    assert (out / "epoch_1.pt").is_file() and (out / "best.pt").is_file()


def test_classify_writes_one_sorted_row_per_png(tiny_cls_run, tmp_path):
    out, _ = tiny_cls_run
    result = hw2("classify", CIFAR / "val_50", tmp_path / "pred.csv", "--checkpoint", out / "best.pt")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(open(tmp_path / "pred.csv")))
    assert rows[0] == ["image_id", "label"]
    names = sorted(p.name for p in (CIFAR / "val_50").glob("*.png"))
    assert [r[0] for r in rows[1:]] == names
    labels = np.array([int(r[1]) for r in rows[1:]])
    assert labels.min() >= 0 and labels.max() < 50
    truth = np.array([int(n.split("_")[0]) for n in names])
    assert (labels == truth).mean() > 3 / 50


def test_classify_names_a_bad_image_and_writes_no_csv(tiny_cls_run, tmp_path):
    out, _ = tiny_cls_run
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in sorted((CIFAR / "val_50").glob("*.png"))[:3]:
        shutil.copy(p, folder)
    (folder / "broken.png").write_bytes(b"not a png")
    result = hw2("classify", folder, tmp_path / "pred.csv", "--checkpoint", out / "best.pt")
    assert result.returncode == 2 and "broken.png: cannot decode" in result.stderr
    assert not (tmp_path / "pred.csv").exists()


def test_penultimate_features_are_512_d_for_resnet18(tiny_cls_run):
    out, _ = tiny_cls_run
    val = load_classification(CIFAR / "val_50")
    feats = penultimate_features(load_trained(out / "best.pt", "cpu"), torch.from_numpy(val.images))
    assert feats.shape == (500, 512) and np.isfinite(feats).all()


def test_tsne_is_2d_and_deterministic_for_a_seed():
    feats = np.random.default_rng(0).normal(size=(60, 16))
    a, b = tsne_2d(feats, seed=3), tsne_2d(feats, seed=3)
    assert a.shape == (60, 2)
    np.testing.assert_array_equal(a, b)


def test_cluster_quality_on_toy_sets_with_known_answers():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 30)
    centres = np.array([[0, 0], [50, 0], [0, 50]])
    separated = centres[labels] + rng.normal(size=(90, 2))
    q = cluster_quality(separated, separated, labels)
    assert q["knn_acc_features"] == 1.0 and q["silhouette_tsne"] > 0.9
    mixed = rng.normal(size=(90, 2))
    assert knn_accuracy(mixed, labels) < 0.6
    assert cluster_quality(mixed, mixed, labels)["silhouette_features"] < 0.1


def test_knn_is_leave_one_out_by_index_even_for_duplicate_points():
    # Pairs of identical points with different labels: counting a point among its own
    # neighbours would let every point vote for itself (k=1: 100%); leave-one-out gives 0%.
    points = np.repeat(np.arange(10.0)[:, None] * 100, 2, axis=0)
    labels = np.tile([0, 1], 10)
    assert knn_accuracy(points, labels, k=1) == 0.0
    # And a point with a same-class twin finds it.
    assert knn_accuracy(points, np.repeat(np.arange(10) % 2, 2), k=1) == 1.0


def test_most_confused_pairs_count_both_directions():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    preds = np.array([1, 1, 0, 0, 1, 2, 0, 2])
    assert most_confused_pairs(labels, preds, top=2) == [(0, 1, 2, 1), (0, 2, 0, 1)]


def test_classify_refuses_a_segmentation_checkpoint(tiny_seg_run, tmp_path):
    result = hw2("classify", CIFAR / "val_50", tmp_path / "pred.csv", "--checkpoint", tiny_seg_run / "best.pt")
    assert result.returncode == 2 and "a segmentation checkpoint (fcn8s)" in result.stderr
    assert not (tmp_path / "pred.csv").exists()
