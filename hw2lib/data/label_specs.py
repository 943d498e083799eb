"""Class specs: what a dataset's classes are called, how they look, which count, how masks decode.

A spec is data, not code: a new dataset with RGB masks is a new `ClassSpec` entry in `SPECS`.
Two decode rules exist:

- ``threshold``: the course's official rule. Each channel >= 128 is one bit, the code is
  4R + 2G + B, and `codes` maps each of the 8 codes to a class (every code maps somewhere, so any
  colour decodes, off-palette ones and pure red included).
- ``exact``: every pixel must be exactly one of the spec's colours; anything else is an error.

Class indices follow the spec's order and the unscored class is the last one.
"""
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, MaskDecodeError


@dataclass(frozen=True)
class ClassSpec:
    name: str
    class_names: tuple
    colors: tuple  # RGB per class, used to encode predictions and to draw
    scored: tuple  # indices of the classes that enter the mIoU
    decode_rule: str  # "threshold" or "exact"
    codes: tuple = ()  # threshold rule only: class index of code 0..7

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def scored_names(self):
        return [self.class_names[i] for i in self.scored]

    def palette(self):
        """(num_classes, 3) uint8 array of class colours."""
        return np.array(self.colors, dtype=np.uint8)

    def decode(self, rgb):
        """(H, W, 3) uint8 RGB mask -> (H, W) uint8 class indices."""
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise MaskDecodeError(f"expected an RGB mask, got an array of shape {rgb.shape}")
        if self.decode_rule == "threshold":
            # >= 128 is exactly "top bit set": one shift of the whole array gives the bits,
            # in-place ops build the code 4R + 2G + B without temporaries.
            bits = rgb[..., :3] >> 7
            code = bits[..., 0] << 2
            code |= bits[..., 1] << 1
            code |= bits[..., 2]
            return np.asarray(self.codes, dtype=np.uint8).take(code)
        index, found = self._palette_lookup(rgb)
        if not found.all():
            y, x = np.argwhere(~found)[0]
            raise MaskDecodeError(
                f"{(~found).sum()} pixels are not a {self.name} class colour, "
                f"first at (x={x}, y={y}): {tuple(int(c) for c in rgb[y, x, :3])}")
        return index

    def _palette_lookup(self, rgb):
        """(class index of each pixel's exact colour, whether that colour is in the palette)."""
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        key = (r.astype(np.uint32) << 16) | (g.astype(np.uint32) << 8) | b
        pal = self.palette().astype(np.uint32)
        pal_keys = (pal[:, 0] << 16) | (pal[:, 1] << 8) | pal[:, 2]
        order = np.argsort(pal_keys)
        pos = np.searchsorted(pal_keys[order], key).clip(0, len(order) - 1)
        return order[pos].astype(np.uint8), pal_keys[order][pos] == key

    def off_palette_fraction(self, rgb):
        """Fraction of pixels whose colour is not exactly one of the class colours."""
        return float(1 - self._palette_lookup(rgb[..., :3])[1].mean())

    def encode(self, index_mask):
        """(H, W) class indices -> (H, W, 3) uint8 RGB mask in the spec's colours."""
        return self.palette()[index_mask]


SPECS = {
    "deepglobe": ClassSpec(
        name="deepglobe",
        class_names=("urban", "agriculture", "rangeland", "forest", "water", "barren", "unknown"),
        colors=((0, 255, 255), (255, 255, 0), (255, 0, 255), (0, 255, 0), (0, 0, 255),
                (255, 255, 255), (0, 0, 0)),
        scored=(0, 1, 2, 3, 4, 5),
        decode_rule="threshold",
        # code: 0 black, 1 blue, 2 green, 3 cyan, 4 red, 5 magenta, 6 yellow, 7 white
        codes=(6, 4, 3, 0, 6, 2, 1, 5),
    ),
    "dubai": ClassSpec(
        name="dubai",
        class_names=("building", "land", "road", "vegetation", "water", "unlabeled"),
        colors=((60, 16, 152), (132, 41, 246), (110, 193, 228), (254, 221, 58), (226, 169, 41),
                (155, 155, 155)),
        scored=(0, 1, 2, 3, 4),
        decode_rule="exact",
    ),
}


def get_spec(name):
    """The spec called `name`; an unknown name is an error that lists the known ones."""
    try:
        return SPECS[name]
    except KeyError:
        raise ConfigError(f"unknown class spec {name!r}; known: {', '.join(sorted(SPECS))}") from None
