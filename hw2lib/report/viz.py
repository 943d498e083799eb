"""Pictures: mask colouring and overlays (numpy only), and figures (matplotlib and seaborn,
imported lazily).

Figures are drawn from what runs saved (run folders, through `RunDir`), never from a live
training loop, so a notebook can redraw them without retraining; the epochs and tiles drawn are
the current run's, read from its record. A function of several runs takes {label: Run}.
"""
import textwrap

import numpy as np

from ..atomic import atomic_path
from ..data.metrics import boundary_band
from ..numbers import fmt
from ..runs.profiles import ROOT


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


def error_map(image, truth, pred, dim=0.5):
    """The image dimmed, with every wrongly predicted pixel in red."""
    out = (image * (1 - dim)).astype(np.uint8)
    out[truth != pred] = (255, 0, 0)
    return out


def _grid(rows, headers, row_labels, cell=2.2, caption=None):
    """A figure of images: `rows` is a list of lists of (H, W, 3) arrays, `caption` under it."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), len(headers), squeeze=False,
                             figsize=(cell * len(headers), cell * len(rows) + 0.4 + 0.3 * bool(caption)))
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            ax = axes[r][c]
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(headers[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(row_labels[r], fontsize=9)
    if caption:
        fig.text(0.5, 0.005, textwrap.fill(caption, 110), ha="center", va="bottom", fontsize=8)
        fig.tight_layout(rect=(0, 0.04, 1, 1))
    else:
        fig.tight_layout()
    return fig


def stage_grid(run, ids=None, epochs=None):
    """Rows are tiles; columns are the image, the prediction at each snapshot epoch, the truth."""
    folder, record = run.dir, run.record
    ids = ids or record.snapshot_ids()
    epochs = epochs or record.snapshot_epochs()
    rows = [[folder.snapshot("input", t)] + [folder.snapshot(e, t) for e in epochs] + [folder.snapshot("truth", t)]
            for t in ids]
    return _grid(rows, ["image"] + [f"epoch {record.epoch_tag(e)}" for e in epochs] + ["ground truth"], ids,
                 caption=f"{run.name}: {record.snapshot_caption()}")


def comparison_grid(runs, ids=None, epoch=None):
    """Columns are the image, each model's prediction (header: name and that epoch's val mIoU),
    the truth. `epoch` defaults to each run's last snapshot epoch."""
    first = next(iter(runs.values()))
    ids = ids or first.record.snapshot_ids()
    headers, columns = ["image"], []
    for label, run in runs.items():
        e = epoch or run.record.snapshot_epochs()[-1]
        headers.append(f"{label}\nmIoU {fmt(run.record.row(e)['val_miou'], '.3f')} (ep {run.record.epoch_tag(e)})")
        columns.append((run.dir, e))
    headers.append("ground truth")
    rows = [[first.dir.snapshot("input", t)] + [folder.snapshot(e, t) for folder, e in columns]
            + [first.dir.snapshot("truth", t)] for t in ids]
    return _grid(rows, headers, ids, caption="each model's masks at the epoch its header names (kept: the epoch "
                                             "its select rule keeps; last: its final epoch)")


