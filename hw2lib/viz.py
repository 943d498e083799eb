"""Pictures: mask colouring and overlays (numpy only), and figure grids (matplotlib, imported lazily).

Figures are drawn from what runs saved (run folders), never from a live training loop, so a
notebook can redraw them without retraining.
"""
import numpy as np


def class_edges(mask, width=5):
    """Boolean (H, W): pixels within `width` // 2 of a change of class."""
    edge = np.zeros(mask.shape, dtype=bool)
    edge[:-1, :] |= mask[:-1, :] != mask[1:, :]
    edge[1:, :] |= mask[:-1, :] != mask[1:, :]
    edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
    edge[:, 1:] |= mask[:, :-1] != mask[:, 1:]
    out = edge.copy()
    for s in range(1, width // 2 + 1):  # square dilation, one shift at a time
        out[s:, :] |= edge[:-s, :]
        out[:-s, :] |= edge[s:, :]
    grown = out.copy()
    for s in range(1, width // 2 + 1):
        grown[:, s:] |= out[:, :-s]
        grown[:, :-s] |= out[:, s:]
    return grown


def overlay_mask(image, mask, spec, inner_alpha=0.3, edge_width=5):
    """The official viz_mask picture: `image` tinted by class colours, class edges drawn solid.

    image: (H, W, 3) uint8; mask: (H, W) class indices. Returns (H, W, 3) uint8.
    """
    if image.shape[:2] != mask.shape:
        raise ValueError(f"image is {image.shape[1]}x{image.shape[0]} but mask is "
                         f"{mask.shape[1]}x{mask.shape[0]}")
    color = spec.encode(mask).astype(np.float32)
    out = (1 - inner_alpha) * image.astype(np.float32) + inner_alpha * color
    edges = class_edges(mask, edge_width)
    out[edges] = color[edges]
    return out.round().astype(np.uint8)
