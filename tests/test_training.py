import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import DUBAI, ROOT, TINY_SEG, copy_tiles, hw2, hw2_process
from hw2lib.checkpoint import load_checkpoint
from hw2lib.config import load_config, make_config
from hw2lib.errors import CheckpointError, ConfigError, TrainingDiverged
from hw2lib.inference import evaluate_folder, load_trained
from hw2lib.run_dir import RunDir
from hw2lib.runtime import Distributed
from hw2lib.training import EpochLoss, is_better, train
from official_miou import mean_iou_score, read_masks


def quiet(*_):
    pass


def tiny(root, out, **changes):
    return make_config({**TINY_SEG, "data_root": str(root), "out_dir": str(out), **changes})


def test_overfitting_a_few_tiles_lowers_loss_and_raises_miou(tmp_path):
    ids = ["0000", "0002", "0004", "0006"]
    copy_tiles(DUBAI / "train", tmp_path / "d" / "train", ids)
    copy_tiles(DUBAI / "train", tmp_path / "d" / "validation", ids)  # score on the training tiles
    cfg = make_config({**TINY_SEG, "model": "unet16", "head_width": None, "epochs": 10, "lr": 3e-3,
                       "image_size": 96,
                       "snapshot_ids": [], "snapshot_epochs": [],
                       "data_root": str(tmp_path / "d"), "out_dir": str(tmp_path / "run")})
    history = train(cfg, log=quiet)["history"]
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    assert max(r["val_miou"] for r in history[-3:]) > history[0]["val_miou"] + 0.15


def test_run_folder_has_weights_record_evaluations_and_snapshots(tiny_seg_run):
    run = RunDir(tiny_seg_run)
    record = run.record()
    assert [r["epoch"] for r in record["history"]] == [1, 2] and record["complete"]
    row = record["history"][0]
    assert {"train_loss", "val_loss", "val_miou", "val_iou", "val_pred_share", "lr_start", "lr",
            "seconds"} <= set(row)
    assert list(row["val_iou"]) == ["building", "land", "road", "vegetation", "water"]
    assert sum(row["val_pred_share"].values()) == pytest.approx(1)
    assert record["best"]["epoch"] in (1, 2) and record["params"]["model"] == "fcn8s"
    assert record["environment"]["torch"] == torch.__version__
    assert record["environment"]["precision"] == "fp32"
    assert sorted(p.name for p in (tiny_seg_run / "snapshots").iterdir()) == ["1", "2", "input", "truth"]
    assert sorted(p.name for p in (tiny_seg_run / "snapshots" / "2").iterdir()) == ["0001.png", "0003.png"]
    assert run.snapshot_epochs() == [1, 2] and run.snapshot_ids() == ["0001", "0003"]
    assert run.snapshot("2", "0001").shape == (512, 512, 3)  # snapshots at the masks' native size
    # A completed run keeps best.pt and its per-tile evaluations; last.pt's optimiser state is gone.
    assert run.checkpoint("best").is_file() and not run.checkpoint("last").exists()
    best = run.evaluation("best")
    assert best["cms"].shape == (4, 6, 6) and list(best["ids"]) == ["0000", "0001", "0002", "0003"]
    assert np.array_equal(best["cms"].sum(0), np.array(record["best"]["confusion_matrix"]))


def test_validation_mIoU_is_the_official_number_of_the_masks_hw2_segment_writes(tiny_seg_run, tiny_seg_root, tmp_path):
    """training validation == hw2 evaluate == hw2 miou == the official evaluator, at native size."""
    val = tiny_seg_root / "validation"
    recorded = RunDir(tiny_seg_run).record()["best"]["val_miou"]
    out = hw2("segment", val, tmp_path / "masks", "--checkpoint", tiny_seg_run / "best.pt")
    assert out.returncode == 0, out.stderr
    masks = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert masks == sorted(p.name for p in val.glob("*_mask.png"))
    scored = json.loads(hw2("miou", "-g", val, "-p", tmp_path / "masks", "--classes", "dubai", "--json").stdout)
    evaluated = json.loads(hw2("evaluate", tiny_seg_run / "best.pt", val, "--json").stdout)
    from hw2lib.datasets import read_mask
    from hw2lib.label_specs import get_spec

    spec = get_spec("dubai")
    labels = np.stack([read_mask(val / m, spec) for m in masks]).astype(float)
    preds = np.stack([read_mask(tmp_path / "masks" / m, spec) for m in masks]).astype(float)
    official, _ = mean_iou_score(preds, labels, num_classes=5, verbose=False)
    assert abs(scored["miou"] - recorded) < 1e-4
    assert abs(evaluated["miou"] - recorded) < 1e-4
    assert abs(official - recorded) < 1e-4


def test_snapshot_at_an_epoch_not_asked_for_is_absent(tiny_seg_root, tmp_path):
    train(tiny(tiny_seg_root, tmp_path / "r", epochs=3, snapshot_epochs=[2]), log=quiet)
    assert sorted(p.name for p in (tmp_path / "r" / "snapshots").iterdir()) == ["2", "input", "truth"]


