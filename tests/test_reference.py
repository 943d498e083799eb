"""The reference report's numbers as data, and the verdicts written from them."""
import pytest

from conftest import ROOT, hand_made_run
from hw2lib.analysis.evidence import Difference
from hw2lib.analysis.reference import (REFERENCE_RESULTS, read_reference_results, reference_columns,
                                       reference_numbers, verdict)
from hw2lib.runs.profiles import run_names

REPORT_TEXT = ROOT.parent / "shared" / "seed" / "hw2_report.md"


def entries(seed):
    for run, metrics in seed.runs.items():
        for metric, entry in metrics.items():
            for e in entry if metric == "conflicting" else [entry]:
                yield run, e


@pytest.mark.skipif(not REPORT_TEXT.is_file(), reason="the reference report's text (../shared/seed) is not present")
def test_every_reference_number_stands_on_its_line_of_the_reference_report():
    lines = REPORT_TEXT.read_text().splitlines()
    seed = read_reference_results(REFERENCE_RESULTS)
    for run, e in entries(seed):
        line = lines[e["line"] - 1]
        assert e["quote"] in line, (run, e)
        written = f"{e['value'] * 100:.2f}%" if "%" in e["quote"] else f"{e['value']}"
        assert written.rstrip("0") in e["quote"] or written in e["quote"], (run, e)
    for claim in seed.claims:
        assert claim["line"] <= len(lines)


def test_the_reference_file_covers_every_reported_model_and_keeps_its_contradiction():
    seed = read_reference_results(REFERENCE_RESULTS)
    assert set(seed.runs) == {"resnet18", "resnet34", "resnext101_32x8d", "vgg16", "fcn32s", "fcn8s", "fcn16s",
                              "fcn8s_lovasz", "fcn4s", "fcn2s", "unet16", "segnet", "deeplabv3_resnet101",
                              "deeplabv3_lovasz"}
    assert all("val_loss" in m for m in seed.runs.values())
    assert seed.value("fcn4s", "val_miou") == 0.632384
    assert [c["value"] for c in seed.runs["fcn4s"]["conflicting"]] == [0.681951]
    for profile in ("homework", "reference"):  # each reference number belongs to a run of these profiles
        assert set(seed.runs) <= set(run_names(profile))
        assert {c["better"] for c in seed.claims} | {c["worse"] for c in seed.claims} <= set(run_names(profile))


def test_only_profiles_on_the_reference_data_have_a_counterpart():
    assert reference_numbers("homework").value("fcn8s", "val_miou") == 0.697265
    assert reference_numbers("reference").value("fcn8s", "val_miou") == 0.697265
    sample = reference_numbers("sample")
    assert sample.reason.startswith("no reference counterpart") and sample.value("fcn8s", "val_miou") is None
    assert sample.claims  # the reference's claims can be tested on any data
    assert reference_numbers("homework-dry").reason.startswith("no reference comparison: a dry run")


@pytest.mark.parametrize("low, high, text", [
    (0.68, 0.71, "reproduces the reference (0.6973 lies inside [0.6800, 0.7100])"),
    (0.70, 0.72, "above the reference (0.6973 lies outside [0.7000, 0.7200])"),
    (0.60, 0.69, "below the reference (0.6973 lies outside [0.6000, 0.6900])")])
def test_the_verdict_follows_the_interval(low, high, text):
    assert verdict(Difference(0.69, low, high, 257, 2000), 0.697265) == text


def test_a_run_beside_a_reference_number_gets_its_own_interval_and_verdict(tmp_path):
    cms = [[[45, 5, 0, 0, 0, 0], [5, 45, 0, 0, 0, 0]] + [[0] * 6] * 4] * 20
    run = hand_made_run(tmp_path / "fcn8s", cms)
    reference = read_reference_results(REFERENCE_RESULTS)
    columns = reference_columns("fcn8s", run, reference)
    assert columns["reference"] == "0.6973" and columns["reference val loss"] == "0.3403"
    assert columns["run − reference"] == f"{45 / 55 - 0.697265:+.4f}"
    assert columns["verdict"].startswith("above the reference (0.6973 lies outside [0.8182, 0.8182])")
    assert reference_columns("fcn8s", run, reference_numbers("sample")) == {"reference": "none (other data)"}
