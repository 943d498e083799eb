"""The GPU check's measuring script, tried on this CPU at toy sizes: one JSON line per run, with
the middle epoch's parts and the saves counted apart."""
import json
import os
import subprocess
import sys

from conftest import ROOT
from hw2lib.runs.profiles import run_names


def test_gpu_epochs_writes_one_line_per_run_as_it_ends(tmp_path):
    out = tmp_path / "epochs.jsonl"
    proc = subprocess.run([sys.executable, "bench/gpu_epochs.py", "--data", str(tmp_path / "data"), "--work",
                           str(tmp_path / "runs"), "--out", str(out), "--tiles", "24", "--images", "2", "--limit", "8",
                           "--val-limit", "4", "--set", "image_size=64", "input_size=32", "head_width=16",
                           "batch_size=4", "--runs", "fcn8s", "resnet18"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), "HW2_PROGRESS": "0"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["run"] for r in rows] == ["fcn8s", "resnet18"], rows
    for row in rows:
        assert row["steps_per_epoch"] == 2 and row["train_s"] > 0 and row["val_s"] > 0
        # the saves from the run's own record: the middle epoch's, and what the last one adds
        middle, last = json.loads((tmp_path / "runs" / row["run"] / "metrics.json").read_text())["history"][1:]
        assert row["routine_saves_s"] == middle["save_seconds"] > 0 and row["full_epoch_s"] > 0
        assert row["one_off_saves_s"] == max(0.0, round(last["save_seconds"] - middle["save_seconds"], 3))
    # every run whose model's cost was measured: fcn8s, its control (the same cost), resnet18, their repeats
    measured = [n for n in run_names("homework") if n.split("_seed")[0] in ("fcn8s", "fcn8s_ce_finetune", "resnet18")]
    assert f"projected training time of the homework profile's {len(measured)} runs" in proc.stdout
