import subprocess
import sys

import pytest

from conftest import ROOT, quiet, tiny
from hw2lib.engine.run_dir import RunDir
from hw2lib.errors import RunNotTrained
from hw2lib.runs.reuse import load_runs, plan, train_or_reuse

TRAIN_IN_ANOTHER_PROCESS = """
import sys
from hw2lib.runs.reuse import train_or_reuse
from hw2lib.settings import RunSettings
train_or_reuse(RunSettings.build(eval(sys.argv[1])), log=lambda line: print(line, flush=True))
"""


def test_a_run_is_reused_continued_or_trained_as_its_folder_says(tiny_seg_root, tmp_path):
    cfg = tiny(tiny_seg_root, tmp_path / "r", epochs=3, checkpoint_minutes=0)
    assert (plan(cfg).action, plan(cfg).reason) == ("train", "not trained yet")

    def crash(line):
        if line.startswith("epoch 2/"):
            raise RuntimeError("the machine went away")
    with pytest.raises(RuntimeError):
        train_or_reuse(cfg, log=crash)
    assert plan(cfg).action == "resume"  # last.pt of epoch 2 and the same key
    said = []
    train_or_reuse(cfg, log=said.append)
    assert said[0] == "r: continuing fcn8s (3 epochs)" and said[1] == f"resuming {tmp_path / 'r'} after epoch 2"
    kept = RunDir(cfg.place.out_dir).checkpoint("kept").stat().st_mtime_ns
    said = []
    train_or_reuse(cfg, log=said.append)
    assert said[0].startswith("r: unchanged (cache key") and said[0].endswith("reusing it")
    assert RunDir(cfg.place.out_dir).checkpoint("kept").stat().st_mtime_ns == kept
    assert (plan(cfg.replace(lr=2e-3)).action, plan(cfg.replace(lr=2e-3)).reason) == ("train", "params: lr")


def test_a_second_process_asking_for_a_run_in_training_waits_then_reuses_it(tiny_seg_root, tmp_path):
    cfg = tiny(tiny_seg_root, tmp_path / "r", epochs=4)
    first = subprocess.Popen([sys.executable, "-c", TRAIN_IN_ANOTHER_PROCESS, repr(cfg.flat())], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline().startswith("r: training")  # it holds the lock now
    said = []
    record = train_or_reuse(cfg, log=said.append)
    assert first.wait(timeout=120) == 0
    assert said[0] == "r: another process is training it; waiting for it"
    assert said[1].endswith("reusing it") and len(record.history) == 4


@pytest.mark.xdist_group("smoke_report")  # it reads runs/smoke, which the smoke report's build replaces
def test_a_batch_build_refuses_a_run_that_is_not_trained_and_names_it():
    with pytest.raises(RunNotTrained, match=r"run fcn16s is not trained with its current params .* `hw2 runs`"):
        load_runs("smoke", ["fcn16s"], train_missing=False, overrides=["lr=0.123"], log=quiet)
