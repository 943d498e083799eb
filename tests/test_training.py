import os

import numpy as np
import pytest
import torch

from conftest import DUBAI, copy_tiles, quiet, tiny
from hw2lib.engine.checkpoint import load_checkpoint
from hw2lib.engine.run_dir import RunDir
from hw2lib.engine.run_key import cache_key
from hw2lib.engine.runtime import Distributed, resolve_precision
from hw2lib.engine.training import EpochLoss, train
from hw2lib.errors import CheckpointError, ConfigError, TrainingDiverged


def test_overfitting_a_few_tiles_lowers_loss_and_raises_miou(tmp_path):
    ids = ["0000", "0002", "0004", "0006"]
    copy_tiles(DUBAI / "train", tmp_path / "d" / "train", ids)
    copy_tiles(DUBAI / "train", tmp_path / "d" / "validation", ids)  # score on the training tiles
    cfg = tiny(tmp_path / "d", tmp_path / "run", model="unet16", head_width=None, epochs=10, lr=3e-3,
               image_size=96, snapshot_ids=[], snapshot_epochs=[])
    history = train(cfg, log=quiet).history
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    assert max(r["val_miou"] for r in history[-3:]) > history[0]["val_miou"] + 0.15


def test_run_folder_has_weights_record_evaluations_and_snapshots(tiny_seg_run):
    run = RunDir(tiny_seg_run)
    record = run.record()
    assert [r["epoch"] for r in record.history] == [1, 2] and record.complete
    row = record.history[0]
    assert {"train_loss", "val_loss", "val_miou", "val_iou", "val_pred_share", "lr_start", "lr",
            "seconds", "val_seconds"} <= set(row) and row["val_seconds"] < row["seconds"]
    assert list(row["val_iou"]) == ["building", "land", "road", "vegetation", "water"]
    assert sum(row["val_pred_share"].values()) == pytest.approx(1)
    # The default rule keeps the final epoch.
    assert record.kept_epoch == 2 and record.rule == "final" and record.params["model"] == "fcn8s"
    assert record.cache_key == cache_key(record.settings)
    assert record.environment["torch"] == torch.__version__
    assert record.environment["precision"] == "fp32"
    assert record.worker == {"host": os.uname().nodename, "pid": os.getpid(), "device": "cpu"}
    assert record.started_at <= record.finished_at and record.finished_at.endswith("+00:00")
    assert sorted(p.name for p in (tiny_seg_run / "snapshots").iterdir()) == ["1", "2", "input", "truth"]
    assert sorted(p.name for p in (tiny_seg_run / "snapshots" / "2").iterdir()) == ["0001.png", "0003.png"]
    assert record.snapshot_epochs() == [1, 2] and record.snapshot_ids() == ["0001", "0003"]
    assert run.snapshot("2", "0001").shape == (512, 512, 3)  # snapshots at the masks' native size
    # A completed run keeps kept.pt and its per-tile evaluations; last.pt's optimiser state is gone.
    assert run.checkpoint("kept").is_file() and not run.checkpoint("last").exists()
    best = run.evaluation("kept")
    assert best["cms"].shape == (4, 6, 6) and list(best["ids"]) == ["0000", "0001", "0002", "0003"]
    assert np.array_equal(best["cms"].sum(0), record.kept_confusion())
    assert best["boundary_7_cms"].shape == (4, 6, 6) and 0 < best["boundary_7_cms"].sum() < best["cms"].sum()


def test_snapshot_at_an_epoch_not_asked_for_is_absent(tiny_seg_root, tmp_path):
    train(tiny(tiny_seg_root, tmp_path / "r", epochs=3, snapshot_epochs=[2]), log=quiet)
    assert sorted(p.name for p in (tmp_path / "r" / "snapshots").iterdir()) == ["2", "input", "truth"]


def strip(history):
    return [{k: v for k, v in r.items() if k not in ("seconds", "val_seconds", "save_seconds")} for r in history]


BASE = {"model": "fcn16s", "augment": ["flip", "rot90", "scale_crop"], "schedule": "poly", "epochs": 3,
        "checkpoint_minutes": 0}


def test_a_run_resumed_after_an_epoch_repeats_an_unbroken_one(tiny_seg_root, tmp_path):
    whole = train(tiny(tiny_seg_root, tmp_path / "a", **BASE), log=quiet)
    broken = tiny(tiny_seg_root, tmp_path / "b", **BASE)

    def crash_after_epoch_1(line):
        raise RuntimeError("the machine went away")
    with pytest.raises(RuntimeError):
        train(broken, log=crash_after_epoch_1)
    assert load_checkpoint(RunDir(broken.place.out_dir).checkpoint("last"))["epoch"] == 1
    resumed = train(broken, resume=True, log=quiet)
    assert strip(resumed.history) == strip(whole.history)


