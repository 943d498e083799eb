"""`hw2 report` end to end on the smallest profile (`smoke`), compared with a reference file made for
it, built twice; then a real browser opens the page and prints it."""
import html
import json
import re
import time
from html.parser import HTMLParser

import nbformat
import pytest

from browser import find_chromium, inspect, print_check
from conftest import ROOT
from hw2lib.errors import ReportError
from hw2lib.report.notebooks import SECTIONS, execute, run_notebook
from hw2lib.runs.profiles import run_names

class VisibleText(HTMLParser):
    """The page's words, without scripts, styles, and what changes from build to build by design:
    the provenance block (time, wall time) and the folded training logs (seconds per epoch)."""
    SKIP = ("script", "style")

    def __init__(self):
        super().__init__()
        self.words, self.skipping = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.words += data.split()


def visible_text(page):
    page = re.sub(r"Provenance.*?Results", "", page, flags=re.S)
    page = re.sub(r"<pre>.*?</pre>", "", page, flags=re.S)  # the training logs' seconds
    parser = VisibleText()
    parser.feed(page)
    return " ".join(parser.words)


def test_a_report_rebuilt_from_saved_runs_says_what_the_fresh_one_said(report):
    page, _, fresh, _ = report
    assert visible_text(page.read_text()) == visible_text(fresh)


def test_report_is_one_page_in_the_reference_reports_order_with_summary_results_and_provenance(report):
    page = report[0].read_text()
    headings = ("Summary: the reference report", "Provenance", "Results", "Problem 1 — 50-class image classification",
                "P1.1 The network", "P1.2 Validation accuracy", "P1.3 t-SNE", "Problem 2 — semantic segmentation",
                "P2.1 FCN32s architecture", "P2.2 Predicted masks", "P2.3", "P2.4", "P2.5",
                "Does fine-tuning with the Lovasz loss help", "Where does the improvement", "Inspect the masks",
                "Ablation", "Appendix")
    order = [page.index(">" + h) for h in headings]
    assert order == sorted(order)
    assert page.count(">Problem 1") == 1 and page.count(">Problem 2") == 1  # one heading per problem
    for run in run_names("smoke"):
        assert re.search(rf"<td[^>]*>{run}</td>", page), run
    assert "Total params: 11,202,162" in page  # ResNet18's layer table ends with its count
    assert "epoch kept: final epoch" in page and "final epoch" in page and "val loss" in page
    imgs = re.findall(r"<img[^>]*src=\"([^\"]{0,30})", page)
    assert len(imgs) >= 10 and all(src.startswith("data:image/") for src in imgs)
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", page)
    assert "widget-view+json" not in page and 'class="mask-inspector"' in page


def test_logs_and_printed_networks_fold_away_and_print_in_the_appendix(report):
    page = report[0].read_text()
    folds = re.findall(r'<details class="fold"><summary>([^<]*)</summary>', page)
    assert "Training logs (one line per epoch)" in folds
    assert folds.count("The layer table (torchinfo) and its parameter count") == 3
    appendix = page[page.index('<section class="appendix">'):]
    assert "Total params: 11,202,162" in appendix and re.search(r"fcn8s  epoch 2/2  train_loss \d", appendix)
    body = page[:page.index('<section class="appendix">')]
    assert "█" not in page and "it/s]" not in page  # no progress bars reached the page
    assert not re.search(r"epoch \d+/\d+  train_loss", re.sub(r"<details.*?</details>", "", body, flags=re.S))


def test_the_reference_stands_beside_each_run_with_a_verdict_its_interval_supports(report):
    page = html.unescape(report[0].read_text())
    # The smoke runs score 8 of the 29 validation tiles and 200 of the 500 images: no verdict.
    assert "no verdict: scored on 8 of 29 validation tiles, the reference scored all of them" in page
    assert "no verdict: scored on 200 of 500 validation images, the reference scored all of them" in page
    assert "reproduces" not in page
    summary = page[page.index(">Summary"):page.index(">Provenance")]
    assert "FCN8s beats FCN32s (line 3)" in summary and "fcn8s − fcn32s: " in summary
    assert "most likely trained with cross-entropy" in summary
    assert "more epochs alone" not in summary  # the fake reference's claim has no control run to point to


