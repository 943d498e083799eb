import math

import numpy as np
import pytest

from hw2lib.engine.record import RunRecord, kept_label

NAN = math.nan


def kept_epoch(rule, history):
    """The epoch `rule` keeps over a hand-made history of (val_loss, val_miou) per epoch."""
    record = RunRecord(params={"select": rule})
    for epoch, (loss, score) in enumerate(history, start=1):
        row = {"epoch": epoch, "val_loss": loss, "val_miou": score}
        if record.keeps(row, last=epoch == len(history)):
            record.keep(row, _cm(), {})
    return record.kept_epoch if record.kept else None


def _cm():
    return np.zeros((2, 2), int)


HISTORY = [(0.9, 0.30), (0.5, 0.40), (0.6, 0.45), (0.7, 0.35)]


@pytest.mark.parametrize("rule, epoch", [("val_loss", 2), ("val_score", 3), ("final", 4)])
def test_each_rule_keeps_its_epoch(rule, epoch):
    assert kept_epoch(rule, HISTORY) == epoch


def test_a_nan_epoch_is_never_kept_while_another_can_be():
    assert kept_epoch("val_score", [(0.9, NAN), (0.5, 0.2), (0.6, 0.1), (0.7, NAN)]) == 2
    assert kept_epoch("val_loss", [(NAN, 0.1), (0.5, 0.2), (NAN, 0.3)]) == 2
    # With no finite number at all, the final epoch is kept rather than none.
    assert kept_epoch("val_score", [(0.9, NAN), (0.5, NAN)]) == 2


def test_a_kept_epoch_carries_its_rule_and_headers_name_it():
    record = RunRecord(params={"select": "val_loss"})
    row = {"epoch": 1, "val_loss": 0.5, "val_miou": 0.3}
    record.keep(row, _cm(), {"val_iou": {"a": 0.3}})
    assert record.kept["rule"] == "val_loss" and record.kept["val_iou"] == {"a": 0.3}
    assert kept_label("val_loss") == "epoch kept: lowest val loss"
    assert kept_label("final") == "epoch kept: final epoch"
