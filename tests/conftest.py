"""Shared paths and small helpers for the tests. Data: the embedded sample; the homework's own
format from ../shared/data/dlcv when it exists (tests that need it skip otherwise)."""
import contextlib
import io
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
DUBAI = SAMPLE / "dubai_aerial"
CIFAR = SAMPLE / "cifar50"
DLCV = ROOT.parent / "shared" / "data" / "dlcv"

sys.path.insert(0, str(ROOT / "bench"))  # the official evaluator's reference re-implementation


def hw2(*args):
    """`hw2 ARGS` as a user types it in the project root: exit code, stdout and stderr. It runs
    the console script's own `main` in this process (a fresh interpreter would import torch again
    for every call); an uncaught exception fails the test instead of printing a traceback."""
    from hw2lib.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's usage errors
            code = e.code
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def hw2_process(*args):
    """`python -m hw2lib ARGS` in a new process: the real entry point, end to end."""
    return subprocess.run([sys.executable, "-m", "hw2lib", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT)


@pytest.fixture
def dlcv():
    if not (DLCV / "p2_data" / "train").is_dir():
        pytest.skip("the homework-format data (../shared/data/dlcv) is not present")
    return DLCV


def save_rgb(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def copy_tiles(src, dst, ids):
    import shutil

    dst.mkdir(parents=True, exist_ok=True)
    for i in ids:
        shutil.copy(src / f"{i}_sat.jpg", dst)
        shutil.copy(src / f"{i}_mask.png", dst)
    return dst


TINY_SEG = {"model": "fcn8s", "head_width": 16, "image_size": 64, "batch_size": 4, "epochs": 2,
            "classes": "dubai", "lr": 1e-3, "snapshot_ids": ["0001", "0003"],
            "snapshot_epochs": [1, 2]}


@pytest.fixture(scope="session")
def tiny_seg_root(tmp_path_factory):
    """A small segmentation data_root: 8 training tiles, 4 validation tiles of the sample."""
    root = tmp_path_factory.mktemp("seg")
    copy_tiles(DUBAI / "train", root / "train", [f"{i:04d}" for i in range(0, 16, 2)])
    copy_tiles(DUBAI / "validation", root / "validation", [f"{i:04d}" for i in range(4)])
    return root


@pytest.fixture(scope="session")
def tiny_seg_run(tiny_seg_root, tmp_path_factory):
    """A trained 2-epoch FCN8s run folder (tiny head, 64x64)."""
    from hw2lib.config import make_config
    from hw2lib.training import train

    out = tmp_path_factory.mktemp("run") / "fcn8s"
    train(make_config({**TINY_SEG, "data_root": str(tiny_seg_root), "out_dir": str(out)}),
          log=lambda *_: None)
    return out


@pytest.fixture(scope="session")
def tiny_cls_run(tmp_path_factory):
    """ResNet18 trained 2 epochs on the whole 50-class sample (2,500 images, 32x32)."""
    from hw2lib.config import make_config
    from hw2lib.training import train

    out = tmp_path_factory.mktemp("cls") / "resnet18"
    cfg = make_config({"task": "classification", "model": "resnet18", "data_root": str(CIFAR),
                       "epochs": 2, "batch_size": 64, "lr": 1e-3, "augment": ["crop", "flip"],
                       "keep_checkpoints": [1], "out_dir": str(out)})
    return out, train(cfg, log=lambda *_: None)
