"""Pictures: mask colouring and overlays (numpy only), and figure grids (matplotlib, imported lazily).

Figures are drawn from what runs saved (run folders), never from a live training loop, so a
notebook can redraw them without retraining.
"""
import json
from pathlib import Path

import numpy as np

from .metrics import boundary_band


def overlay_mask(image, mask, spec, inner_alpha=0.3, edge_width=5):
    """The official viz_mask picture: `image` tinted by class colours, class edges drawn solid.

    image: (H, W, 3) uint8; mask: (H, W) class indices. Returns (H, W, 3) uint8.
    """
    if image.shape[:2] != mask.shape:
        raise ValueError(f"image is {image.shape[1]}x{image.shape[0]} but mask is "
                         f"{mask.shape[1]}x{mask.shape[0]}")
    color = spec.encode(mask).astype(np.float32)
    out = (1 - inner_alpha) * image.astype(np.float32) + inner_alpha * color
    edges = boundary_band(mask, edge_width)
    out[edges] = color[edges]
    return out.round().astype(np.uint8)


def snapshot_epochs(run_dir):
    """Sorted 1-based epochs for which a run saved snapshot masks."""
    folder = Path(run_dir) / "snapshots"
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())


def snapshot_ids(run_dir):
    return sorted(p.stem for p in (Path(run_dir) / "snapshots" / "truth").glob("*.png"))


def _history(run_dir):
    return json.loads((Path(run_dir) / "metrics.json").read_text())["history"]


def _snapshot(run_dir, kind, tile):
    from PIL import Image

    return np.asarray(Image.open(Path(run_dir) / "snapshots" / str(kind) / f"{tile}.png"))


def _grid(rows, headers, row_labels, cell=2.2):
    """A figure of images: `rows` is a list of lists of (H, W, 3) arrays."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), len(headers), squeeze=False,
                             figsize=(cell * len(headers), cell * len(rows) + 0.4))
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            ax = axes[r][c]
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(headers[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=9)
    fig.tight_layout()
    return fig


def stage_grid(run_dir, ids=None, epochs=None):
    """Rows are tiles; columns are the image, the prediction at each snapshot epoch, the truth."""
    ids = ids or snapshot_ids(run_dir)
    epochs = epochs or snapshot_epochs(run_dir)
    rows = [[_snapshot(run_dir, "input", t)] + [_snapshot(run_dir, e, t) for e in epochs]
            + [_snapshot(run_dir, "truth", t)] for t in ids]
    return _grid(rows, ["image"] + [f"epoch {e}" for e in epochs] + ["ground truth"], ids)


def comparison_grid(runs, ids=None, epoch=None):
    """Columns are the image, each model's prediction (header: name and val mIoU), the truth.

    `runs` maps a label ("FCN32s") to a run folder; `epoch` defaults to each run's last snapshot.
    """
    first = next(iter(runs.values()))
    ids = ids or snapshot_ids(first)
    headers, columns = ["image"], []
    for label, run_dir in runs.items():
        e = epoch or snapshot_epochs(run_dir)[-1]
        miou = next(r["val_miou"] for r in _history(run_dir) if r["epoch"] == e)
        headers.append(f"{label}\nmIoU {miou:.3f} (ep {e})")
        columns.append((run_dir, e))
    headers.append("ground truth")
    rows = [[_snapshot(first, "input", t)] + [_snapshot(d, e, t) for d, e in columns]
            + [_snapshot(first, "truth", t)] for t in ids]
    return _grid(rows, headers, ids)


def plot_history(runs, keys=("train_loss", "val_loss", "val_miou")):
    """One panel per metric, one line per run; `runs` maps a label to a run folder."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    for label, run_dir in runs.items():
        history = _history(run_dir)
        for ax, key in zip(axes[0], keys):
            ax.plot([r["epoch"] for r in history], [r[key] for r in history], marker="o", label=label)
            ax.set_title(key), ax.set_xlabel("epoch")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def class_colours(n):
    """`n` distinguishable colours (tab20, tab20b, tab20c: 60 in all)."""
    import matplotlib

    names = ("tab20", "tab20b", "tab20c")
    colours = [c for name in names for c in matplotlib.colormaps[name].colors]
    return [colours[(7 * i) % len(colours)] for i in range(n)]  # spread neighbours apart


def plot_tsne(panels, size=5.0):
    """Side-by-side t-SNE scatter plots; `panels` maps a title to (embedding, labels).

    Each class gets its own colour and its number at the class's median point, so 50 classes stay
    readable without a 50-entry legend.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size), squeeze=False)
    for ax, (title, (emb, labels)) in zip(axes[0], panels.items()):
        labels = np.asarray(labels)
        colours = class_colours(labels.max() + 1)
        ax.scatter(emb[:, 0], emb[:, 1], c=[colours[c] for c in labels], s=8, linewidths=0)
        for c in np.unique(labels):
            x, y = np.median(emb[labels == c], axis=0)
            ax.text(x, y, str(c), fontsize=7, ha="center", va="center", weight="bold",
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.6, "lw": 0})
        ax.set_title(title, fontsize=10)
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig
