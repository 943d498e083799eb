import shutil

import numpy as np
import pytest
import torch

from conftest import as_run
from hw2lib.analysis import tsne
from hw2lib.analysis.tsne import cluster_quality, knn_accuracy, most_confused_pairs, tsne_2d, tsne_study
from hw2lib.engine.checkpoint import load_checkpoint, save_checkpoint
from hw2lib.errors import CheckpointError


def test_tsne_is_2d_and_deterministic_for_a_seed_and_embeds_the_same_features_once():
    feats = np.random.default_rng(0).normal(size=(60, 16))
    a = tsne_2d(feats, seed=3)
    tsne._EMBEDDED.clear()  # computed again, not recalled
    b = tsne_2d(feats, seed=3)
    assert a.shape == (60, 2)
    np.testing.assert_array_equal(a, b)
    assert len(tsne._EMBEDDED) == 1
    b[:] = 0  # a caller's copy: the next one is intact
    np.testing.assert_array_equal(tsne_2d(feats.astype(np.float64), seed=3), a)
    assert len(tsne._EMBEDDED) == 1 and not np.array_equal(tsne_2d(feats, seed=3, perplexity=5), a)


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


def test_a_tsne_study_of_a_trained_run_measures_both_checkpoints(tiny_cls_run):
    out, record = tiny_cls_run
    study = tsne_study(as_run(out), {"epoch 1": 1, "kept": "kept", "as the reference": ("kept", "map")})
    pooled = "kept: 512-d pooled features (the last layer's input)"
    assert list(study.panels) == ["epoch 1: 512-d pooled features (the last layer's input)", pooled,
                                  "as the reference: 512-d flattened last feature map (the reference author's: "
                                  "plot_tSNE.py:52)"]  # layer4 is 512 x 1 x 1 at 32 px
    emb, labels, wrong = study.panels[pooled]
    np.testing.assert_array_equal(study.panels[list(study.panels)[-1]][0], emb)  # the same features
    assert emb.shape == (500, 2) and np.bincount(labels).tolist() == [10] * 50
    assert wrong.mean() == 1 - record.kept_score()
    assert 0 <= study.quality[pooled]["knn_acc_features"] <= 1 and study.quality[pooled]["chance"] == 1 / 50
    pairs, rows = study.confused_examples(top=2, per_pair=3)
    assert len(pairs) == 2 and all(len(images) <= 3 for images in rows.values())


def test_identical_features_are_a_clear_error_not_a_crash(tiny_cls_run, tmp_path):
    out, _ = tiny_cls_run
    state = load_checkpoint(out / "kept.pt")
    state["model"] = {k: torch.zeros_like(v) if k.startswith("layer4") else v for k, v in state["model"].items()}
    broken = tmp_path / "resnet18"
    shutil.copytree(out, broken)
    save_checkpoint(broken / "kept.pt", state)
    with pytest.raises(CheckpointError, match="penultimate features are the same for every image"):
        tsne_study(as_run(broken), {"kept": "kept"})
