"""The homework job before the long run: `hw2 check` and the dry run on homework-format data.

The homework's own tiles (../shared/data/dlcv, internal use only, never copied into the project)
are arranged as the homework's folders with symbolic links; pretrained weights are stand-ins
with the real files' names and shapes in a temporary torch hub cache (this machine is offline).
"""
import os
import re

import numpy as np
import pytest
import torch

from conftest import DLCV, ROOT, hw2, save_rgb

pytestmark = pytest.mark.skipif(not (DLCV / "p2_data" / "train").is_dir(),
                                reason="the homework-format data (../shared/data/dlcv) is not present")
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


def stand_in(key, meta):
    """A tensor of the real one's shape: small random weights, batch-norm statistics of a
    freshly initialised network (a negative running variance would make NaN features)."""
    if key.endswith("running_var"):
        return torch.ones(meta.shape)
    if not meta.is_floating_point() or key.endswith("running_mean"):
        return torch.zeros(meta.shape, dtype=meta.dtype)
    return torch.randn(meta.shape) * 0.01


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory):
    """A torch hub cache with stand-in ImageNet weights under the real files' names."""
    from hw2lib.models import MODELS
    from hw2lib.models.weights import hub_cache_path

    home = tmp_path_factory.mktemp("torch_home")
    old = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(home)
    for weights in {entry.weights for entry in MODELS.values()}:
        builder = weights.__class__.__name__.removesuffix("_Weights").lower()
        with torch.device("meta"):
            shapes = getattr(__import__("torchvision.models", fromlist=[builder]), builder)().state_dict()
        path = hub_cache_path(weights)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: stand_in(k, v) for k, v in shapes.items()}, path)
    yield home
    if old is None:
        del os.environ["TORCH_HOME"]
    else:
        os.environ["TORCH_HOME"] = old


def test_check_passes_on_homework_format_data(tmp_path, torch_home):
    data = arrange(tmp_path / "hw2_data")
    out = hw2("check", "--profile", "homework", "--data-root", data)
    assert out.returncode == 0, out.stderr
    assert "p2_data/validation: 33 tile pairs" in out.stdout and "p1_data/val_50: 500 images" in out.stdout
    assert "weights: vgg16-397923af.pth found" in out.stdout and out.stdout.strip().endswith("all checks passed")
    assert re.search(r"disk: the run folders will keep about \d+\.\d GB", out.stdout)


def test_check_names_every_problem_of_a_broken_copy(tmp_path, torch_home):
    from PIL import Image

    data = arrange(tmp_path / "hw2_data", tiles=list(range(12)) + [97, 107])
    train, val = data / "p2_data" / "train", data / "p2_data" / "validation"
    source = DLCV / "p2_data" / "train"
    for name in ("0000_sat.jpg", "0002_mask.png", "0004_mask.png"):  # replace links with copies
        (train / name).unlink()
    (train / "0000_sat.jpg").write_bytes((source / "0000_sat.jpg").read_bytes()[:3000])   # truncated
    save_rgb(train / "0002_mask.png", np.zeros((256, 256, 3)))                          # wrong size
    noisy = np.asarray(Image.open(source / "0004_mask.png").convert("RGB")).copy()
    noisy[:64] = (200, 30, 30)                                                          # 12.5% off-palette
    save_rgb(train / "0004_mask.png", noisy)
    (train / "0001_mask.png").unlink()                                                  # no partner
    for kind in ("sat.jpg", "mask.png"):
        (val / f"0107_{kind}").unlink()                                                 # a snapshot tile gone
    weights = torch_home / "hub" / "checkpoints" / "resnet101-63fe2227.pth"
    weights.rename(torch_home / "aside.pth")                                            # weights missing
    try:
        out = hw2("check", "--profile", "homework", "--data-root", data)
    finally:
        (torch_home / "aside.pth").rename(weights)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    problems = out.stderr
    assert "0000_sat.jpg: cannot decode" in problems
    assert "0001_sat.jpg: its partner" in problems and "0001_mask.png is missing" in problems
    assert "0002_mask.png: size 256x256 differs from its image's 512x512" in problems
    assert re.search(r"0004_mask.png: 12\.\d% of its pixels are not a deepglobe class colour", problems)
    assert "snapshot tiles 0107 are not in" in problems
    assert "resnet101-63fe2227.pth is missing (needed by deeplabv3_resnet101" in problems
    assert "https://download.pytorch.org/models/resnet101-63fe2227.pth" in problems
    val.rename(data / "p2_data" / "valid")                                              # a misnamed folder
    out = hw2("check", "--profile", "homework", "--data-root", data)
    assert out.returncode == 2 and "p2_data/validation: no such folder" in out.stderr


def test_the_dry_run_proves_the_whole_homework_pipeline(tmp_path, torch_home):
    from hw2lib.report import build
    from hw2lib.run_dir import RunDir

    data = arrange(tmp_path / "hw2_data", images_per_class=20)
    page = build("homework", str(data), dry_run=True, log=lambda *_: None)
    assert page == ROOT / "build" / "report" / "homework-dry.html"
    text = page.read_text()
    assert text.index("This is a dry run") < text.index(">Provenance<")  # near the top
    runs = ROOT / "runs" / "homework-dry"
    from hw2lib.profiles import run_names

    for name in run_names("homework"):
        record = RunDir(runs / name).record()
        assert record["complete"] and (runs / name / "best.pt").is_file(), name
        assert not (runs / name / "last.pt").exists(), name  # optimiser state dropped on completion
        assert re.search(rf"<td[^>]*>{name}</td>", text), name
    assert record["environment"]["precision"] in ("fp32", "bf16")
