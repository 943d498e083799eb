"""A stop request (SIGTERM, SIGINT) at any point of training ends with a resumable last.pt and
exit status 75, and the resumed run equals an unbroken one. The signal is sent by the process
to itself at a chosen forward pass (a torch forward hook watches the model), so it lands at a
known step, in validation, or after the epoch's saves."""
import hashlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, SIGNAL_AT_STEP, hw2_process, quiet, save_rgb, sigterm_at, tiny
from hw2lib.data.images import read_rgb
from hw2lib.data.label_specs import get_spec
from hw2lib.engine.checkpoint import load_checkpoint
from hw2lib.engine.run_dir import RunDir
from hw2lib.engine.run_state import resume_run
from hw2lib.engine.training import set_up, train
from hw2lib.errors import CheckpointError, Preempted

BASE = {"model": "fcn16s", "augment": ["flip", "rot90", "scale_crop"], "schedule": "poly", "epochs": 3,
        "batch_size": 2, "checkpoint_minutes": 1000}  # 8 tiles: 4 steps an epoch; no timed saves


def strip(history):
    return [{k: v for k, v in r.items() if k not in ("seconds", "val_seconds", "save_seconds")} for r in history]


@pytest.fixture(scope="module")
def unbroken(tiny_seg_root, tmp_path_factory):
    return train(tiny(tiny_seg_root, tmp_path_factory.mktemp("whole") / "a", **BASE), log=quiet)


@pytest.mark.parametrize("mode, count, where, step", [
    ("train", 5, r"in epoch 2 after step 1 of 4", 1),   # mid-epoch: the step ends, then it stops
    ("train", 4, r"after epoch 1;", None),              # the epoch's last step
    ("eval", 1, r"after epoch 1;", None),               # validation
])
def test_a_stop_at_any_point_saves_a_last_pt_that_resumes_to_the_unbroken_run(tiny_seg_root, tmp_path, unbroken,
                                                                              mode, count, where, step):
    broken = tiny(tiny_seg_root, tmp_path / "b", **BASE)
    handler = signal.getsignal(signal.SIGTERM)
    with sigterm_at(mode, count), pytest.raises(Preempted, match=f"stopped by SIGTERM {where}"):
        train(broken, log=quiet)
    assert signal.getsignal(signal.SIGTERM) is handler  # the one before training is back
    state = load_checkpoint(RunDir(broken.place.out_dir).checkpoint("last"))
    assert state["epoch"] == 1 and (state["partial"] or {}).get("step") == step
    resumed = train(broken, resume=True, log=quiet)
    assert strip(resumed.history) == strip(unbroken.history)
    assert abs(resumed.kept_score() - unbroken.kept_score()) < 1e-6


def test_a_stop_during_the_saves_or_with_one_step_an_epoch_is_not_lost(tiny_seg_root, tmp_path):
    def sigterm_after_the_saves(line):  # the epoch's log line comes after its saves
        if line.startswith("epoch 1/"):
            os.kill(os.getpid(), signal.SIGTERM)
    with pytest.raises(Preempted, match="stopped by SIGTERM after epoch 1;"):
        train(tiny(tiny_seg_root, tmp_path / "saves", **BASE), log=sigterm_after_the_saves)
    one_step = tiny(tiny_seg_root, tmp_path / "one", **{**BASE, "batch_size": 8})
    with sigterm_at("train", 1), pytest.raises(Preempted, match="stopped by SIGTERM after epoch 1;"):
        train(one_step, log=quiet)
    assert load_checkpoint(RunDir(one_step.place.out_dir).checkpoint("last"))["epoch"] == 1


def test_resume_reads_generators_as_cpu_tensors_and_refuses_a_part_way_state_of_another_device(
        tiny_seg_root, tmp_path):
    cfg = tiny(tiny_seg_root, tmp_path / "r", **BASE)
    with sigterm_at("train", 2), pytest.raises(Preempted):
        train(cfg, log=quiet)
    s = set_up(cfg, quiet)
    state = resume_run(s, extend=False)  # loads last.pt onto the CPU whatever the run's device
    rank = state.partial
    assert rank["rng"]["cpu"].device.type == "cpu" and rank["rng"]["cpu"].dtype == torch.uint8
    assert all(t.device.type == "cpu" for t in rank["augmentation"].values())
    elsewhere = dataclasses.replace(s, device=torch.device("meta"))  # the meta device stands in for a GPU
    with pytest.raises(CheckpointError, match="stopped part-way through epoch 1 on cpu, whose random generators "
                                              "cannot continue on meta; resume it on a cpu device"):
        resume_run(elsewhere, extend=False)


