from conftest import tiny
from hw2lib.code_files import PACKAGE, files_reached_from
from hw2lib.engine.run_key import TRAINING, cache_key


def test_the_training_code_is_what_training_imports():
    files = {str(p.relative_to(PACKAGE)) for p in files_reached_from(TRAINING)}
    assert {"engine/training.py", "engine/losses.py", "models/fcn.py", "data/datasets.py", "tasks.py",
            "config.py"} <= files
    # Pictures, analysis and the report never change what training produces.
    assert not any(f.startswith(("report/", "analysis/", "runs/")) for f in files)
    assert "cli.py" not in files and "workbook.py" not in files


def test_the_key_follows_what_a_run_computes_not_where_it_runs(tiny_seg_root, tmp_path):
    cfg = tiny(tiny_seg_root, tmp_path / "a")
    key = cache_key(cfg)
    assert cache_key({**cfg, "lr": cfg["lr"] * 2}) != key
    assert cache_key({**cfg, "select": "val_loss"}) != key
    for where in ({"device": "cpu"}, {"out_dir": str(tmp_path / "b")}, {"checkpoint_minutes": 3}):
        assert cache_key({**cfg, **where}) == key
    assert cache_key(cfg, [{"after_epoch": 2, "epochs": 3}]) != key
