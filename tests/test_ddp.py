"""DDP on two CPU processes (gloo): the recorded validation numbers are those of the checkpoint
that rank 0 keeps, also for models with batch norm."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, TINY_SEG
from hw2lib.engine.inference import evaluate_folder, load_trained
from hw2lib.engine.run_dir import RunDir


def torchrun(tmp_path, port, **changes):
    (tmp_path / "p.yaml").write_text(json.dumps({**TINY_SEG, "out_dir": str(tmp_path / "run"), "device": "cpu",
                                                 **changes}))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(port), "-m", "hw2lib", "train", str(tmp_path / "p.yaml")]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    return RunDir(tmp_path / "run").record()


@pytest.mark.parametrize("model, port", [("fcn8s", 29517), ("unet16", 29518)])
def test_ddp_records_the_numbers_of_the_checkpoint_it_keeps(tiny_seg_root, tmp_path, model, port):
    options = {"head_width": None} if model == "unet16" else {}
    record = torchrun(tmp_path, port, model=model, data_root=str(tiny_seg_root), **options)
    assert record.environment["world_size"] == 2 and len(record.history) == 2
    # The recorded val mIoU (two shards, all-reduced; batch-norm statistics shared from rank 0)
    # equals a one-process evaluation of kept.pt.
    scores, evaluation = evaluate_folder(tmp_path / "run" / "kept.pt", tiny_seg_root / "validation", "cpu")
    best = record.kept
    assert scores["miou"] == pytest.approx(best["val_miou"], abs=1e-12)
    assert np.array_equal(evaluation.cm, np.array(best["confusion_matrix"]))
    assert evaluation.loss == pytest.approx(best["val_loss"], rel=1e-6)
    assert load_trained(tmp_path / "run" / "kept.pt", "cpu").precision == "fp32"