def test_hw2_train_exits_75_on_sigterm_and_resume_finishes_it(tiny_seg_root, tmp_path):
    # 64 px: the signal, sent when epoch 1's line is read, must land within epoch 2's 8 steps
    (tmp_path / "p.yaml").write_text(
        f"model: fcn8s\nhead_width: 16\nimage_size: 64\nbatch_size: 1\nepochs: 2\nclasses: dubai\n"
        f"data_root: {tiny_seg_root}\nout_dir: {tmp_path / 'run'}\ncheckpoint_minutes: 1000\n")
    proc = subprocess.Popen([sys.executable, "-m", "hw2lib", "train", str(tmp_path / "p.yaml")], cwd=ROOT,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        if line.startswith("epoch 1/2"):
            proc.send_signal(signal.SIGTERM)
            break
    assert proc.wait(timeout=120) == 75
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 1 and 0 <= (state["partial"] or {"step": 0})["step"] < 8
    out = hw2_process("train", tmp_path / "p.yaml", "--resume")
    assert out.returncode == 0, out.stderr
    assert RunDir(tmp_path / "run").record().complete


def test_after_a_crash_the_kept_files_and_both_records_name_the_same_epoch(tiny_seg_root, tmp_path):
    """last.pt of epoch 1 (a stop), then epoch 2 becomes the kept one, then the process is killed
    in epoch 3: kept.pt, evaluation/kept.npz, metrics.json and last.pt must still agree."""
    run = tmp_path / "run"
    (tmp_path / "p.yaml").write_text(
        f"model: fcn8s\nhead_width: 16\nimage_size: 32\nbatch_size: 2\nepochs: 4\nclasses: dubai\nselect: val_loss\n"
        f"data_root: {tiny_seg_root}\nout_dir: {run}\ncheckpoint_minutes: 1000\n")
    (tmp_path / "script.py").write_text(SIGNAL_AT_STEP)

    def hw2_signalled(at, sig, *args):
        return subprocess.run([sys.executable, str(tmp_path / "script.py"), "train", str(tmp_path / "p.yaml"), *args],
                              cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "AT": str(at), "SIGNAL": sig})
    assert hw2_signalled(4, "SIGTERM").returncode == 75  # after epoch 1's 4 steps
    assert hw2_signalled(5, "SIGKILL", "--resume").returncode == -9  # epoch 2 done, killed in epoch 3
    last = load_checkpoint(run / "last.pt")
    record = RunDir(run).record()
    kept = load_checkpoint(run / "kept.pt")
    assert last["record"]["kept"]["epoch"] == record.kept_epoch == kept["epoch"] == \
        RunDir(run).evaluation("kept")["epoch"]
    assert last["record"]["kept"]["weights_sha256"] == record.kept_digest() == file_sha256(run / "kept.pt")
    history = RunDir(run).record().history
    assert len(history) == 2 and history[1]["val_loss"] < history[0]["val_loss"]  # epoch 2 was a new kept one
    assert hw2_process("train", tmp_path / "p.yaml", "--resume").returncode == 0
    done = RunDir(run).record()
    assert done.kept_digest() == file_sha256(run / "kept.pt")
    assert done.kept_epoch == load_checkpoint(run / "kept.pt")["epoch"]


def file_sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_resume_on_changed_data_is_refused_naming_the_split(tiny_seg_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_seg_root, root)
    cfg = tiny(root, tmp_path / "r", **BASE)
    with sigterm_at("train", 4), pytest.raises(Preempted):
        train(cfg, log=quiet)
    spec = get_spec("dubai")
    labels = spec.decode(read_rgb(root / "train" / "0000_mask.png"))
    labels[:8, :8] = 3
    save_rgb(root / "train" / "0000_mask.png", spec.encode(labels))
    with pytest.raises(CheckpointError, match="the data of train changed since it was saved"):
        train(cfg, resume=True, log=quiet)
