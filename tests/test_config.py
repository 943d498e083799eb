import pytest

from conftest import TINY_SEG
from hw2lib.config import load_config, make_config
from hw2lib.errors import ConfigError

CLS = {"task": "classification", "model": "resnet18"}


def test_params_yaml_with_a_few_keys_and_several_overrides(tmp_path):
    (tmp_path / "p.yaml").write_text("model: fcn8s\nepochs: 4\nsnapshot_ids: ['0010']\n")
    cfg = load_config(tmp_path / "p.yaml", ["epochs=2", "augment=[flip]", "head_width=null", "lr=1e-4"])
    assert cfg["epochs"] == 2 and cfg["augment"] == ["flip"] and cfg["lr"] == 1e-4
    (tmp_path / "bad.yaml").write_text("modle: fcn8s\n")
    with pytest.raises(ConfigError, match="bad.yaml: unknown parameter.*modle"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "octal.yaml").write_text("snapshot_ids: [0010]\n")
    with pytest.raises(ConfigError, match="quoted strings"):
        load_config(tmp_path / "octal.yaml")


@pytest.mark.parametrize("changes, message", [
    ({"augment": ["flips"]}, "augment: 'flips' is not a segmentation augmentation"),
    ({**CLS, "head_width": None, "augment": ["rot90"]}, "augment: 'rot90' is not a classification augmentation"),
    ({"model": "resnet18"}, "model: 'resnet18' is a classification model, but task is 'segmentation'"),
    ({"precision": "fp16", "device": "cpu"}, "precision: 'fp16' needs a CUDA GPU"),
    ({"epochs": "three"}, "epochs: 'three' is not an integer"),
    ({"score_relu": True, "model": "unet16", "head_width": None}, "score_relu: True applies to fcn"),
    ({"decoder": "transposed"}, "decoder: 'transposed' applies to unet16 only, not 'fcn8s'"),
    ({"model": "unet16", "head_width": None, "decoder": "deconv"}, "decoder: 'deconv' is not one of bilinear, transposed"),
    ({"image_size": 100}, "image_size: 100 must be a multiple of 32"),
    ({"select": "best"}, "select: 'best' is not one of val_loss, val_score, final"),
    ({"class_weights": [1, 1, 1, 1, 1]}, "class_weights: 5 values, but 'dubai' has 6 classes"),
    ({"class_weights": [1, 1, "x", 1, 1, 1]}, "class_weights: 'x' is not a finite number >= 0"),
    ({"class_weights": [1, 1, -1, 1, 1, 1]}, "class_weights: -1 is not a finite number >= 0"),
    ({"class_weights": [1, 1, float("nan"), 1, 1, 1]}, "class_weights: nan is not a finite number >= 0"),
    ({**CLS, "head_width": None, "snapshot_ids": [], "class_weights": [1.0] * 50},
     "class_weights: .* applies to segmentation only"),
    ({**CLS, "head_width": None, "snapshot_ids": [], "ignore_index": 3}, "ignore_index: 3 applies to segmentation only"),
    ({**CLS, "head_width": None, "snapshot_ids": [], "lovasz_weight": 0.5}, "lovasz_weight: 0.5 applies to segmentation only"),
])
def test_every_config_error_names_its_key_and_value(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_config({**TINY_SEG, **changes})
