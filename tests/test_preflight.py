"""The homework job before the long run: `hw2 check` on homework-format data.

The homework's own tiles (../shared/data/dlcv, internal use only, never copied into the project)
are arranged as the homework's folders with symbolic links; pretrained weights are stand-ins
with the real files' names and shapes in a temporary torch hub cache (this machine is offline).
"""
import re

import numpy as np
import pytest

from conftest import DLCV, arrange, hw2, save_rgb

pytestmark = pytest.mark.skipif(not (DLCV / "p2_data" / "train").is_dir(),
                                reason="the homework-format data (../shared/data/dlcv) is not present")


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