def test_every_notebook_ends_with_findings_written_from_its_numbers(report):
    for notebook in SECTIONS:
        page = (ROOT / "build" / "report" / "smoke" / f"{notebook}.html").read_text()
        findings = page[page.rindex(">Findings<"):]
        assert "<li>" in findings, notebook
        if notebook != "02_fcn32s":  # the others compare: every difference carries its interval
            assert re.search(r"[+-]\d\.\d{4} \(95% CI \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\]; [^)]+\)", findings), notebook
    p2 = (ROOT / "build" / "report" / "smoke" / "03_fcn8s.html").read_text()
    for pair in ("fcn8s vs fcn32s_no_relu", "fcn32s_no_relu vs fcn32s", "fcn8s_ce_finetune vs fcn8s",
                 "fcn8s_lovasz vs fcn8s_ce_finetune", "fcn8s_lovasz vs fcn8s"):
        assert pair in p2
    assert "across trainings" in p2 and "± " in p2  # fcn8s has two seeds in the smoke profile
    # fcn32s and fcn8s both have two trainings: their difference's interval covers retraining too
    assert re.search(r"fcn8s vs fcn32s</th>\s*<td>[+-]\d\.\d{4} \(95% CI \[[^]]+\]; 2 trainings × 8 tiles\)", p2)
    assert "1 training: tile sampling only" in p2  # fcn16s has one
    tsne = (ROOT / "build" / "report" / "smoke" / "05_tsne.html").read_text()
    assert "512-d pooled features" in tsne and "512-d flattened last feature map" in tsne


def test_every_figure_is_written_by_each_build(report):
    _, started, _, first = report
    figures = {p.stem: p.stat().st_mtime for p in (ROOT / "figures" / "smoke").glob("*.png")}
    expected = {"p1_training_curves", "p1_per_class_accuracy", "p1_confusion_matrix", "p1_class_shares",
                "p1_tsne", "p1_confused_pairs", "p2_fcn32s_stages", "p2_fcn8s_stages",
                "p2_comparison_grid", "p2_boundary_vs_interior", "p2_class_iou", "p2_class_shares",
                "ablation_grid", "ablation_curves"}
    assert expected <= set(figures) and set(figures) == set(first)
    assert all(figures[name] >= first[name] >= started for name in figures)


def test_a_failing_notebook_is_named_with_its_cell_and_kept(tmp_path):
    out = tmp_path / "02_fcn32s.ipynb"
    with pytest.raises(ReportError, match=r"notebooks/02_fcn32s.ipynb failed in cell \d+ .*no run 'nope'"):
        execute("02_fcn32s", "smoke", out, {"run": "nope"})
    kept = json.loads(out.read_text())
    assert any(o.get("output_type") == "error" for c in kept["cells"] for o in c.get("outputs", []))


def test_a_kernel_that_dies_is_named_not_waited_for(tmp_path):
    """A crash in native code kills the kernel without a Python error: the build must say so
    promptly instead of waiting for a reply that never comes."""
    book = tmp_path / "books" / "dies.ipynb"
    book.parent.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os, signal\n"
                                                                   "os.kill(os.getpid(), signal.SIGKILL)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, book)
    started = time.monotonic()
    with pytest.raises(ReportError, match=r"books/dies.ipynb: its kernel died .* kept at "):
        run_notebook(book, tmp_path / "out.ipynb", {})
    assert time.monotonic() - started < 60
    assert (tmp_path / "out.ipynb").exists()


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


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (.ci/run installs it)")
def test_the_printed_report_fits_its_pages(report):
    pages, before_appendix, too_wide = print_check(report[0], ROOT / "build" / "report" / "report.pdf")
    assert too_wide == []
    assert before_appendix <= 18 < pages  # the appendix (layer tables, logs) comes after
