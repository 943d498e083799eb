import pytest

from conftest import TINY_SEG
from hw2lib.errors import ConfigError
from hw2lib.settings import KNOWN, RunSettings, load_settings

CLS = {"task": "classification", "model": "resnet18"}


def test_params_yaml_with_a_few_keys_and_several_overrides(tmp_path):
    (tmp_path / "p.yaml").write_text("model: fcn8s\nepochs: 4\nsnapshot_ids: ['0010']\n")
    s = load_settings(tmp_path / "p.yaml", ["epochs=2", "augment=[flip]", "head_width=null", "lr=1e-4"])
    assert s.train.epochs == 2 and s.task.augment == ("flip",) and s.train.lr == 1e-4
    assert s.flat()["augment"] == ["flip"] and RunSettings.build(s.flat()) == s
    (tmp_path / "bad.yaml").write_text("modle: fcn8s\n")
    with pytest.raises(ConfigError, match="bad.yaml: unknown parameter.*modle"):
        load_settings(tmp_path / "bad.yaml")
    (tmp_path / "octal.yaml").write_text("snapshot_ids: [0010]\n")
    with pytest.raises(ConfigError, match="quoted strings"):
        load_settings(tmp_path / "octal.yaml")


def test_settings_are_frozen_and_a_changed_copy_is_validated_again():
    s = RunSettings.build(TINY_SEG)
    with pytest.raises(AttributeError):
        s.train.lr = 1.0
    assert s.replace(lr=2e-3).train.lr == 2e-3 and s.train.lr == 1e-3
    with pytest.raises(ConfigError, match="lr: -1.0 must be positive"):
        s.replace(lr=-1)


def test_every_key_is_declared_once_and_the_cache_hashes_every_group_but_placement():
    assert len(KNOWN) == len(set(KNOWN))
    numbers = RunSettings.build(TINY_SEG).numbers()
    assert {"lr", "model", "classes", "limit", "seed", "select", "keep_checkpoints"} <= set(numbers)
    assert not {"out_dir", "device", "data_root", "checkpoint_minutes", "init_from", "weights_path"} & set(numbers)


@pytest.mark.parametrize("changes, message", [
    ({"augment": ["flips"]}, "augment: 'flips' is not a segmentation augmentation"),
    ({"model": "resnet18"}, "model: 'resnet18' is a classification model, but task is 'segmentation'"),
    ({"epochs": "three"}, "epochs: 'three' is not an integer"),
    ({"lr": "fast"}, "lr: 'fast' is not a number"),
    ({"score_relu": True, "model": "unet16", "head_width": None}, "score_relu: True applies to fcn"),
    ({"decoder": "transposed"}, "decoder: 'transposed' applies to segnet, unet16 only, not 'fcn8s'"),
    ({"model": "unet16", "head_width": None, "decoder": "deconv"},
     "decoder: 'deconv' is not one of bilinear, transposed"),
    ({"image_size": 100}, "image_size: 100 must be a multiple of 32"),
    ({"select": "best"}, "select: 'best' is not one of val_loss, val_score, final"),
    ({"device": "tpu"}, "device: 'tpu' is not auto, cpu, cuda or cuda:N"),
    ({"class_weights": [1, 1, 1, 1, 1]}, "class_weights: 5 values, but 'dubai' has 6 classes"),
    ({"class_weights": [1, 1, "x", 1, 1, 1]}, "class_weights: 'x' is not a finite number >= 0"),
    ({"class_weights": [1, 1, -1, 1, 1, 1]}, "class_weights: -1 is not a finite number >= 0"),
    ({"class_weights": [1, 1, float("nan"), 1, 1, 1]}, "class_weights: nan is not a finite number >= 0"),
])
def test_every_config_error_names_its_key_and_value(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RunSettings.build({**TINY_SEG, **changes})


@pytest.mark.parametrize("key, value", [("class_weights", [1.0] * 50), ("ignore_index", 3), ("lovasz_weight", 0.5),
                                        ("image_size", 64), ("snapshot_ids", [])])
def test_a_segmentation_key_in_a_classification_run_is_refused(key, value):
    with pytest.raises(ConfigError, match=f"{key}: .* applies to segmentation only"):
        RunSettings.build({**CLS, key: value})


def test_a_classification_augmentation_is_checked_on_its_own_settings():
    with pytest.raises(ConfigError, match="augment: 'rot90' is not a classification augmentation; use crop, flip"):
        RunSettings.build({**CLS, "augment": ["rot90"]})