def strip(history):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in history]


def interrupted_run(cfg):
    """Train `cfg` and press Ctrl-C right after epoch 1 was logged (its files are written)."""
    def interrupt(line):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        train(cfg, log=interrupt)
    assert load_checkpoint(RunDir(cfg["out_dir"]).checkpoint("last"))["epoch"] == 1


def test_resumed_run_repeats_an_unbroken_one(tiny_seg_root, tmp_path):
    base = {"model": "fcn16s", "augment": ["flip", "rot90", "scale_crop"], "schedule": "poly", "epochs": 3}
    whole = train(tiny(tiny_seg_root, tmp_path / "a", **base), log=quiet)
    broken = tiny(tiny_seg_root, tmp_path / "b", **base)
    interrupted_run(broken)
    resumed = train(broken, resume=True, log=quiet)
    assert strip(resumed["history"]) == strip(whole["history"])


def test_resume_refuses_changes_and_extend_is_a_recorded_warm_restart(tiny_seg_root, tmp_path):
    cfg = tiny(tiny_seg_root, tmp_path / "r", schedule="poly", epochs=2, keep_last=True)
    interrupted_run(cfg)
    with pytest.raises(CheckpointError, match=r"epochs 2 -> 3; use --resume --extend"):
        train({**cfg, "epochs": 3}, resume=True, log=quiet)
    with pytest.raises(CheckpointError, match=r"lr: 0.001 -> 0.002"):
        train({**cfg, "lr": 2e-3}, resume=True, log=quiet)
    done = train(cfg, resume=True, log=quiet)
    steps = 2  # 8 tiles, batch 4
    assert done["complete"] and done["history"][-1]["lr"] == pytest.approx(cfg["lr"] * (1 - 3 / 4) ** 0.9)
    extended = train({**cfg, "epochs": 3}, resume=True, extend=True, log=quiet)
    third = extended["history"][2]
    # Re-planned over 3 epochs, the rate jumps back up to the new plan's value at this step.
    assert third["lr_start"] == pytest.approx(cfg["lr"] * (1 - 2 * steps / (3 * steps)) ** 0.9)
    assert third["lr_start"] > extended["history"][1]["lr"]
    assert extended["schedule_replanned"] == [{"after_epoch": 2, "epochs": 3}]
    assert strip(extended["history"][:2]) == strip(done["history"])


def test_a_completed_run_without_keep_last_says_why_it_cannot_be_extended(tiny_seg_run):
    cfg = RunDir(tiny_seg_run).record()["params"]
    with pytest.raises(CheckpointError, match="optimiser state was dropped"):
        train({**cfg, "epochs": 3}, resume=True, extend=True, log=quiet)


