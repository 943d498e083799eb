import numpy as np
import pytest

from conftest import DUBAI
from hw2lib.data.datasets import read_mask
from hw2lib.data.images import read_rgb
from hw2lib.data.label_specs import SPECS, get_spec
from hw2lib.errors import DataError, MaskDecodeError

DEEPGLOBE = get_spec("deepglobe")


def official_decode(rgb):
    """The official rule written out by hand, one code at a time."""
    bits = (rgb >= 128).astype(int)
    code = 4 * bits[..., 0] + 2 * bits[..., 1] + bits[..., 2]
    out = np.full(code.shape, -1)
    for c, cls in {3: 0, 6: 1, 5: 2, 2: 3, 1: 4, 7: 5, 0: 6, 4: 6}.items():
        out[code == c] = cls
    return out


def test_deepglobe_decodes_any_colour_like_the_official_rule():
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)  # pure red is unknown
    decoded = DEEPGLOBE.decode(rgb)
    np.testing.assert_array_equal(decoded, official_decode(rgb))
    assert decoded[0, 0] == 6


@pytest.mark.parametrize("name", sorted(SPECS))
def test_encode_then_decode_is_identity(name):
    spec = SPECS[name]
    idx = np.random.default_rng(1).integers(0, spec.num_classes, (32, 48)).astype(np.uint8)
    np.testing.assert_array_equal(spec.decode(spec.encode(idx)), idx)


def test_unscored_class_is_last():
    for spec in SPECS.values():
        assert max(spec.scored) == spec.num_classes - 2


def test_dubai_sample_masks_decode_exactly():
    mask = read_mask(DUBAI / "validation" / "0000_mask.png", get_spec("dubai"))
    assert mask.dtype == np.uint8 and mask.shape == (512, 512)
    assert set(np.unique(mask)) <= set(range(6))
    rgb = read_rgb(DUBAI / "validation" / "0000_mask.png")
    np.testing.assert_array_equal(get_spec("dubai").encode(mask), rgb)


def test_exact_spec_refuses_off_palette_colour(tmp_path):
    rgb = get_spec("dubai").encode(np.zeros((8, 8), np.uint8))
    rgb[3, 5] = (1, 2, 3)
    with pytest.raises(MaskDecodeError, match=r"x=5, y=3.*\(1, 2, 3\)"):
        get_spec("dubai").decode(rgb)


def test_unknown_spec_lists_known_ones():
    with pytest.raises(ValueError, match="deepglobe, dubai"):
        get_spec("voc")


def test_unreadable_image_names_the_file(tmp_path):
    bad = tmp_path / "0000_mask.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(DataError, match="0000_mask.png: cannot decode"):
        read_rgb(bad)


def test_off_palette_fraction_counts_exact_colours():
    spec = get_spec("deepglobe")
    rgb = spec.encode(np.zeros((10, 10), np.uint8))
    rgb[0, :5] = (255, 0, 0)  # pure red decodes (as unknown) but is not a palette colour
    rgb[1, :5] = (250, 250, 5)
    assert spec.off_palette_fraction(rgb) == pytest.approx(0.10)
