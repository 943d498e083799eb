"""The reference report's numbers as data, and the verdicts written from them."""
import numpy as np
import pytest
import yaml

from conftest import ROOT, hand_made_run
from hw2lib.analysis.evidence import new_training_interval
from hw2lib.analysis.reference import (REFERENCE_RESULTS, Reference, judge, read_reference_results,
                                       reference_columns, reference_numbers)
from hw2lib.errors import ConfigError
from hw2lib.runs.profiles import run_names

REPORT_TEXT = ROOT.parent / "shared" / "seed" / "hw2_report.md"


def entries(reference):
    """(run, entry) of every number that stands on a line of the report (not in the author's code)."""
    for run, metrics in reference.runs.items():
        for metric, entry in metrics.items():
            if metric == "also":
                continue
            for e in entry if metric == "conflicting" else [entry]:
                if "line" in e:
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
    assert [c["value"] for c in seed.runs["fcn4s"]["conflicting"]] == [0.681951, 0.66798324]
    for profile in ("homework", "reference"):  # each reference number belongs to a run of these profiles
        assert set(seed.runs) <= set(run_names(profile))
        named = {c[k] for c in seed.claims for k in ("better", "worse", "subject", "other", "control") if k in c}
        assert named <= set(run_names(profile))


def test_only_profiles_on_the_reference_data_have_a_counterpart():
    assert reference_numbers("homework").value("fcn8s", "val_miou") == 0.697265
    assert reference_numbers("reference").value("fcn8s", "val_miou") == 0.697265
    sample = reference_numbers("sample")
    assert sample.reason.startswith("no reference counterpart") and sample.value("fcn8s", "val_miou") is None
    assert sample.claims  # the reference's claims can be tested on any data
    assert reference_numbers("homework-dry").reason.startswith("no reference comparison: a dry run")


def tiles_right(right, n=20):
    """n tiles of building (50 px) and land (50 px), `right` of each predicted right: mIoU over the
    two labelled classes is right / (100 - right)."""
    return [[[right, 50 - right, 0, 0, 0, 0], [50 - right, right, 0, 0, 0, 0]] + [[0] * 6] * 4] * n


def repeated(tmp_path, name, rights):
    """A run and its seed repeats, hand-made: one training per entry of `rights`."""
    runs = [hand_made_run(tmp_path / (name if k == 0 else f"{name}_seed{k}"), tiles_right(r), seed=k)
            for k, r in enumerate(rights)]
    runs[0].repeats = runs if len(runs) > 1 else []
    return runs[0]


REFERENCE = Reference(runs={"fcn8s": {"val_miou": {"value": 0.697265, "line": 304, "quote": "0.697265"}}}, reason="")
FOLLOWS = Reference(runs=REFERENCE.runs, reason="", follows_recipes=True)


def expected(run):
    interval = new_training_interval(run)
    return f"[{interval.low:.4f}, {interval.high:.4f}], where one new training is expected to score " \
           f"({interval.covers})"


def test_each_verdict_says_what_its_evidence_supports(tmp_path):
    near = repeated(tmp_path / "a", "fcn8s", [35, 36, 37])   # 0.538 ... 0.587 per tile: around 0.5-0.6
    assert judge("fcn8s", near, FOLLOWS).words == \
        f"does not reproduce the reference: this recipe scores below its 0.6973 ({expected(near)})"
    assert judge("fcn8s", near, REFERENCE).words == \
        f"below the reference's number (0.6973 lies outside {expected(near)})"
    around = repeated(tmp_path / "b", "fcn8s", [37, 41, 45])  # 0.587, 0.695, 0.818
    assert judge("fcn8s", around, FOLLOWS).words == f"reproduces the reference (0.6973 lies inside {expected(around)})"
    assert judge("fcn8s", around, REFERENCE).words == \
        f"at the reference's number (0.6973 lies inside {expected(around)})"
    one = repeated(tmp_path / "c", "fcn8s", [45])
    assert judge("fcn8s", one, FOLLOWS).words == \
        "the reference's 0.6973 lies outside this run's tile-sampling interval [0.8182, 0.8182] (1 training)"
    assert judge("resnet18", one, FOLLOWS) is None  # no reference number for it


def test_no_verdict_without_an_interval_or_on_part_of_the_validation_split(tmp_path):
    empty = hand_made_run(tmp_path / "empty", np.zeros((3, 6, 6), int))  # nothing labelled: n/a
    assert judge("fcn8s", empty, FOLLOWS).words == "no verdict: the interval is n/a"
    part = hand_made_run(tmp_path / "part", tiles_right(45, n=6))
    part.record.data = {"train": 8, "val": 6, "val_split": 257}
    assert judge("fcn8s", part, FOLLOWS).words == ("no verdict: scored on 6 of 257 validation tiles, the reference "
                                                   "scored all of them")


def test_a_percentage_in_the_reference_file_is_refused_when_it_is_read(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"runs": {"fcn8s": {"val_miou": {"value": 69.73, "line": 1, "quote": "69.73"}}}}))
    with pytest.raises(ConfigError, match=r"r.yaml: run fcn8s, val_miou: 69.73 is not a fraction in \[0, 1\] "
                                          r"\(write 69.73% as 0.6973\)"):
        read_reference_results(path)


def test_the_lovasz_numbers_stand_beside_the_lovasz_run_and_its_cross_entropy_control(tmp_path):
    reference = read_reference_results(REFERENCE_RESULTS)
    for name in ("fcn8s_lovasz", "fcn8s_ce_finetune"):
        assert reference.value(name, "val_miou") == 0.705292
        columns = reference_columns(name, repeated(tmp_path / name, name, [45]), reference)
        assert columns["reference"].startswith("0.7053")
    assert reference_columns("fcn8s_ce_finetune", repeated(tmp_path / "x", "fcn8s_ce_finetune", [45]),
                             reference)["reference"] == "0.7053 (its fcn8s lovasz run)"
    assert reference.value("deeplabv3_ce_finetune", "val_miou") == 0.736061


def test_a_run_beside_a_reference_number_gets_its_columns(tmp_path):
    run = repeated(tmp_path, "fcn8s", [45])
    reference = read_reference_results(REFERENCE_RESULTS)
    columns = reference_columns("fcn8s", run, reference)
    assert columns["reference"] == "0.6973" and columns["reference val loss (cross-entropy)"] == "0.3403"
    assert columns["interval compared"] == "0.8182 (95% CI [0.8182, 0.8182]; 1 training: tile sampling only)"
    assert columns["verdict"].startswith("the reference's 0.6973 lies outside this run's tile-sampling interval")
    assert reference_columns("fcn8s", run, reference_numbers("sample")) == {"reference": "none (other data)"}
