import csv
import json
import shutil

import numpy as np
import torch

from conftest import CIFAR, hw2, quiet, tiny
from hw2lib.data.datasets import load_classification, read_mask
from hw2lib.data.label_specs import get_spec
from hw2lib.engine.checkpoint import load_checkpoint
from hw2lib.engine.inference import (Predictor, evaluate_folder, load_trained, penultimate_features, placed,
                                     predicted_classes)
from hw2lib.engine.run_dir import RunDir
from hw2lib.engine.training import train
from hw2lib.models import build_model
from hw2lib.models.small_input import SmallInputConv2d
from hw2lib.settings import RunSettings
from official_miou import mean_iou_score


def test_validation_mIoU_is_the_official_number_of_the_masks_hw2_segment_writes(tiny_seg_run, tiny_seg_root, tmp_path):
    """training validation == hw2 evaluate == hw2 miou == the official evaluator, at native size."""
    val = tiny_seg_root / "validation"
    recorded = RunDir(tiny_seg_run).record().kept_score()
    out = hw2("segment", val, tmp_path / "masks", "--checkpoint", tiny_seg_run / "kept.pt")
    assert out.returncode == 0, out.stderr
    masks = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert masks == sorted(p.name for p in val.glob("*_mask.png"))
    scored = json.loads(hw2("miou", "-g", val, "-p", tmp_path / "masks", "--classes", "dubai", "--json").stdout)
    evaluated = json.loads(hw2("evaluate", tiny_seg_run / "kept.pt", val, "--json").stdout)
    spec = get_spec("dubai")
    labels = np.stack([read_mask(val / m, spec) for m in masks]).astype(float)
    preds = np.stack([read_mask(tmp_path / "masks" / m, spec) for m in masks]).astype(float)
    official, _ = mean_iou_score(preds, labels, num_classes=5, verbose=False)
    assert len(np.unique(preds)) >= 2  # not one class everywhere, which any resizing would keep
    assert abs(scored["miou"] - recorded) < 1e-4
    assert abs(evaluated["miou"] - recorded) < 1e-4
    assert abs(official - recorded) < 1e-4


def test_predicted_classes_take_the_first_maximum_as_argmax_does():
    logits = torch.zeros(2, 6, 4, 5)
    logits[:, 2:4] = 1.0                      # a tie between classes 2 and 3: the first wins
    logits[0, 4, 0, 0] = float("nan")         # a NaN is the maximum, as in argmax
    logits[1, 5, 1, 1] = float("inf")
    for dtype in (torch.float32, torch.bfloat16):
        x = logits.to(dtype)
        assert torch.equal(predicted_classes(x), x.argmax(1))
        assert torch.equal(predicted_classes(x.contiguous(memory_format=torch.channels_last)), x.argmax(1))
    assert predicted_classes(logits)[0, 0, 0] == 4 and predicted_classes(logits)[0, 0, 1] == 2


def test_segment_refuses_to_write_into_the_image_folder(tiny_seg_run, tiny_seg_root):
    val = tiny_seg_root / "validation"
    before = sorted(p.name for p in val.iterdir())
    out = hw2("segment", val, val, "--checkpoint", tiny_seg_run / "kept.pt")
    assert out.returncode == 2 and "must differ" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in val.iterdir()) == before


def test_a_short_run_beats_chance_clearly(tiny_cls_run):
    out, record = tiny_cls_run
    assert record.kept_score() > 3 / 50  # chance is 1/50
    assert len(record.per_class()) == 50
    cm = record.kept_confusion()
    assert cm.shape == (50, 50) and cm.sum() == 500
    assert (out / "epoch_1.pt").is_file() and (out / "kept.pt").is_file()


def test_classify_writes_one_sorted_row_per_png(tiny_cls_run, tmp_path):
    out, _ = tiny_cls_run
    result = hw2("classify", CIFAR / "val_50", tmp_path / "pred.csv", "--checkpoint", out / "kept.pt")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(open(tmp_path / "pred.csv")))
    assert rows[0] == ["image_id", "label"]
    names = sorted(p.name for p in (CIFAR / "val_50").glob("*.png"))
    assert [r[0] for r in rows[1:]] == names
    labels = np.array([int(r[1]) for r in rows[1:]])
    assert labels.min() >= 0 and labels.max() < 50
    truth = np.array([int(n.split("_")[0]) for n in names])
    assert (labels == truth).mean() > 3 / 50


