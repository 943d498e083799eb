import os

from conftest import quiet, save_rgb, tiny
from hw2lib.code_files import PACKAGE, code_hash, files_reached_from
from hw2lib.data.images import read_rgb
from hw2lib.data.label_specs import get_spec
from hw2lib.engine.run_key import TRAINING, cache_key, key_parts, what_changed
from hw2lib.engine.training import train
from hw2lib.runs.reuse import plan


def test_the_training_code_is_what_training_imports():
    files = {str(p.relative_to(PACKAGE)) for p in files_reached_from(TRAINING)}
    assert {"engine/training.py", "losses.py", "models/fcn.py", "data/datasets.py", "tasks.py",
            "settings.py"} <= files
    # Pictures, analysis and the report never change what training produces.
    assert not any(f.startswith(("report/", "analysis/", "runs/")) for f in files)
    assert "cli.py" not in files and "workbook.py" not in files


def test_the_key_follows_what_a_run_computes_not_where_it_runs(tiny_seg_root, tmp_path):
    cfg = tiny(tiny_seg_root, tmp_path / "a")
    key = cache_key(cfg)
    assert cache_key(cfg.replace(lr=cfg.train.lr * 2)) != key
    assert cache_key(cfg.replace(select="val_loss")) != key
    for where in ({"device": "cpu"}, {"out_dir": str(tmp_path / "b")}, {"checkpoint_minutes": 3}):
        assert cache_key(cfg.replace(**where)) == key
    assert cache_key(cfg, [{"after_epoch": 2, "epochs": 3}]) != key


def test_explanations_are_not_code(tmp_path):
    plain = "def f(x):\n    return x + 1\n"
    explained = ('"""A module."""\n# a comment\ndef f(x):\n    """Add one."""\n    return x + 1  # why\n\n'
                 'def g():\n    return setting(1, help="old words")\n')
    (tmp_path / "a.py").write_text(plain + "\ndef g():\n    return setting(1, help='new words')\n")
    (tmp_path / "b.py").write_text(explained)
    (tmp_path / "c.py").write_text(plain.replace("+ 1", "+ 2"))
    assert code_hash(tmp_path / "a.py") == code_hash(tmp_path / "b.py") != code_hash(tmp_path / "c.py")


def test_a_stray_file_keeps_every_run_and_an_edited_mask_retrains_naming_its_split(tiny_seg_root, tmp_path):
    root = tmp_path / "data"
    os.system(f"cp -r {tiny_seg_root} {root}")
    cfg = tiny(root, tmp_path / "run", epochs=1)
    train(cfg, log=quiet)
    assert plan(cfg).action == "reuse"
    (root / "validation" / ".DS_Store").write_bytes(b"\0")
    (root / "train" / "0000_sat_viz.png").write_bytes(b"\0")  # `hw2 viz-mask` writes beside the image
    (root / ".ipynb_checkpoints").mkdir()
    assert plan(cfg).action == "reuse"
    mask, spec = root / "validation" / "0002_mask.png", get_spec("dubai")
    labels = spec.decode(read_rgb(mask))
    labels[0, 0] = (labels[0, 0] + 1) % 5  # one pixel relabelled in place
    save_rgb(mask, spec.encode(labels))
    decided = plan(cfg)
    assert (decided.action, decided.reason) == ("train", "data: validation")


def test_what_changed_names_each_part(tiny_seg_root, tmp_path):
    cfg = tiny(tiny_seg_root, tmp_path / "a")
    old = key_parts(cfg)
    assert what_changed(old, key_parts(cfg)) == "no part changed"
    assert what_changed(old, key_parts(cfg.replace(lr=1.0, epochs=3))) == "params: epochs, lr"
    edited = {**old, "code": {**old["code"], "engine/training.py": "0"}}
    assert what_changed(edited, old) == "code: engine/training.py"
