import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import DUBAI, ROOT, TINY_SEG, copy_tiles
from hw2lib.checkpoint import CheckpointError, load_checkpoint
from hw2lib.config import load_config, make_config
from hw2lib.engine import Distributed, TrainingDiverged, evaluate, load_splits, train
from hw2lib.inference import load_trained
from hw2lib.losses import SegLoss
from hw2lib.metrics import mean_iou


def quiet(*_):
    pass


def test_overfitting_a_few_tiles_lowers_loss_and_raises_miou(tmp_path):
    ids = ["0000", "0002", "0004", "0006"]
    copy_tiles(DUBAI / "train", tmp_path / "d" / "train", ids)
    copy_tiles(DUBAI / "train", tmp_path / "d" / "validation", ids)  # score on the training tiles
    cfg = make_config({**TINY_SEG, "model": "unet16", "head_width": None, "epochs": 12, "lr": 3e-3,
                       "snapshot_ids": [], "snapshot_epochs": [],
                       "data_root": str(tmp_path / "d"), "out_dir": str(tmp_path / "run")})
    history = train(cfg, log=quiet)["history"]
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    assert max(r["val_miou"] for r in history[-3:]) > history[0]["val_miou"] + 0.15


def test_run_folder_has_checkpoints_metrics_and_snapshots_at_the_asked_epochs(tiny_seg_run):
    record = json.loads((tiny_seg_run / "metrics.json").read_text())
    assert [r["epoch"] for r in record["history"]] == [1, 2]
    row = record["history"][0]
    assert {"train_loss", "val_loss", "val_miou", "val_iou", "lr", "seconds"} <= set(row)
    assert list(row["val_iou"]) == ["building", "land", "road", "vegetation", "water"]
    assert record["best"]["epoch"] in (1, 2) and record["params"]["model"] == "fcn8s"
    assert record["environment"]["torch"] == torch.__version__
    snaps = tiny_seg_run / "snapshots"
    assert sorted(p.name for p in snaps.iterdir()) == ["1", "2", "input", "truth"]
    assert sorted(p.name for p in (snaps / "2").iterdir()) == ["0001.png", "0003.png", "record.json"]
    assert (tiny_seg_run / "best.pt").is_file() and (tiny_seg_run / "last.pt").is_file()


def test_snapshot_at_an_epoch_not_asked_for_is_absent(tiny_seg_root, tmp_path):
    cfg = make_config({**TINY_SEG, "epochs": 3, "snapshot_epochs": [2], "data_root": str(tiny_seg_root),
                       "out_dir": str(tmp_path)})
    train(cfg, log=quiet)
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["2", "input", "truth"]


def test_resumed_run_repeats_an_unbroken_one(tiny_seg_root, tmp_path):
    base = {**TINY_SEG, "model": "fcn16s", "augment": ["flip", "rot90", "scale_crop"],
            "schedule": "poly", "data_root": str(tiny_seg_root)}
    whole = train(make_config({**base, "epochs": 3, "out_dir": str(tmp_path / "a")}), log=quiet)

    def interrupt(line):  # Ctrl-C right after epoch 1 was logged (its checkpoint is written)
        raise KeyboardInterrupt
    broken = make_config({**base, "epochs": 3, "out_dir": str(tmp_path / "b")})
    with pytest.raises(KeyboardInterrupt):
        train(broken, log=interrupt)
    assert load_checkpoint(tmp_path / "b" / "last.pt")["epoch"] == 1
    resumed = train(broken, resume=True, log=quiet)

    def strip(h):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in h]
    assert strip(resumed["history"]) == strip(whole["history"])


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tiny_seg_root, tmp_path):
    cfg = make_config({**TINY_SEG, "epochs": 1, "data_root": str(tiny_seg_root), "out_dir": str(tmp_path)})
    train(cfg, log=quiet)
    before = (tmp_path / "last.pt").read_bytes()
    bad = make_config({**TINY_SEG, "epochs": 1, "class_weights": [float("nan")] * 6,
                       "data_root": str(tiny_seg_root), "out_dir": str(tmp_path)})
    with pytest.raises(TrainingDiverged, match="loss became nan in epoch 1"):
        train(bad, log=quiet)
    assert (tmp_path / "last.pt").read_bytes() == before


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['HW2_MARKER']}",))


def test_pickle_checkpoint_is_refused_and_its_payload_never_runs(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("HW2_MARKER", str(marker))
    torch.save({"model": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="evil.pt: refused"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def test_params_yaml_with_a_few_keys_and_overrides(tmp_path):
    (tmp_path / "p.yaml").write_text("model: fcn8s\nepochs: 4\nsnapshot_ids: ['0010']\n")
    cfg = load_config(tmp_path / "p.yaml", ["epochs=2", "augment=[flip]", "head_width=null"])
    assert cfg["epochs"] == 2 and cfg["augment"] == ["flip"] and cfg["lr"] == 1e-3
    (tmp_path / "bad.yaml").write_text("modle: fcn8s\n")
    with pytest.raises(ValueError, match="bad.yaml: unknown parameter.*modle"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "octal.yaml").write_text("snapshot_ids: [0010]\n")
    with pytest.raises(ValueError, match="quoted strings"):
        load_config(tmp_path / "octal.yaml")


def hw2(*args, **kw):
    return subprocess.run([sys.executable, "-m", "hw2lib", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, **kw)


def test_segment_writes_full_size_masks_that_hw2_miou_scores_like_evaluate(tiny_seg_run, tiny_seg_root, tmp_path):
    val = tiny_seg_root / "validation"
    out = hw2("segment", val, tmp_path / "masks", "--checkpoint", tiny_seg_run / "best.pt")
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "masks").iterdir()) == sorted(p.name for p in val.glob("*_mask.png"))
    scored = hw2("miou", "-g", val, "-p", tmp_path / "masks", "--classes", "dubai", "--json")
    assert scored.returncode == 0, scored.stderr
    evaluated = hw2("evaluate", tiny_seg_run / "best.pt", val, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(scored.stdout) == json.loads(evaluated.stdout)


def test_segment_refuses_to_write_into_the_image_folder(tiny_seg_run, tiny_seg_root):
    val = tiny_seg_root / "validation"
    before = sorted(p.name for p in val.iterdir())
    out = hw2("segment", val, val, "--checkpoint", tiny_seg_run / "best.pt")
    assert out.returncode == 2 and "must differ" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in val.iterdir()) == before


def test_arch_prints_parameter_count():
    out = hw2("arch", "fcn32s", "--num-classes", "7")
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
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["world_size"] == 2 and len(record["history"]) == 2
    # The recorded val mIoU (two shards, all-reduced) equals a one-process evaluation of best.pt.
    model, cfg, device = load_trained(tmp_path / "run" / "best.pt", "cpu")
    _, val, num_classes, spec = load_splits(cfg)
    _, cm = evaluate(model, val, cfg, SegLoss(), num_classes, device, Distributed(device))
    best = record["best"]
    assert mean_iou(cm, spec.scored) == pytest.approx(best["val_miou"], abs=1e-12)
    assert np.array_equal(cm, np.array(best["confusion_matrix"]))


def test_train_from_a_profile_needs_a_known_run():
    out = hw2("train", "params/smoke/runs.yaml")
    assert out.returncode == 2 and "choose one with --run" in out.stderr
    out = hw2("train", "params/smoke/runs.yaml", "--run", "fcn9s")
    assert out.returncode == 2 and "no run 'fcn9s'; runs: resnet18, fcn32s" in out.stderr