def test_last_pt_is_written_when_due_not_every_epoch(tiny_seg_root, tmp_path):
    def stop_after_epoch_2(line):
        if line.startswith("epoch 2/"):
            raise RuntimeError("crash")
    for minutes, kept in ((0, True), (1000, False)):
        out = tmp_path / f"every_{minutes}"
        with pytest.raises(RuntimeError):
            train(tiny(tiny_seg_root, out, epochs=3, checkpoint_minutes=minutes), log=stop_after_epoch_2)
        assert RunDir(out).checkpoint("last").is_file() == kept
        assert len(RunDir(out).record().history) == 2


def test_resume_refuses_changes_and_extend_is_a_recorded_warm_restart_with_its_own_key(tiny_seg_root, tmp_path):
    cfg = tiny(tiny_seg_root, tmp_path / "r", schedule="poly", epochs=2, keep_last=True)
    done = train(cfg, log=quiet)
    with pytest.raises(CheckpointError, match=r"epochs 2 -> 3; use --resume --extend"):
        train(cfg.replace(epochs=3), resume=True, log=quiet)
    with pytest.raises(CheckpointError, match=r"lr: 0.001 -> 0.002"):
        train(cfg.replace(lr=2e-3), resume=True, extend=True, log=quiet)
    steps = 2  # 8 tiles, batch 4
    assert done.history[-1]["lr"] == pytest.approx(cfg.train.lr * (1 - 3 / 4) ** 0.9)
    extended = train(cfg.replace(epochs=3), resume=True, extend=True, log=quiet)
    third = extended.history[2]
    # Re-planned over 3 epochs, the rate jumps back up to the new plan's value at this step.
    assert third["lr_start"] == pytest.approx(cfg.train.lr * (1 - 2 * steps / (3 * steps)) ** 0.9)
    assert third["lr_start"] > extended.history[1]["lr"]
    assert extended.schedule_replanned == [{"after_epoch": 2, "epochs": 3}]
    assert strip(extended.history[:2]) == strip(done.history)
    # The extended run is not the profile's 2-epoch run, nor a fresh 3-epoch one.
    assert extended.cache_key not in (done.cache_key, cache_key(cfg.replace(epochs=3)))


def test_a_completed_run_without_keep_last_says_why_it_cannot_be_extended(tiny_seg_run):
    cfg = RunDir(tiny_seg_run).record().settings
    with pytest.raises(CheckpointError, match="optimiser state was dropped"):
        train(cfg.replace(epochs=3), resume=True, extend=True, log=quiet)


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
    assert run.record().snapshot_epochs() == [1] and len(run.record().history) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".r.lock", "r"]  # no staging folder left


def test_a_fresh_run_that_fails_before_saving_anything_leaves_the_old_run_intact(tiny_seg_root, tmp_path):
    train(tiny(tiny_seg_root, tmp_path / "r", epochs=1), log=quiet)
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    bad = tiny(tiny_seg_root, tmp_path / "r", epochs=1, lr=1e12)  # the second step diverges
    with pytest.raises(TrainingDiverged, match="loss became .* in epoch 1"):
        train(bad, log=quiet)
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before


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


def test_a_snapshot_tile_not_in_validation_is_refused_before_any_work(tiny_seg_root, tmp_path):
    with pytest.raises(ConfigError, match=r"snapshot_ids: \['9999'\] not in"):
        train(tiny(tiny_seg_root, tmp_path / "r", snapshot_ids=["9999"]), log=quiet)
    assert not (tmp_path / "r").exists()


def test_a_run_that_starts_from_another_runs_weights_keys_on_its_parent(tiny_seg_run, tiny_seg_root, tmp_path):
    child = tiny(tiny_seg_root, tmp_path / "child", init_from=str(tiny_seg_run), epochs=1, lr=1e-4)
    record = train(child, log=quiet)
    assert record.cache_key == cache_key(child)
    other_parent = tiny(tiny_seg_root, tmp_path / "p2", epochs=1)
    train(other_parent, log=quiet)
    assert cache_key(child.replace(init_from=str(tmp_path / "p2"))) != record.cache_key


def test_starting_from_a_run_that_is_not_trained_is_refused_before_any_work(tiny_seg_root, tmp_path):
    (tmp_path / "parent").mkdir()
    with pytest.raises(ConfigError, match=r"init_from: .*parent is not a trained run folder"):
        train(tiny(tiny_seg_root, tmp_path / "child", init_from=str(tmp_path / "parent")), log=quiet)
    assert not (tmp_path / "child").exists()


@pytest.mark.parametrize("capability, isa, native", [("AVX512", None, True), ("AVX512", "AVX512_CORE_AMX", True),
                                                      ("AVX512", "AVX512_CORE_FP16", True), ("AVX512", "AVX2", False),
                                                      ("AVX512", "AVX512_CORE_VNNI", False), ("AVX2", None, False)])
def test_precision_auto_is_fp32_where_the_kernels_are_held_below_native_bf16(monkeypatch, capability, isa, native):
    # A CPU with AMX, its kernels held (or not) as when measuring what an AVX2-only CPU does:
    # bf16 would be emulated there, 8x slower than fp32.
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    if isa is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if native else "fp32")
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"  # asked for by name: kept
