"""`hw2 viz-mask`: the official viz_mask picture."""
import numpy as np

from conftest import DUBAI, hw2
from hw2lib.data.datasets import read_mask
from hw2lib.data.images import read_rgb
from hw2lib.data.label_specs import get_spec
from hw2lib.data.metrics import boundary_band


def test_viz_mask_draws_tint_and_edges(tmp_path):
    sat, mask = DUBAI / "validation" / "0000_sat.jpg", DUBAI / "validation" / "0000_mask.png"
    out = hw2("viz-mask", "--img", sat, "--seg", mask, "--classes", "dubai", "--out", tmp_path / "v.png")
    assert out.returncode == 0, out.stderr
    viz, image = read_rgb(tmp_path / "v.png"), read_rgb(sat)
    assert viz.shape == image.shape
    spec = get_spec("dubai")
    labels = read_mask(mask, spec)
    colours = spec.encode(labels)
    edges = boundary_band(labels)
    assert edges.any() and (viz[edges] == colours[edges]).all()
    inner = ~edges
    expected = np.round(0.7 * image[inner].astype(np.float32) + 0.3 * colours[inner].astype(np.float32))
    assert np.abs(viz[inner].astype(int) - expected).max() <= 1
