"""Shared paths, helpers and trained runs for the tests. Data: the embedded sample; the homework's
own format from ../shared/data/dlcv when it exists (tests that need it skip otherwise)."""
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torchvision
import yaml
from packaging import version
from PIL import Image
from torch.nn.modules.module import register_module_forward_hook

from hw2lib.data.label_specs import get_spec
from hw2lib.data.metrics import scores
from hw2lib.engine.record import RunRecord
from hw2lib.engine.run_dir import RunDir
from hw2lib.engine.training import train
from hw2lib.models import MODELS
from hw2lib.models.fcn import FCN
from hw2lib.models.weights import hub_cache_path
from hw2lib.runs.reuse import Run
from hw2lib.settings import RunSettings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
DUBAI = SAMPLE / "dubai_aerial"
CIFAR = SAMPLE / "cifar50"
DLCV = ROOT.parent / "shared" / "data" / "dlcv"

sys.path.insert(0, str(ROOT / "bench"))  # the official evaluator's reference re-implementation
# Decoded data are cached per data fingerprint; the tests keep theirs apart from a user's.
os.environ.setdefault("HW2_DATA_CACHE", str(Path(os.environ.get("TMPDIR", "/tmp")) / "hw2-test-cache"))


def quiet(*_):
    pass


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


# `hw2 ARGS` in a process that sends itself SIGNAL at its AT-th training step (a torch forward hook).
SIGNAL_AT_STEP = """
import os, signal, sys
from torch.nn.modules.module import register_module_forward_hook
from hw2lib.cli import main
from hw2lib.models.fcn import FCN
seen = [0]
def hook(module, args, output):
    if isinstance(module, FCN) and module.training:
        seen[0] += 1
        if seen[0] == int(os.environ["AT"]):
            os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL"]))
register_module_forward_hook(hook)
sys.exit(main(sys.argv[1:]))
"""


