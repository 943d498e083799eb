import json
import os
import stat

import pytest

from hw2lib.atomic import atomic_path, write_json


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text().strip().startswith("{") and '"a": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_written_files_follow_the_umask_and_json_is_strict(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {"miou": float("nan"), "iou": [1.0, float("inf")]})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o644
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"miou": None, "iou": [1.0, None]}
