"""`hw2 report` end to end on the smallest profile (`smoke`), then a real browser opens the page."""
import json
import re

import pytest

from browser import find_chromium, inspect
from conftest import ROOT
from hw2lib import workbook as wb
from hw2lib.report import ReportError, build, execute


@pytest.fixture(scope="session")
def report():
    return build("smoke", log=lambda *_: None)


def test_report_is_one_page_in_the_seed_reports_order_with_results_and_provenance(report):
    page = report.read_text()
    headings = ("Provenance", "Results", "Problem 1: image classification", "P1.1 The network",
                "P1.2 Validation accuracy", "Problem 1 — t-SNE", "Problem 2: semantic segmentation",
                "P2.1 FCN32s architecture", "P2.2 Predicted masks", "P2.3", "P2.4", "P2.5",
                "Where does the improvement", "Ablation:")
    order = [page.index(">" + h) for h in headings]
    assert order == sorted(order)
    for run in ("resnet18", "fcn32s", "fcn16s", "fcn8s", "fcn4s", "fcn2s"):
        assert re.search(rf"<td[^>]*>{run}</td>", page), run
    assert "params: 11,202,162" in page  # ResNet18's printed network ends with its count
    imgs = re.findall(r"<img[^>]*src=\"([^\"]{0,30})", page)
    assert len(imgs) >= 10 and all(src.startswith("data:image/png;base64,") for src in imgs)
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", page)
    assert "widget-view+json" not in page  # the inspector degraded to its static grid


def test_every_figure_is_also_a_png_under_figures(report):
    names = {p.stem for p in (ROOT / "figures" / "smoke").glob("*.png")}
    assert {"p1_training_curves", "p1_tsne", "p2_fcn32s_stages", "p2_fcn8s_stages",
            "p2_comparison_grid", "p2_boundary_vs_interior", "ablation_grid"} <= names


def test_unchanged_runs_are_reused_and_changed_ones_are_not(report, tmp_path):
    cfg = wb.config("smoke", "fcn8s")
    best = ROOT / "runs" / "smoke" / "fcn8s" / "best.pt"
    before = best.stat().st_mtime_ns
    lines = []
    wb.train_or_reuse(cfg, log=lines.append)
    assert "reusing" in lines[0] and best.stat().st_mtime_ns == before
    assert wb.cache_key({**cfg, "lr": cfg["lr"] * 2}) != wb.cache_key(cfg)
    assert wb.cache_key({**cfg, "device": "cpu"}) == wb.cache_key(cfg)


def test_a_failing_notebook_is_named_with_its_cell_and_kept(tmp_path):
    out = tmp_path / "02_fcn32s.ipynb"
    with pytest.raises(ReportError, match=r"notebooks/02_fcn32s.ipynb failed in cell \d+ .*no run 'nope'"):
        execute("02_fcn32s", "smoke", None, out, overrides={"run": "nope"})
    kept = json.loads(out.read_text())
    assert any(o.get("output_type") == "error" for c in kept["cells"] for o in c.get("outputs", []))


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (.ci/run installs it)")
def test_chromium_renders_the_report_offline_with_all_images(report):
    shot = ROOT / "build" / "report" / "screenshot.png"
    urls, n_images, decoded = inspect(report, shot)
    assert n_images >= 10 and decoded == n_images
    assert [u for u in urls if not u.startswith(("file:", "data:"))] == []
    assert shot.stat().st_size > 50_000


@pytest.mark.parametrize("profile", ["sample", "homework", "smoke"])
def test_every_profile_describes_valid_runs_and_notebook_parameters(profile):
    from hw2lib.models import model_task
    from hw2lib.report import RUN_ORDER

    runs_yaml = ROOT / "params" / profile / "runs.yaml"
    runs = wb.read_yaml(runs_yaml)["runs"]
    for name in runs:
        cfg = wb.run_config(runs_yaml, name, data_root="/data/hw2")
        assert model_task(cfg["model"]) == cfg["task"]
        assert cfg["out_dir"].endswith(f"runs/{profile}/{name}")
    for notebook in RUN_ORDER:
        params = wb.read_yaml(ROOT / "params" / profile / f"{notebook}.yaml")
        named = [v for k, v in params.items() if k in ("run", "main_run", "baseline", "improved")]
        named += [n for k, v in params.items() if isinstance(v, list) for n in v]
        assert set(named) <= set(runs), (notebook, set(named) - set(runs))
