import numpy as np

from hw2lib.widgets import MaskInspector


def test_mask_inspector_switches_views_epochs_and_shows_tile_iou(tiny_seg_run):
    inspector = MaskInspector({"FCN8s": tiny_seg_run, "again": tiny_seg_run})
    assert list(inspector.tile.options) == ["0001", "0003"]
    assert list(inspector.epoch.options) == [1, 2]
    record = inspector.record()
    assert f"{record['tile_miou'][inspector.tile.value]:.3f}" in inspector.iou.value
    pictures = {}
    for view in ("prediction", "ground truth", "error map"):
        inspector.view.value = view
        pictures[view] = inspector.render()
    assert all(p.shape == (64, 64, 3) for p in pictures.values())
    assert not np.array_equal(pictures["prediction"], pictures["ground truth"])
    red = (pictures["error map"] == (255, 0, 0)).all(-1)
    assert 0 < red.mean() < 1  # a 2-epoch model is partly wrong
    before = inspector.image.value
    inspector.epoch.value = 1
    assert inspector.record()["epoch"] == 1
    inspector.tile.value = "0003"
    assert inspector.image.value != before


def test_mask_inspector_bundle_has_a_static_fallback(tiny_seg_run):
    bundle = MaskInspector({"FCN8s": tiny_seg_run})._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["image/png"].startswith("iVBOR")  # base64 of a PNG header
