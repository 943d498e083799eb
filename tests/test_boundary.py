"""The boundary study on real checkpoints whose predictions are known: constant models."""
import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from conftest import tiny
from hw2lib.analysis.boundary import boundary_study
from hw2lib.data.label_specs import get_spec
from hw2lib.data.metrics import confusion_matrix
from hw2lib.engine.inference import load_trained, predicted_masks
from hw2lib.engine.record import RunRecord
from hw2lib.engine.run_dir import RunDir
from hw2lib.errors import ConfigError
from hw2lib.models import build_model
from hw2lib.models.fcn import nearest_upsampling_init
from hw2lib.runs.reuse import Run
from hw2lib.tasks import make_task

SCORED = get_spec("dubai").scored


def constant_run(path, root, cls, **changes):
    """An FCN8s whose every weight is zero but one class score's bias: it predicts `cls` everywhere."""
    cfg = tiny(root, path, snapshot_ids=[], snapshot_epochs=[], **changes)
    model = build_model("fcn8s", 6, cfg.model.values())
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        for up in [*model.skip_ups, model.upsample]:
            nearest_upsampling_init(up)
        model.score.bias[cls] = 1.0
    run = RunDir(path)
    run.save_checkpoint("kept", {"model": model.state_dict(), "params": cfg.flat(), "epoch": 1, "num_classes": 6,
                                 "precision": "fp32"})
    run.write_record(RunRecord(params=cfg.flat(), complete=True))
    return Run(path.name, cfg, run.record())


def near_a_change(mask, width):
    """Pixels within width // 2 (a square neighbourhood) of an edge pixel, one with a 4-neighbour
    of another class: the band's definition, written out independently."""
    padded = np.pad(mask, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    edge = ((padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre)
            | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre))
    r = width // 2
    return sliding_window_view(np.pad(edge, r), (width, width)).any((-1, -2))


def constant_miou(masks, subset, cls):
    """mIoU of a model predicting `cls` everywhere, over the scored classes labelled in `subset`."""
    labelled = [c for c in SCORED if (masks[subset] == c).any()]
    return ((masks[subset] == cls).sum() / subset.sum()) / len(labelled) if cls in labelled else 0.0


def test_subset_scores_and_gains_of_constant_models_are_the_hand_computed_ones(tiny_seg_root, tmp_path):
    runs = {"land": constant_run(tmp_path / "land", tiny_seg_root, 1),
            "building": constant_run(tmp_path / "building", tiny_seg_root, 0)}
    study = boundary_study(runs, width=7)
    masks = make_task(runs["land"].settings).load_validation().targets.numpy()
    band = np.stack([near_a_change(m, 7) for m in masks])
    assert study.boundary_share == pytest.approx(band.mean())
    for label, cls in (("land", 1), ("building", 0)):
        assert study.score(label, "boundary") == pytest.approx(constant_miou(masks, band, cls))
        assert study.score(label, "interior") == pytest.approx(constant_miou(masks, ~band, cls))
        assert study.score(label, "all") == pytest.approx(constant_miou(masks, np.ones_like(band), cls))
    gain = study.gain("building", "land", "boundary")
    assert gain.estimate == pytest.approx(constant_miou(masks, band, 1) - constant_miou(masks, band, 0))


def test_validation_saves_the_boundary_split_that_predicting_again_gives(tiny_seg_run):
    """The study at width 7 reads the split the training's validation saved with the kept epoch;
    it must equal the kept checkpoint's predictions scored on an independently written band."""
    run = RunDir(tiny_seg_run)
    record = run.record()
    study = boundary_study({"fcn8s": Run("fcn8s", record.settings, record)}, width=7)
    predictor = load_trained(run.checkpoint("kept"))
    val = make_task(record.settings).load_validation()
    truth = val.targets.numpy()
    preds = predicted_masks(predictor, val.images, truth.shape[-2:])
    band = np.stack([near_a_change(m, 7) for m in truth])
    assert band.any() and (~band).any()
    assert study.boundary_share == pytest.approx(band.mean())
    for subset, keep in (("boundary", band), ("interior", ~band)):
        expected = [confusion_matrix(t[k], p[k], 6) for t, p, k in zip(truth, preds, keep)]
        assert np.array_equal(study.trainings("fcn8s", subset)[0]["cms"], np.stack(expected))
    assert not (run.path / "evaluation" / "kept_boundary_7.npz").exists()  # nothing was predicted again
    # Another width predicts once, saves, and the next study reads what was saved.
    five = boundary_study({"fcn8s": Run("fcn8s", record.settings, record)}, width=5)
    saved = run.path / "evaluation" / "kept_boundary_5.npz"
    band5 = np.stack([near_a_change(m, 5) for m in truth])
    assert saved.is_file() and five.boundary_share == pytest.approx(band5.mean())
    assert five.boundary_share < study.boundary_share
    written = saved.stat().st_mtime_ns
    again = boundary_study({"fcn8s": Run("fcn8s", record.settings, record)}, width=5)
    assert saved.stat().st_mtime_ns == written
    assert np.array_equal(again.trainings("fcn8s", "boundary")[0]["cms"], five.trainings("fcn8s", "boundary")[0]["cms"])


def test_runs_validated_on_other_tiles_are_refused(tiny_seg_root, tmp_path):
    runs = {"all": constant_run(tmp_path / "a", tiny_seg_root, 1),
            "fewer": constant_run(tmp_path / "b", tiny_seg_root, 1, val_limit=2)}
    with pytest.raises(ConfigError, match="fewer is validated on other tiles"):
        boundary_study(runs)
