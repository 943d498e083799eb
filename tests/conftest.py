"""Shared paths and small helpers for the tests. Data: the embedded sample; the homework's own
format from ../shared/data/dlcv when it exists (tests that need it skip otherwise)."""
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
DUBAI = SAMPLE / "dubai_aerial"
CIFAR = SAMPLE / "cifar50"
DLCV = ROOT.parent / "shared" / "data" / "dlcv"

sys.path.insert(0, str(ROOT / "bench"))  # the official evaluator's reference re-implementation


@pytest.fixture
def dlcv():
    if not (DLCV / "p2_data" / "train").is_dir():
        pytest.skip("the homework-format data (../shared/data/dlcv) is not present")
    return DLCV


def save_rgb(path, array):
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