@contextlib.contextmanager
def sigterm_at(mode, count):
    """SIGTERM to this process at the `count`-th forward pass of the model in `mode` ("train":
    a training step, "eval": validation or snapshots)."""
    seen = {"train": 0, "eval": 0}

    def hook(module, args, output):
        if isinstance(module, FCN):
            now = "train" if module.training else "eval"
            seen[now] += 1
            if now == mode and seen[now] == count:
                os.kill(os.getpid(), signal.SIGTERM)
    handle = register_module_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def hw2_process(*args, **kwargs):
    """`python -m hw2lib ARGS` in a new process: the real entry point, end to end."""
    return subprocess.run([sys.executable, "-m", "hw2lib", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, **kwargs)


@pytest.fixture
def dlcv():
    if not (DLCV / "p2_data" / "train").is_dir():
        pytest.skip("the homework-format data (../shared/data/dlcv) is not present")
    return DLCV


def save_rgb(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def copy_tiles(src, dst, ids):
    dst.mkdir(parents=True, exist_ok=True)
    for i in ids:
        shutil.copy(src / f"{i}_sat.jpg", dst)
        shutil.copy(src / f"{i}_mask.png", dst)
    return dst


def as_run(path, name=None):
    """A trained run folder as the `Run` the notebooks' functions take."""
    record = RunDir(path).record()
    return Run(name or Path(path).name, record.settings.replace(out_dir=str(path)), record, [])


TINY_SEG = {"model": "fcn8s", "head_width": 16, "image_size": 32, "batch_size": 4, "epochs": 2,
            "classes": "dubai", "lr": 1e-3, "snapshot_ids": ["0001", "0003"],
            "snapshot_epochs": [1, 2]}


def tiny(root, out, **changes):
    """A tiny segmentation config on data `root`, writing to `out`."""
    return RunSettings.build({**TINY_SEG, "data_root": str(root), "out_dir": str(out), **changes})


@pytest.fixture(scope="session")
def tiny_seg_root(tmp_path_factory):
    """A small segmentation data_root: 8 training tiles, 4 validation tiles of the sample."""
    root = tmp_path_factory.mktemp("seg")
    copy_tiles(DUBAI / "train", root / "train", [f"{i:04d}" for i in range(0, 16, 2)])
    copy_tiles(DUBAI / "validation", root / "validation", [f"{i:04d}" for i in range(4)])
    return root


@pytest.fixture(scope="session")
def tiny_seg_run(tiny_seg_root, tmp_path_factory):
    """A trained 2-epoch FCN8s run folder (tiny head, 32x32)."""
    out = tmp_path_factory.mktemp("run") / "fcn8s"
    train(tiny(tiny_seg_root, out), log=quiet)
    return out


@pytest.fixture(scope="session")
def tiny_cls_run(tmp_path_factory):
    """ResNet18 trained 2 epochs on the whole 50-class sample (2,500 images, 32x32)."""
    out = tmp_path_factory.mktemp("cls") / "resnet18"
    cfg = RunSettings.build({"task": "classification", "model": "resnet18", "data_root": str(CIFAR),
                       "epochs": 2, "batch_size": 64, "lr": 1e-3, "augment": ["crop", "flip"],
                       "keep_checkpoints": [1], "out_dir": str(out)})
    return out, train(cfg, log=quiet)


def hand_made_run(path, cms, **params):
    """A segmentation run folder written by hand through the real `RunDir` and `RunRecord`: its
    kept epoch's per-tile confusion matrices `cms` (N, C, C) over the dubai classes."""
    cms = np.asarray(cms)
    cfg = RunSettings.build({**TINY_SEG, "out_dir": str(path), "snapshot_ids": [], "snapshot_epochs": [], **params})
    row = {"epoch": 1, "train_loss": 1.0, "val_loss": 1.0,
           **{f"val_{k}": v for k, v in scores(cms.sum(0), get_spec("dubai")).items()}}
    record = RunRecord(params=cfg.flat(), complete=True, history=[row])
    record.keep(row, cms.sum(0), {"val_iou": row["val_iou"]})
    run = RunDir(path)
    run.path.mkdir(parents=True)
    run.write_record(record)
    ids = np.array([f"{i:04d}" for i in range(len(cms))])
    for tag in ("kept", "final"):
        run.save_evaluation(tag, epoch=1, ids=ids, cms=cms)
    return as_run(path)


# --- homework-format data and stand-in ImageNet weights (this machine is offline) -------------
SNAPSHOTS = ("0010", "0097", "0107")  # the homework profile's snapshot tiles


def arrange(dst, tiles=range(300), images_per_class=100):
    """p1_data/{train_50,val_50} and p2_data/{train,validation} as links into dlcv."""
    for name in ("train_50", "val_50"):
        (dst / "p1_data" / name).mkdir(parents=True)
    for p in sorted((DLCV / "p1_data" / "train_50").glob("*.png")):
        idx = int(p.stem.split("_")[1])
        if idx < images_per_class:
            split = "val_50" if idx >= images_per_class - 10 else "train_50"
            os.symlink(p, dst / "p1_data" / split / p.name)
    for name in ("train", "validation"):
        (dst / "p2_data" / name).mkdir(parents=True)
    for i in tiles:
        tile = f"{i:04d}"
        split = "validation" if tile in SNAPSHOTS or i % 10 == 3 else "train"
        for kind in ("sat.jpg", "mask.png"):
            os.symlink(DLCV / "p2_data" / "train" / f"{tile}_{kind}", dst / "p2_data" / split / f"{tile}_{kind}")
    return dst


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory):
    """A torch hub cache with stand-in ImageNet weights under the real files' names: each network
    as torchvision initialises it (random, but with working batch-norm statistics and features
    that differ from image to image, as trained weights' do)."""
    home = tmp_path_factory.mktemp("torch_home")
    old = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(home)
    for weights in {entry.weights for entry in MODELS.values()}:
        builder = weights.__class__.__name__.removesuffix("_Weights").lower()
        torch.manual_seed(0)
        path = hub_cache_path(weights)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(getattr(torchvision.models, builder)().state_dict(), path)
    yield home
    if old is None:
        del os.environ["TORCH_HOME"]
    else:
        os.environ["TORCH_HOME"] = old


# --- the smoke report, built once: a build from scratch as on a fresh clone, then again ---------
# Reference numbers for two smoke runs, one far above anything the smoke run reaches.
FAKE_REFERENCE = {"runs": {"fcn8s": {"val_miou": {"value": 0.5, "line": 1, "quote": "0.5"}},
                           "resnet18": {"val_acc": {"value": 0.99, "line": 2, "quote": "99%"}}},
                  "claims": [{"text": "FCN8s beats FCN32s", "line": 3, "better": "fcn8s", "worse": "fcn32s"}]}


@pytest.fixture(scope="session")
def report(tmp_path_factory):
    """(the rebuilt page, when the first build started, the first page's text, its figures' times):
    the smoke report built from scratch, then again from the saved runs."""
    from hw2lib.report.build import build_report

    shutil.rmtree(ROOT / "runs" / "smoke", ignore_errors=True)
    reference = tmp_path_factory.mktemp("reference") / "reference_results.yaml"
    reference.write_text(yaml.safe_dump(FAKE_REFERENCE))
    started = time.time()
    fresh = build_report("smoke", reference_results=reference, log=lambda *_: None).read_text()
    figures = {p.stem: p.stat().st_mtime for p in (ROOT / "figures" / "smoke").glob("*.png")}
    rebuilt = build_report("smoke", reference_results=reference, log=lambda *_: None)
    return rebuilt, started, fresh, figures


# --- `make test` runs on 2 pytest-xdist workers (`-n 2 --dist loadgroup`) -------------------------
# Tests that share an expensive session fixture, or a folder under runs/, go to one worker: each
# worker would otherwise build its own copy (the smoke report: a minute and a half) or race the
# other for the folder. A test joins the group of the first fixture listed below that it uses, or of
# its module.
FIXTURE_GROUPS = {"report": "smoke_report", "torch_home": "stand_in_weights", "tiny_cls_run": "trained_resnet18"}
MODULE_GROUPS = {"test_graph": "ray_profile", "test_ddp": "ddp"}  # runs/smoke-dry; the unbroken DDP run


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        group = next((g for f, g in FIXTURE_GROUPS.items() if f in item.fixturenames),
                     MODULE_GROUPS.get(item.path.stem))
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_configure(config):
    """pytest-xdist 3.8 loses the groups on pytest 9.2 (pytest-xdist#1386): say so, rather than
    build the smoke report twice, in two workers racing for runs/smoke."""
    config.addinivalue_line("markers", "xdist_group(name): tests that pytest-xdist runs on one worker")
    if config.getoption("dist", "no") == "loadgroup" and version.parse(pytest.__version__).release >= (9, 2):
        import xdist

        if version.parse(xdist.__version__) <= version.parse("3.8.0"):
            raise pytest.UsageError(f"pytest {pytest.__version__} with pytest-xdist {xdist.__version__} ignores "
                                    "--dist loadgroup's groups (pytest-xdist#1386): install requirements.txt's pytest")


if os.environ.get("PYTEST_XDIST_WORKER"):
    # The workers share the cores: one worker's kernels, and the processes it starts, use its share.
    share = str(max(1, len(os.sched_getaffinity(0)) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    torch.set_num_threads(int(share))
    os.environ["OMP_NUM_THREADS"] = share
