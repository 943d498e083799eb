import json
import math

from hw2lib.atomic import write_json
from hw2lib.engine.record import RunRecord
from hw2lib.numbers import fmt, nan_from_null, strict_json


def test_nan_goes_out_as_null_and_comes_back_as_nan(tmp_path):
    row = {"epoch": 1, "val_miou": float("nan"), "val_iou": {"road": float("nan"), "land": 0.5}}
    write_json(tmp_path / "m.json", strict_json(row))
    back = nan_from_null(json.loads((tmp_path / "m.json").read_text()))
    assert back["epoch"] == 1 and back["val_iou"]["land"] == 0.5
    assert math.isnan(back["val_miou"]) and math.isnan(back["val_iou"]["road"])


def test_a_record_reads_its_scores_back_as_nan_but_keeps_its_params():
    record = RunRecord(params={"init_from": None, "select": "final"},
                       history=[{"epoch": 1, "val_miou": None}],
                       kept={"epoch": 1, "val_miou": None, "confusion_matrix": [[1]]},
                       snapshots={"ids": ["0001"], "tile_miou": {"1": {"0001": None}}})
    back = RunRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert back.params["init_from"] is None
    assert math.isnan(back.history[0]["val_miou"]) and math.isnan(back.kept["val_miou"])
    assert math.isnan(back.tile_miou(1, "0001"))


def test_numbers_print_with_their_format_and_nan_as_n_a():
    assert fmt(0.123456) == "0.1235" and fmt(0.05, "+.2f") == "+0.05" and fmt(0.5, ".0%") == "50%"
    assert fmt(float("nan")) == "n/a" and fmt(None, ".1%") == "n/a"