def test_a_fresh_run_replaces_its_folder_whole(tiny_seg_root, tmp_path):
    old = tiny(tiny_seg_root, tmp_path / "r", epochs=2, snapshot_epochs=[1, 2], keep_checkpoints=[2])
    train(old, log=quiet)
    assert (tmp_path / "r" / "snapshots" / "2").is_dir() and (tmp_path / "r" / "epoch_2.pt").is_file()
    new = tiny(tiny_seg_root, tmp_path / "r", epochs=1, snapshot_epochs=[1], snapshot_ids=["0002"])
    train(new, log=quiet)
    run = RunDir(tmp_path / "r")
    assert sorted(p.name for p in (tmp_path / "r" / "snapshots").iterdir()) == ["1", "input", "truth"]
    assert sorted(p.name for p in (tmp_path / "r" / "snapshots" / "input").iterdir()) == ["0002.png"]
    assert not (tmp_path / "r" / "epoch_2.pt").exists()
    assert run.snapshot_epochs() == [1] and len(run.record()["history"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no staging folder left


def test_a_fresh_run_that_fails_before_its_first_epoch_leaves_the_old_run_intact(tiny_seg_root, tmp_path):
    train(tiny(tiny_seg_root, tmp_path / "r", epochs=1), log=quiet)
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    bad = tiny(tiny_seg_root, tmp_path / "r", epochs=1, class_weights=[float("nan")] * 6)
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 1"):
        train(bad, log=quiet)
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


def test_a_nan_validation_score_never_freezes_the_best_epoch():
    nan = float("nan")
    best = None
    for epoch, score in enumerate([nan, 0.2, 0.1, nan, 0.3, 0.25], start=1):
        if is_better(score, None if best is None else best[1]):
            best = (epoch, score)
    assert best == (5, 0.3)
    assert not (0.3 > nan)  # why: a plain comparison would have kept epoch 1 for good


def test_fp16_skips_a_single_overflowing_batch_but_not_a_persistent_run():
    ddp = Distributed(torch.device("cpu"))
    one = EpochLoss(torch.device("cpu"))
    for x in (1.0, float("inf"), 0.5):
        one.add(torch.tensor(x))
    assert one.result(ddp, "fp16") == (0.75, 1, False)
    assert one.result(ddp, "fp32")[2]  # without a GradScaler one non-finite loss is divergence
    persistent = EpochLoss(torch.device("cpu"))
    for x in [1.0] + [float("nan")] * 10:
        persistent.add(torch.tensor(x))
    assert persistent.result(ddp, "fp16")[2]


def test_channels_last_survives_augmentation():
    from hw2lib.transforms import augment, to_input

    images = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    x = to_input(images, torch.device("cpu"), channels_last=True)
    y = torch.zeros(4, 64, 64, dtype=torch.long)
    out, _ = augment(x, y, ["flip", "rot90", "scale_crop"], torch.Generator().manual_seed(0))
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_params_yaml_with_a_few_keys_and_several_overrides(tmp_path):
    (tmp_path / "p.yaml").write_text("model: fcn8s\nepochs: 4\nsnapshot_ids: ['0010']\n")
    cfg = load_config(tmp_path / "p.yaml", ["epochs=2", "augment=[flip]", "head_width=null", "lr=1e-4"])
    assert cfg["epochs"] == 2 and cfg["augment"] == ["flip"] and cfg["lr"] == 1e-4
    (tmp_path / "bad.yaml").write_text("modle: fcn8s\n")
    with pytest.raises(ConfigError, match="bad.yaml: unknown parameter.*modle"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "octal.yaml").write_text("snapshot_ids: [0010]\n")
    with pytest.raises(ConfigError, match="quoted strings"):
        load_config(tmp_path / "octal.yaml")


@pytest.mark.parametrize("changes, message", [
    ({"augment": ["flips"]}, "augment: 'flips' is not a segmentation augmentation"),
    ({"task": "classification", "model": "resnet18", "head_width": None, "augment": ["rot90"]},
     "augment: 'rot90' is not a classification augmentation"),
    ({"model": "resnet18"}, "model: 'resnet18' is a classification model, but task is 'segmentation'"),
    ({"precision": "fp16", "device": "cpu"}, "precision: 'fp16' needs a CUDA GPU"),
    ({"epochs": "three"}, "epochs: 'three' is not an integer"),
    ({"score_relu": True, "model": "unet16", "head_width": None}, "score_relu: True applies to the FCN models only"),
    ({"image_size": 100}, "image_size: 100 must be a multiple of 32"),
])
def test_every_config_error_names_its_key_and_value(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_config({**TINY_SEG, **changes})


def test_a_snapshot_tile_not_in_validation_is_refused_before_any_work(tiny_seg_root, tmp_path):
    with pytest.raises(ConfigError, match=r"snapshot_ids: \['9999'\] not in"):
        train(tiny(tiny_seg_root, tmp_path / "r", snapshot_ids=["9999"]), log=quiet)
    assert not (tmp_path / "r").exists()


def test_cli_config_errors_are_one_line_with_exit_2(tmp_path):
    out = hw2("train", "params/smoke/runs.yaml", "--run", "fcn8s", "--set", "epochs=1", "augment=[flips]")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].endswith("augment: 'flips' is not a segmentation "
                                                         "augmentation; use flip, rot90, scale_crop")
    out = hw2("train", "params/smoke/runs.yaml", "--run", "fcn9s")
    assert out.returncode == 2 and "no run 'fcn9s'; runs: resnet18, resnet34, fcn32s" in out.stderr
    out = hw2("train", "params/smoke/runs.yaml")
    assert out.returncode == 2 and "choose one with --run" in out.stderr


def test_segment_refuses_to_write_into_the_image_folder(tiny_seg_run, tiny_seg_root):
    val = tiny_seg_root / "validation"
    before = sorted(p.name for p in val.iterdir())
    out = hw2("segment", val, val, "--checkpoint", tiny_seg_run / "best.pt")
    assert out.returncode == 2 and "must differ" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in val.iterdir()) == before


def test_arch_prints_parameter_count():
    out = hw2_process("arch", "fcn32s", "--num-classes", "7")
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "params: 184671054"
    assert "ConvTranspose2d(7, 7, kernel_size=(32, 32), stride=(32, 32))" in out.stdout


def test_ddp_on_two_cpu_processes_all_reduces_the_confusion_matrix(tiny_seg_root, tmp_path):
    (tmp_path / "p.yaml").write_text(json.dumps({**TINY_SEG, "data_root": str(tiny_seg_root),
                                                 "out_dir": str(tmp_path / "run"), "device": "cpu"}))
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                "--master_port", "29517", "-m", "hw2lib", "train", str(tmp_path / "p.yaml")]
    out = subprocess.run(torchrun, capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    record = RunDir(tmp_path / "run").record()
    assert record["environment"]["world_size"] == 2 and len(record["history"]) == 2
    # The recorded val mIoU (two shards, all-reduced) equals a one-process evaluation of best.pt.
    scores, evaluation = evaluate_folder(tmp_path / "run" / "best.pt", tiny_seg_root / "validation", "cpu")
    best = record["best"]
    assert scores["miou"] == pytest.approx(best["val_miou"], abs=1e-12)
    assert np.array_equal(evaluation.cm, np.array(best["confusion_matrix"]))
    assert load_trained(tmp_path / "run" / "best.pt", "cpu").precision == "fp32"
