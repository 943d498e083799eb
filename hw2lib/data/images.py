"""Image files: decoding with errors that name the file, one resize rule, PNG writing."""
import io
from pathlib import Path

import numpy as np
from PIL import Image

from ..atomic import atomic_path
from ..errors import DataError


def open_rgb(path):
    """Decode an image file into an RGB PIL image (any other mode converted)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            return im if im.mode == "RGB" else im.convert("RGB")
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: cannot decode image ({e})") from None


def read_rgb(path):
    """Decode an image file into an (H, W, 3) uint8 array."""
    return np.asarray(open_rgb(path))


def check_same_size(image, path, reference, reference_name):
    """Raise DataError naming `path` when `image` is not the size of `reference` (each an array
    (H, W[, 3]) or a PIL image)."""
    (w, h), (rw, rh) = (_width_height(image), _width_height(reference))
    if (w, h) != (rw, rh):
        raise DataError(f"{path}: size {w}x{h} differs from {reference_name}'s {rw}x{rh}")


def _width_height(image):
    return image.size if isinstance(image, Image.Image) else image.shape[1::-1]


def resize(array, size, nearest=False):
    """`array` (H, W[, 3]) uint8 resized to `size` (an int for square, or (width, height)) with
    PIL: bilinear for images, nearest for masks. `size=None` or the same size returns it as is."""
    if size is None:
        return array
    size = (size, size) if isinstance(size, int) else tuple(size)
    if array.shape[1::-1] == size:
        return array
    return np.asarray(Image.fromarray(array).resize(size, Image.NEAREST if nearest else Image.BILINEAR))


def png_bytes(array):
    """PNG encoding of a uint8 (H, W) or (H, W, 3) array."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG")
    return buf.getvalue()


def write_png(path, array):
    """Save a uint8 (H, W) or (H, W, 3) array as PNG, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(png_bytes(array))
