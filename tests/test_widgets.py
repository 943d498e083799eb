import numpy as np

from hw2lib.widgets import MaskInspector


def test_mask_inspector_switches_views_epochs_and_shows_tile_iou(tiny_seg_run):
    inspector = MaskInspector({"FCN8s": tiny_seg_run, "again": tiny_seg_run})
    inspector.widget()
    assert list(inspector.tile.options) == ["0001", "0003"]
    assert list(inspector.epoch.options) == [1, 2]
    iou = inspector.runs["FCN8s"].tile_miou(inspector.epoch.value, inspector.tile.value)
    assert f"{iou:.3f}" in inspector.iou.value
    pictures = {}
    for view in ("prediction", "ground truth", "error map"):
        inspector.view.value = view
        pictures[view] = inspector.render()
    assert all(p.shape == (512, 512, 3) for p in pictures.values())  # native-size snapshots
    assert not np.array_equal(pictures["prediction"], pictures["ground truth"])
    red = (pictures["error map"] == (255, 0, 0)).all(-1)
    assert 0 < red.mean() < 1  # a 2-epoch model is partly wrong
    before = inspector.image.value
    inspector.epoch.value = 1
    inspector.tile.value = "0003"
    assert inspector.image.value != before


def test_mask_inspector_carries_a_page_inspector_for_exports(tiny_seg_run):
    bundle = MaskInspector({"FCN8s": tiny_seg_run})._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    page = bundle["text/html"]
    assert 'class="mask-inspector"' in page and page.count("<select") == 3
    assert 'type="range" data-role="epoch"' in page and "data:image/png;base64," in page
    assert "http" not in page  # nothing fetched