def test_classify_names_a_bad_image_and_writes_no_csv(tiny_cls_run, tmp_path):
    out, _ = tiny_cls_run
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in sorted((CIFAR / "val_50").glob("*.png"))[:3]:
        shutil.copy(p, folder)
    (folder / "broken.png").write_bytes(b"not a png")
    result = hw2("classify", folder, tmp_path / "pred.csv", "--checkpoint", out / "kept.pt")
    assert result.returncode == 2 and "broken.png: cannot decode" in result.stderr
    assert not (tmp_path / "pred.csv").exists()


def test_penultimate_features_are_512_d_for_resnet18(tiny_cls_run):
    out, _ = tiny_cls_run
    val = load_classification(CIFAR / "val_50")
    feats = penultimate_features(load_trained(out / "kept.pt", "cpu"), torch.from_numpy(np.asarray(val.images)))
    assert feats.shape == (500, 512) and np.isfinite(feats).all()


def test_classify_refuses_a_segmentation_checkpoint(tiny_seg_run, tmp_path):
    result = hw2("classify", CIFAR / "val_50", tmp_path / "pred.csv", "--checkpoint", tiny_seg_run / "kept.pt")
    assert result.returncode == 2 and "a segmentation checkpoint (fcn8s)" in result.stderr
    assert not (tmp_path / "pred.csv").exists()


def test_a_bf16_run_keeps_16_bit_weights_that_score_exactly_what_training_recorded(tiny_seg_root, tmp_path):
    # 32 px and one step: bf16 is emulated on CPUs without AVX512-BF16 (2 steps at 64 px took 36 s
    # of the suite held to AVX2; this takes 4.9 s on one such core)
    record = train(tiny(tiny_seg_root, tmp_path / "r", precision="bf16", epochs=1, image_size=32, limit=4), log=quiet)
    state = load_checkpoint(tmp_path / "r" / "kept.pt")
    assert state["model"]["head.0.weight"].dtype == torch.bfloat16
    assert state["model"]["score.weight"].dtype == torch.float32  # the FCN scores in fp32
    _, evaluation = evaluate_folder(tmp_path / "r" / "kept.pt", tiny_seg_root / "validation", "cpu")
    assert np.array_equal(evaluation.cm, record.kept_confusion())
    assert load_trained(tmp_path / "r" / "kept.pt", "cpu").precision == "bf16"  # evaluated as trained


def test_the_reference_authors_features_are_the_flattened_layer4_map():
    settings = RunSettings.build({"task": "classification", "model": "resnet18", "input_size": 224, "batch_size": 2})
    predictor = Predictor(build_model("resnet18", 50).eval(), settings, torch.device("cpu"), "fp32")
    images = torch.randint(0, 255, (3, 3, 32, 32), dtype=torch.uint8)  # resized to 224 on the device
    assert penultimate_features(predictor, images, "map").shape == (3, 512 * 7 * 7)
    assert penultimate_features(predictor, images).shape == (3, 512)


def test_on_a_cpu_channels_last_keeps_the_parameters_nchw_and_the_activations_channels_last():
    torch.manual_seed(0)
    plain = build_model("resnet18", 10).eval()
    model = build_model("resnet18", 10)
    model.load_state_dict(plain.state_dict())
    model = placed(model, torch.device("cpu"), channels_last=True).eval()
    assert all(p.is_contiguous() for p in model.parameters())  # the fused AdamW copies no parameter
    assert type(model.layer4[1].conv2) is SmallInputConv2d
    x = torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        inner = model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(x)))))
        assert inner.is_contiguous(memory_format=torch.channels_last) and not inner.is_contiguous()
        torch.testing.assert_close(model(x), plain(x), rtol=1e-4, atol=1e-5)
