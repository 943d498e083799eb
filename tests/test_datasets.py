import shutil

import numpy as np
import pytest

from conftest import CIFAR, DUBAI, save_rgb
from hw2lib.data.datasets import load_classification, load_segmentation, segmentation_pairs
from hw2lib.errors import DataError
from hw2lib.data.label_specs import get_spec

DUBAI_SPEC = get_spec("dubai")


def test_classification_sample_loads_with_labels_from_names():
    ds = load_classification(CIFAR / "val_50")
    assert ds.images.shape == (500, 3, 32, 32) and ds.images.dtype == np.uint8
    assert ds.names == sorted(ds.names)
    assert np.bincount(ds.labels).tolist() == [10] * 50
    i = ds.names.index("7_453.png")
    assert ds.labels[i] == 7


def test_classification_limit_keeps_every_class_and_resize_upscales():
    ds = load_classification(CIFAR / "train_50", size=64, limit=100)
    assert ds.images.shape == (100, 3, 64, 64)
    assert len(set(ds.labels.tolist())) == 50


def test_unlabelled_mode_reads_any_png(tmp_path):
    for name in ("b.png", "a.png"):
        save_rgb(tmp_path / name, np.zeros((32, 32, 3)))
    ds = load_classification(tmp_path, labelled=False)
    assert ds.names == ["a.png", "b.png"] and (ds.labels == -1).all()
    with pytest.raises(DataError, match=r"a.png: name is not \{label\}_\{idx\}.png"):
        load_classification(tmp_path)


def test_segmentation_sample_decodes_once_into_uint8_arrays():
    ds = load_segmentation(DUBAI / "validation", DUBAI_SPEC, size=64, limit=5)
    assert ds.images.shape == (5, 3, 64, 64) and ds.images.dtype == np.uint8
    assert ds.masks.shape == (5, 64, 64) and ds.masks.dtype == np.uint8
    assert ds.ids == sorted(ds.ids) and len(ds.ids) == 5
    assert ds.masks.max() < DUBAI_SPEC.num_classes


def copy_pairs(src, dst, n=3):
    dst.mkdir(exist_ok=True)
    for i, sat, mask in segmentation_pairs(src)[:n]:
        shutil.copy(sat, dst)
        shutil.copy(mask, dst)
    return dst


def test_missing_partner_is_named(tmp_path):
    folder = copy_pairs(DUBAI / "validation", tmp_path / "v")
    (folder / "0001_mask.png").unlink()
    with pytest.raises(DataError, match=r"0001_sat.jpg: its partner .*0001_mask.png is missing"):
        segmentation_pairs(folder)


def test_image_mask_size_mismatch_is_named(tmp_path):
    folder = copy_pairs(DUBAI / "validation", tmp_path / "v")
    save_rgb(folder / "0002_mask.png", np.full((100, 100, 3), 155))
    with pytest.raises(DataError, match=r"0002_mask.png: size 100x100 differs from its image's 512x512"):
        load_segmentation(folder, DUBAI_SPEC)


def test_differently_sized_tile_is_named_unless_resized(tmp_path):
    folder = copy_pairs(DUBAI / "validation", tmp_path / "v")
    save_rgb(folder / "0002_sat.jpg", np.zeros((256, 256, 3)))
    save_rgb(folder / "0002_mask.png", np.full((256, 256, 3), 155))
    with pytest.raises(DataError, match="0002_sat.jpg: size 256x256 differs"):
        load_segmentation(folder, DUBAI_SPEC)
    assert load_segmentation(folder, DUBAI_SPEC, size=32).masks.shape == (3, 32, 32)


def test_truncated_jpeg_is_named(tmp_path):
    folder = copy_pairs(DUBAI / "validation", tmp_path / "v")
    sat = folder / "0001_sat.jpg"
    sat.write_bytes(sat.read_bytes()[:2000])
    with pytest.raises(DataError, match="0001_sat.jpg: cannot decode"):
        load_segmentation(folder, DUBAI_SPEC)


@pytest.mark.parametrize("make", [lambda p: p.mkdir(), lambda p: None])
def test_empty_or_missing_folder_is_an_error(tmp_path, make):
    make(tmp_path / "x")
    with pytest.raises(DataError, match="x: no"):
        segmentation_pairs(tmp_path / "x")


def test_validation_keeps_native_masks_and_the_snapshot_tiles_under_a_limit():
    ds = load_segmentation(DUBAI / "validation", DUBAI_SPEC, size=64, limit=3, keep=["0005", "0013"],
                           native_masks=True)
    assert ds.images.shape[1:] == (3, 64, 64) and ds.masks.shape[1:] == (512, 512)
    assert {"0005", "0013"} <= set(ds.ids) and len(ds.ids) == 5 and ds.ids == sorted(ds.ids)
