import numpy as np

from conftest import as_run
from hw2lib.data.label_specs import get_spec
from hw2lib.report.widgets import MaskInspector

SPEC = get_spec("dubai")


def tile_miou_by_hand(truth, pred):
    """mIoU over the scored classes present in the tile's ground truth, pixel counts written out."""
    ious = [((truth == c) & (pred == c)).sum() / ((truth == c) | (pred == c)).sum()
            for c in SPEC.scored if (truth == c).any()]
    return sum(ious) / len(ious)


def test_mask_inspector_switches_views_epochs_and_shows_the_tiles_miou(tiny_seg_run):
    run = as_run(tiny_seg_run)
    inspector = MaskInspector({"FCN8s": run, "again": run})
    inspector.widget()
    assert list(inspector.tile.options) == ["0001", "0003"]
    assert list(inspector.epoch.options) == [1, 2]
    truth = SPEC.decode(run.dir.snapshot("truth", inspector.tile.value))
    pred = SPEC.decode(run.dir.snapshot(inspector.epoch.value, inspector.tile.value))
    assert f"tile mIoU {tile_miou_by_hand(truth, pred):.3f}" in inspector.iou.value
    pictures = {}
    for view in ("prediction", "ground truth", "error map"):
        inspector.view.value = view
        pictures[view] = inspector.render()
    assert all(p.shape == (512, 512, 3) for p in pictures.values())  # native-size snapshots
    assert not np.array_equal(pictures["prediction"], pictures["ground truth"])
    red = (pictures["error map"] == (255, 0, 0)).all(-1)
    assert red.mean() == (truth != pred).mean()  # exactly the wrong pixels are red
    before = inspector.image.value
    inspector.epoch.value = 1
    inspector.tile.value = "0003"
    assert inspector.image.value != before


def test_mask_inspector_carries_a_page_inspector_for_exports(tiny_seg_run):
    bundle = MaskInspector({"FCN8s": as_run(tiny_seg_run)})._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    page = bundle["text/html"]
    assert 'class="mask-inspector"' in page and page.count("<select") == 3
    assert 'type="range" data-role="epoch"' in page and "data:image/png;base64," in page
    assert "http" not in page and "${" not in page  # nothing fetched, every field filled
