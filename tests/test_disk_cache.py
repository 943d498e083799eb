import os

import numpy as np

from conftest import DUBAI, copy_tiles, save_rgb
from hw2lib.code_files import PACKAGE, files_reached_from
from hw2lib.data.datasets import load_segmentation
from hw2lib.data.disk_cache import DECODING, file_digests
from hw2lib.data.label_specs import get_spec

SPEC = get_spec("dubai")


def entries(cache):
    return sorted(p.name for p in cache.iterdir() if p.name != "digests" and not p.name.startswith("."))


def test_decoded_data_are_cached_and_a_changed_file_is_decoded_again(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("HW2_DATA_CACHE", str(cache))
    folder = copy_tiles(DUBAI / "validation", tmp_path / "v", ["0000", "0001"])
    first = load_segmentation(folder, SPEC, size=64)
    assert len(entries(cache)) == 1
    (folder / ".DS_Store").write_bytes(b"\0")  # a stray file the loader does not read changes nothing
    (folder / "0000_sat_viz.png").write_bytes(b"\0")
    again = load_segmentation(folder, SPEC, size=64)
    assert isinstance(again.images, np.memmap) and again.ids == ["0000", "0001"] and len(entries(cache)) == 1
    np.testing.assert_array_equal(again.images, first.images)
    np.testing.assert_array_equal(again.masks, first.masks)
    save_rgb(folder / "0001_mask.png", SPEC.encode(np.zeros((512, 512), np.uint8)))
    changed = load_segmentation(folder, SPEC, size=64)
    assert len(entries(cache)) == 2 and (changed.masks[1] == 0).all()


def test_an_in_place_edit_of_the_same_size_changes_the_files_digest(tmp_path, monkeypatch):
    monkeypatch.setenv("HW2_DATA_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "a.png"
    path.write_bytes(b"abcd")
    before = file_digests(tmp_path, [path])
    stat = path.stat()
    path.write_bytes(b"abce")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a later modification time
    assert file_digests(tmp_path, [path]) != before
    assert file_digests(tmp_path, [path]) == file_digests(tmp_path, [path])


def test_the_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("HW2_DATA_CACHE", "off")
    folder = copy_tiles(DUBAI / "validation", tmp_path / "v", ["0000"])
    assert not isinstance(load_segmentation(folder, SPEC, size=64).images, np.memmap)


def test_the_cache_key_follows_the_decoding_code_and_only_it():
    files = {str(p.relative_to(PACKAGE)) for p in files_reached_from(*DECODING)}
    assert {"data/datasets.py", "data/images.py", "data/label_specs.py", "data/disk_cache.py"} <= files
    assert not any(f.startswith(("engine/", "models/", "report/", "analysis/")) for f in files)