def plot_history(runs):
    """Panels of the training loss, validation loss, the task's score and the learning rate, one
    line per run. The rate panel draws each epoch's first and last step's rate, so a warm
    restart shows as a jump."""
    import matplotlib.pyplot as plt

    metric = next(iter(runs.values())).record.metric
    keys = ("train_loss", "val_loss", metric, "lr")
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3), squeeze=False)
    for label, run in runs.items():
        history = run.record.history
        for ax, key in zip(axes[0], keys):
            if key == "lr":  # a step function: lr_start at the epoch's start, lr at its end
                xs = [x for r in history for x in (r["epoch"] - 1, r["epoch"])]
                ys = [y for r in history for y in (r["lr_start"], r["lr"])]
                ax.plot(xs, ys, label=label)
                ax.set_title("learning rate (start, end of epoch)")
            else:
                ax.plot([r["epoch"] for r in history], [r[key] for r in history], marker="o", label=label)
                ax.set_title(key)
            ax.set_xlabel("epoch")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_class_scores(scores, ylabel="IoU", title="per-class IoU (kept epoch)", ylim=(0, 1)):
    """Grouped bars: `scores` maps a run label to {class name: score}."""
    import matplotlib.pyplot as plt

    labels = list(scores)
    classes = list(next(iter(scores.values())))
    width = 0.8 / len(labels)
    fig, ax = plt.subplots(figsize=(min(14, max(6, 0.9 * len(classes) * max(1, len(labels) / 3))), 3))
    for i, label in enumerate(labels):
        values = [scores[label][c] for c in classes]
        ax.bar(np.arange(len(classes)) + (i - (len(labels) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(range(len(classes)), classes, rotation=0 if len(classes) < 10 else 90, fontsize=8)
    ax.set_ylabel(ylabel), ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=8, ncol=min(4, len(labels)))
    fig.tight_layout()
    return fig


def plot_confusion(cm, class_names, title, annotate=True):
    """Row-normalised confusion matrix heatmap (rows: true class, columns: predicted)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    cm = np.asarray(cm, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        rates = cm / cm.sum(1, keepdims=True)
    side = min(10, max(4, 0.3 * len(class_names) + 2))
    fig, ax = plt.subplots(figsize=(side, side * 0.85))
    sns.heatmap(rates, ax=ax, vmin=0, vmax=1, cmap="viridis", square=True, annot=annotate,
                fmt=".2f", annot_kws={"fontsize": 7}, xticklabels=class_names, yticklabels=class_names,
                cbar_kws={"label": "share of the true class"})
    ax.set_xlabel("predicted"), ax.set_ylabel("true"), ax.set_title(title)
    ax.tick_params(labelsize=7 if len(class_names) > 10 else 9)
    fig.tight_layout()
    return fig


def plot_class_shares(shares, true_share, title="predicted versus true class shares",
                      ylabel="share of pixels"):
    """Bars of each run's predicted class shares beside the true shares; `shares` maps a run
    label to {class: share}."""
    return plot_class_scores({"ground truth": true_share, **shares}, ylabel=ylabel, title=title,
                             ylim=None)


def class_colours(n):
    """`n` distinguishable colours (tab20, tab20b, tab20c: 60 in all)."""
    import matplotlib

    names = ("tab20", "tab20b", "tab20c")
    colours = [c for name in names for c in matplotlib.colormaps[name].colors]
    return [colours[(7 * i) % len(colours)] for i in range(n)]  # spread neighbours apart


def plot_tsne(panels, size=5.0):
    """Side-by-side t-SNE scatter plots; `panels` maps a title to (embedding, labels, wrong),
    where `wrong` marks the images the model misclassifies (drawn as black crosses).

    Each class gets its own colour and its number at the class's median point, so 50 classes stay
    readable without a 50-entry legend.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size), squeeze=False)
    for ax, (title, (emb, labels, wrong)) in zip(axes[0], panels.items()):
        labels, wrong = np.asarray(labels), np.asarray(wrong, dtype=bool)
        colours = class_colours(labels.max() + 1)
        ax.scatter(emb[:, 0], emb[:, 1], c=[colours[c] for c in labels], s=8, linewidths=0)
        ax.scatter(emb[wrong, 0], emb[wrong, 1], marker="x", c="black", s=6, linewidths=0.4, alpha=0.5,
                   label=f"misclassified ({wrong.mean():.0%})")
        for c in np.unique(labels):
            x, y = np.median(emb[labels == c], axis=0)
            ax.text(x, y, str(c), fontsize=7, ha="center", va="center", weight="bold",
                    bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.6, "lw": 0})
        ax.set_title(textwrap.fill(title, 48), fontsize=9)
        ax.legend(loc="lower right", fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_examples(rows, cell=1.1):
    """Rows of small images with a caption each: `rows` maps a row title to [(image, caption)]."""
    import matplotlib.pyplot as plt

    width = max(len(r) for r in rows.values())
    fig, axes = plt.subplots(len(rows), width, figsize=(cell * width + 1.5, cell * len(rows) + 0.3),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for r, (title, items) in enumerate(rows.items()):
        axes[r][0].text(-0.15, 0.5, title, transform=axes[r][0].transAxes, ha="right", va="center",
                        fontsize=8)
        for c, (image, caption) in enumerate(items):
            axes[r][c].imshow(image, interpolation="nearest")
            axes[r][c].set_title(caption, fontsize=7)
    fig.tight_layout()
    return fig


def save_figure(fig, profile, name, dpi=110):
    """Write `fig` to figures/<profile>/<name>.png (for users' own write-ups); the notebook's
    inline backend shows it once at the end of the cell."""
    with atomic_path(ROOT / "figures" / profile / f"{name}.png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
