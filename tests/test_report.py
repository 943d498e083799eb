"""`hw2 report` end to end on the smallest profile (`smoke`), then a real browser opens the page."""
import json
import re
import shutil
import time

import pytest

from browser import find_chromium, inspect
from conftest import ROOT
from hw2lib.errors import ReportError
from hw2lib.profiles import config, run_config, run_names
from hw2lib.report import RUN_ORDER, build, execute
from hw2lib.run_cache import cache_key, train_or_reuse


@pytest.fixture(scope="session")
def report():
    """A build from scratch, as on a fresh clone: earlier smoke runs would be reused, not trained."""
    shutil.rmtree(ROOT / "runs" / "smoke", ignore_errors=True)
    started = time.time()
    return build("smoke", log=lambda *_: None), started


def test_report_is_one_page_in_the_seed_reports_order_with_results_and_provenance(report):
    page = report[0].read_text()
    headings = ("Provenance", "Results", "Problem 1: image classification", "P1.1 The network",
                "P1.2 Validation accuracy", "Problem 1 — t-SNE", "Problem 2: semantic segmentation",
                "P2.1 FCN32s architecture", "P2.2 Predicted masks", "P2.3", "P2.4", "P2.5",
                "Where does the improvement", "Inspect the masks", "Ablation:")
    order = [page.index(">" + h) for h in headings]
    assert order == sorted(order)
    for run in run_names("smoke"):
        assert re.search(rf"<td[^>]*>{run}</td>", page), run
    assert "params: 11,202,162" in page  # ResNet18's printed network ends with its count
    assert "best epoch on validation" in page and "final epoch" in page and "val loss" in page
    imgs = re.findall(r"<img[^>]*src=\"([^\"]{0,30})", page)
    assert len(imgs) >= 10 and all(src.startswith("data:image/") for src in imgs)
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", page)
    assert "widget-view+json" not in page and 'class="mask-inspector"' in page
    # Under papermill training logs one line per epoch: no progress-bar characters reach the page.
    assert re.search(r"epoch 2/2  train_loss \d", page) and "█" not in page and "it/s]" not in page


def test_every_notebook_ends_with_findings_written_from_its_numbers(report):
    for notebook in RUN_ORDER:
        page = (ROOT / "build" / "report" / "smoke" / f"{notebook}.html").read_text()
        findings = page[page.rindex(">Findings<"):]
        assert "<li>" in findings, notebook
        if notebook != "02_fcn32s":  # the others compare: every difference carries its interval
            assert re.search(r"[+-]\d\.\d{4} \(95% CI \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\]\)", findings), notebook
    p2 = (ROOT / "build" / "report" / "smoke" / "03_fcn8s.html").read_text()
    for pair in ("fcn8s vs fcn32s_no_relu", "fcn32s_no_relu vs fcn32s", "fcn8s_lovasz vs fcn8s"):
        assert pair in p2
    assert "across seeds" in p2 and "± " in p2  # fcn8s has two seeds in the smoke profile


def test_every_figure_is_written_by_this_build(report):
    _, started = report
    figures = {p.stem: p.stat().st_mtime for p in (ROOT / "figures" / "smoke").glob("*.png")}
    expected = {"p1_training_curves", "p1_per_class_accuracy", "p1_confusion_matrix", "p1_class_shares",
                "p1_tsne", "p1_confused_pairs", "p2_fcn32s_stages", "p2_fcn8s_stages",
                "p2_comparison_grid", "p2_boundary_vs_interior", "p2_class_iou", "p2_class_shares",
                "ablation_grid", "ablation_curves"}
    assert expected <= set(figures)
    assert all(mtime >= started for mtime in figures.values())


def test_unchanged_runs_are_reused_and_changed_ones_are_not(report):
    cfg = config("smoke", "fcn8s")
    best = ROOT / "runs" / "smoke" / "fcn8s" / "best.pt"
    before = best.stat().st_mtime_ns
    lines = []
    train_or_reuse(cfg, log=lines.append)
    assert "reusing" in lines[0] and best.stat().st_mtime_ns == before
    assert cache_key({**cfg, "lr": cfg["lr"] * 2}) != cache_key(cfg)
    assert cache_key({**cfg, "device": "cpu"}) == cache_key(cfg)
    lovasz = config("smoke", "fcn8s_lovasz")
    assert lovasz["init_from"].endswith("runs/smoke/fcn8s")
    record = json.loads((ROOT / "runs" / "smoke" / "fcn8s" / "metrics.json").read_text())
    assert record["cache_key"] == cache_key(cfg)


def test_a_failing_notebook_is_named_with_its_cell_and_kept(tmp_path):
    out = tmp_path / "02_fcn32s.ipynb"
    with pytest.raises(ReportError, match=r"notebooks/02_fcn32s.ipynb failed in cell \d+ .*no run 'nope'"):
        execute("02_fcn32s", "smoke", None, out, overrides={"run": "nope"})
    kept = json.loads(out.read_text())
    assert any(o.get("output_type") == "error" for c in kept["cells"] for o in c.get("outputs", []))


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (.ci/run installs it)")
def test_chromium_renders_the_report_offline_and_the_inspector_responds(report):
    shot = ROOT / "build" / "report" / "screenshot.png"
    urls, n_images, decoded, inspector = inspect(report[0], shot)
    assert n_images >= 10 and decoded == n_images
    assert [u for u in urls if not u.startswith(("file:", "data:"))] == []
    assert shot.stat().st_size > 50_000
    assert inspector is not None and inspector["selects"] == 3 and inspector["ranges"] == 2
    assert inspector["before"].startswith("data:image/png") and inspector["changed"]
    assert "tile mIoU" in inspector["caption"]


@pytest.mark.parametrize("profile", ["sample", "homework", "smoke"])
def test_every_profile_describes_valid_runs_and_notebook_parameters(profile):
    from hw2lib.config import read_yaml
    from hw2lib.models import model_task

    runs_yaml = ROOT / "params" / profile / "runs.yaml"
    names = run_names(profile)
    for name in names:
        cfg = run_config(runs_yaml, name, data_root="/data/hw2")
        assert model_task(cfg["model"]) == cfg["task"]
        assert cfg["out_dir"].endswith(f"runs/{profile}/{name}")
        dry = run_config(runs_yaml, name, data_root="/data/hw2", dry=True)
        assert dry["out_dir"].endswith(f"runs/{profile}-dry/{name}") and dry["precision"] == "auto"
    assert "fcn32s_no_relu" in names and "fcn8s_lovasz" in names
    for notebook in RUN_ORDER:
        params = read_yaml(ROOT / "params" / profile / f"{notebook}.yaml")
        named = [v for k, v in params.items() if k in ("run", "main_run", "baseline", "control", "improved")]
        named += [n for v in params.values() if isinstance(v, (list, dict)) for n in v]
        named += [v for k, v in params.items() if k == "lovasz" for v in v.values()]
        assert set(named) <= set(names), (notebook, set(named) - set(names))
