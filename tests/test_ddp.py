"""DDP on two CPU processes (gloo): the recorded validation numbers are those of the checkpoint
that rank 0 keeps, also for models with batch norm."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import DUBAI, ROOT, SIGNAL_AT_STEP, TINY_SEG, copy_tiles
from hw2lib.engine.checkpoint import load_checkpoint
from hw2lib.engine.inference import evaluate_folder, load_trained
from hw2lib.engine.run_dir import RunDir


def torchrun(tmp_path, port, script=None, env=(), resume=False, expect=0, **changes):
    """`hw2 train` (or `script` with its arguments) on 2 gloo ranks; the run's record, or None
    when the command did not exit 0."""
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "p.yaml").write_text(json.dumps({**TINY_SEG, "out_dir": str(tmp_path / "run"), "device": "cpu",
                                                 **changes}))
    program = [str(script)] if script else ["-m", "hw2lib"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(port), *program, "train", str(tmp_path / "p.yaml"), *(["--resume"] if resume else [])]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1", **dict(env)})
    if expect is None:
        assert out.returncode != 0 and "exitcode  : 75" in out.stderr, out.stderr[-3000:]
        return None
    assert out.returncode == expect, out.stderr[-3000:]
    return RunDir(tmp_path / "run").record()


# The unbroken run the stop-and-resume test repeats: FCN8s, 2 epochs of 24 steps per rank (the ranks
# agree on stopping every 20 steps, so a stop part-way through an epoch needs more than 20).
UNBROKEN = {"model": "fcn8s", "epochs": 2, "batch_size": 1, "augment": ["flip", "rot90"], "snapshot_ids": [],
            "snapshot_epochs": [], "checkpoint_minutes": 1000, "image_size": 32}


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    """FCN8s trained on 2 ranks without a break: (its data_root, its settings, its run folder, its record)."""
    tmp = tmp_path_factory.mktemp("ddp")
    root = tmp / "data"
    copy_tiles(DUBAI / "train", root / "train", [f"{i:04d}" for i in range(0, 96, 2)])
    copy_tiles(DUBAI / "validation", root / "validation", [f"{i:04d}" for i in range(4)])
    changes = {**UNBROKEN, "data_root": str(root)}
    return root, changes, tmp / "whole" / "run", torchrun(tmp / "whole", 29519, **changes)


def assert_recorded_numbers_are_the_kept_checkpoints(run, record, validation):
    assert record.environment["world_size"] == 2 and len(record.history) == 2
    # The recorded val mIoU (two shards, all-reduced; batch-norm statistics shared from rank 0)
    # equals a one-process evaluation of kept.pt.
    scores, evaluation = evaluate_folder(run / "kept.pt", validation, "cpu")
    best = record.kept
    assert scores["miou"] == pytest.approx(best["val_miou"], abs=1e-12)
    assert np.array_equal(evaluation.cm, np.array(best["confusion_matrix"]))
    assert evaluation.loss == pytest.approx(best["val_loss"], rel=1e-6)
    assert load_trained(run / "kept.pt", "cpu").precision == "fp32"


def test_ddp_records_the_numbers_of_the_checkpoint_it_keeps(unbroken):
    root, _, run, record = unbroken
    assert_recorded_numbers_are_the_kept_checkpoints(run, record, root / "validation")


def test_ddp_records_the_numbers_of_the_checkpoint_it_keeps_with_batch_norm(tiny_seg_root, tmp_path):
    record = torchrun(tmp_path, 29518, model="unet16", data_root=str(tiny_seg_root), head_width=None)
    assert_recorded_numbers_are_the_kept_checkpoints(tmp_path / "run", record, tiny_seg_root / "validation")


def test_ddp_stopped_mid_epoch_resumes_to_the_unbroken_run(unbroken, tmp_path):
    _, changes, _, whole = unbroken
    (tmp_path / "script.py").write_text(SIGNAL_AT_STEP)  # each rank signals itself
    stopped = torchrun(tmp_path / "broken", 29520, script=tmp_path / "script.py", env={"AT": "29", "SIGNAL": "SIGTERM"},
                       expect=None,
                       **changes)  # epoch 2, step 5: the ranks agree to stop at step 20
    assert stopped is None
    state = load_checkpoint(tmp_path / "broken" / "run" / "last.pt")
    assert state["epoch"] == 1 and state["partial"]["step"] == 20 and len(state["partial"]["ranks"]) == 2
    resumed = torchrun(tmp_path / "broken", 29521, resume=True, **changes)
    for a, b in zip(resumed.history, whole.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-6) and a["val_miou"] == b["val_miou"]
