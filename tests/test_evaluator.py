"""`hw2 miou` and `hw2 viz-mask`, run as a user runs them (a real process)."""
import json
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import DUBAI, hw2, save_rgb
from hw2lib.data.images import read_rgb
from hw2lib.data.label_specs import get_spec
from official_miou import mean_iou_score, read_masks


def write_random_masks(folder, n, seed, base=None):
    """RGB masks of arbitrary colours (off-palette and pure red included)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        rgb = rng.integers(0, 256, (64, 80, 3)) if base is None else base[i]
        save_rgb(folder / f"{i:04d}_mask.png", rgb)
    return folder


def test_miou_equals_official_evaluator_on_arbitrary_colours(tmp_path):
    rng = np.random.default_rng(7)
    # Blocky random masks so classes overlap in a realistic way, then perturbed colours.
    labels = np.repeat(np.repeat(rng.integers(0, 256, (6, 8, 10, 3)), 8, 1), 8, 2)
    labels[:, :8, :8] = (255, 0, 0)
    preds = np.where(rng.random(labels.shape) < 0.7, labels, rng.integers(0, 256, labels.shape))
    g = write_random_masks(tmp_path / "g", 6, 0, labels)
    p = write_random_masks(tmp_path / "p", 6, 0, preds)
    # Predictions as students save them: palette and RGBA PNGs as well as RGB.
    Image.open(p / "0001_mask.png").quantize(64).save(p / "0001_mask.png")
    Image.open(p / "0002_mask.png").convert("RGBA").save(p / "0002_mask.png")
    expected, ious = mean_iou_score(read_masks(p), read_masks(g), verbose=False)
    for workers in ("1", "3"):  # in this process, and split among worker processes
        out = hw2("miou", "-g", g, "-p", p, "--json", "--workers", workers)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        assert abs(got["miou"] - expected) < 1e-9
        assert list(got["per_class"]) == get_spec("deepglobe").scored_names
        np.testing.assert_allclose(list(got["per_class"].values()), ious, rtol=0, atol=1e-9)


def test_miou_refuses_a_worker_count_below_one(tmp_path):
    g = write_random_masks(tmp_path / "g", 2, 1)
    out = hw2("miou", "-g", g, "-p", g, "--workers", "0")
    assert out.returncode == 2 and "'0' is not a whole number of at least 1" in out.stderr


def test_miou_names_a_prediction_of_another_size(tmp_path):
    for spec in ("deepglobe", "dubai"):  # the code-pair path and the exact-colour path
        colours = get_spec(spec).palette()
        masks = colours[np.random.default_rng(0).integers(0, len(colours), (2, 64, 80))]
        g = write_random_masks(tmp_path / spec / "g", 2, 0, masks)
        p = write_random_masks(tmp_path / spec / "p", 2, 0, masks)
        save_rgb(p / "0001_mask.png", np.concatenate([masks[1], masks[1][:, :1]], axis=1))  # a column more
        out = hw2("miou", "-g", g, "-p", p, "--classes", spec)
        assert out.returncode == 2, out.stderr
        assert "0001_mask.png: size 81x64 differs from the label's 80x64" in out.stderr


def test_miou_equals_official_evaluator_on_homework_masks(tmp_path, dlcv):
    src = dlcv / "p2_data" / "train"
    names = sorted(p.name for p in src.glob("*_mask.png"))[:40]
    (tmp_path / "g").mkdir()
    (tmp_path / "p").mkdir()
    for k, name in enumerate(names):
        shutil.copy(src / name, tmp_path / "g")
        rgb = read_rgb(src / name)
        save_rgb(tmp_path / "p" / name, np.roll(rgb, 5 * k, axis=1))  # a shifted "prediction"
    out = hw2("miou", "-g", tmp_path / "g", "-p", tmp_path / "p")
    assert out.returncode == 0, out.stderr
    expected, _ = mean_iou_score(read_masks(tmp_path / "p"), read_masks(tmp_path / "g"), verbose=False)
    last = out.stdout.strip().splitlines()[-1]
    assert last == f"mean_iou: {expected:f}"
    assert len(out.stdout.strip().splitlines()) == 7


def test_miou_lists_unpaired_names(tmp_path):
    g = write_random_masks(tmp_path / "g", 3, 1)
    p = write_random_masks(tmp_path / "p", 2, 2)
    save_rgb(p / "extra_mask.png", np.zeros((64, 80, 3)))
    out = hw2("miou", "-g", g, "-p", p)
    assert out.returncode == 2
    assert "only in" in out.stderr and "0002_mask.png" in out.stderr and "extra_mask.png" in out.stderr
    assert "Traceback" not in out.stderr


def test_miou_names_a_truncated_mask_and_a_missing_folder(tmp_path):
    g = write_random_masks(tmp_path / "g", 2, 1)
    p = write_random_masks(tmp_path / "p", 2, 2)
    (p / "0001_mask.png").write_bytes((p / "0001_mask.png").read_bytes()[:100])
    out = hw2("miou", "-g", g, "-p", p)
    assert out.returncode == 2 and "0001_mask.png: cannot decode" in out.stderr
    out = hw2("miou", "-g", tmp_path / "nope", "-p", p)
    assert out.returncode == 2 and "nope: no such folder" in out.stderr


def test_miou_names_an_empty_prediction_folder(tmp_path):
    g = write_random_masks(tmp_path / "g", 2, 1)
    (tmp_path / "empty").mkdir()
    out = hw2("miou", "-g", g, "-p", tmp_path / "empty")
    assert out.returncode == 2 and "empty: empty, it holds no .png masks" in out.stderr


def test_miou_on_the_dubai_sample_with_its_spec(tmp_path):
    out = hw2("miou", "-g", DUBAI / "validation", "-p", DUBAI / "validation", "--classes", "dubai", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["miou"] == 1.0


def test_miou_path_imports_no_torch(tmp_path):
    g = write_random_masks(tmp_path / "g", 2, 1)
    code = ("import sys; from hw2lib.cli import main; "
            f"main(['miou', '-g', {str(g)!r}, '-p', {str(g)!r}]); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
