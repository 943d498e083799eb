"""MaskInspector: browse the snapshot masks of segmentation runs in JupyterLab.

    from hw2lib.widgets import MaskInspector
    MaskInspector({"FCN32s": "runs/sample/fcn32s", "FCN8s": "runs/sample/fcn8s"})

Choose the model, the tile and the epoch (a slider over the snapshot epochs), toggle what is drawn
(prediction, ground truth, or the error map: wrong pixels in red), set the overlay opacity, and read
that tile's IoU. It only reads run folders. Where no live kernel runs it (an exported HTML report),
the output falls back to the static training-stage grid of the first run: no blank widget box.
"""
import base64
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .classes import get_spec
from .viz import overlay_mask, snapshot_epochs, snapshot_ids, stage_grid

VIEWS = ("prediction", "ground truth", "error map")


def _png(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


class MaskInspector:
    def __init__(self, runs, size=384):
        import ipywidgets as w

        self.runs = {label: Path(d) for label, d in runs.items()}
        first = next(iter(self.runs.values()))
        self.size = size
        self.model = w.Dropdown(options=list(self.runs), description="model")
        self.tile = w.Dropdown(options=snapshot_ids(first), description="tile")
        epochs = snapshot_epochs(first)
        self.epoch = w.SelectionSlider(options=epochs, value=epochs[-1], description="epoch")
        self.view = w.ToggleButtons(options=VIEWS, description="show")
        self.opacity = w.FloatSlider(value=0.6, min=0.0, max=1.0, step=0.05, description="opacity")
        self.iou = w.HTML()
        self.image = w.Image(format="png")
        for control in (self.model, self.tile, self.epoch, self.view, self.opacity):
            control.observe(lambda _: self.update(), names="value")
        self.box = w.VBox([w.HBox([self.model, self.tile]), self.epoch,
                           w.HBox([self.view, self.opacity]), self.iou, self.image])
        self.update()

    def _read(self, kind):
        path = self.runs[self.model.value] / "snapshots" / str(kind) / f"{self.tile.value}.png"
        return np.asarray(Image.open(path).convert("RGB"))

    def record(self):
        path = self.runs[self.model.value] / "snapshots" / str(self.epoch.value) / "record.json"
        return json.loads(path.read_text())

    def render(self):
        """The picture for the current choices, as an (H, W, 3) uint8 array."""
        spec = get_spec(self.record()["classes"])
        image = self._read("input")
        truth, pred = (spec.decode(self._read(k)) for k in ("truth", self.epoch.value))
        if self.view.value == "error map":
            wrong = truth != pred
            out = (image * (1 - 0.5 * self.opacity.value)).astype(np.uint8)
            out[wrong] = (255, 0, 0)
            return out
        mask = pred if self.view.value == "prediction" else truth
        return overlay_mask(image, mask, spec, inner_alpha=self.opacity.value, edge_width=1)

    def update(self):
        picture = Image.fromarray(self.render()).resize((self.size, self.size), Image.NEAREST)
        self.image.value = _png(np.asarray(picture))
        iou = self.record()["tile_miou"][self.tile.value]
        self.iou.value = (f"<b>{self.model.value}</b>, tile {self.tile.value}, epoch "
                          f"{self.epoch.value}: tile mIoU {iou:.3f}")

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, plus a static PNG that HTML exports show instead of a blank box."""
        bundle = self.box._repr_mimebundle_(**kwargs)
        fig = stage_grid(self.runs[self.model.value])
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
        __import__("matplotlib.pyplot").pyplot.close(fig)
        bundle["image/png"] = base64.b64encode(buf.getvalue()).decode()
        return bundle
