"""MaskInspector: browse the snapshot masks of segmentation runs, live or in the exported page.

    from hw2lib.workbook import MaskInspector
    MaskInspector({"fcn32s": runs["fcn32s"], "fcn8s": runs["fcn8s"]})      # {label: Run}

Choose the model, the tile and the epoch (a slider over that run's snapshot epochs), what is
drawn (prediction, ground truth, or the error map: wrong pixels in red), the overlay opacity, and
read that tile's mIoU. It only reads run folders (through `RunDir`).

In JupyterLab it is an ipywidgets box driven by the kernel. In the exported report there is no
kernel, so the same output also carries a small self-contained HTML inspector (root element
`.mask-inspector`, `<select>` and range controls, inline JavaScript drawing on a canvas from the
embedded snapshot images: nothing is fetched); printed, it shows a static grid instead. Its
HTML and JavaScript are in `hw2lib/templates/inspector.html` and `inspector.js`.
"""
import base64
import html
import io
import json
import secrets
from pathlib import Path
from string import Template

import ipywidgets as w
from PIL import Image

from ..data.images import png_bytes, resize
from ..numbers import fmt, strict_json
from .viz import error_map, overlay_mask, stage_grid

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"

VIEWS = ("prediction", "ground truth", "error map")


def _data_uri(array, kind="png"):
    if kind == "png":
        return "data:image/png;base64," + base64.b64encode(png_bytes(array)).decode()
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


class MaskInspector:
    def __init__(self, runs, size=384):
        """`runs`: {label: Run} of segmentation runs with snapshots."""
        self.first = next(iter(runs.values()))
        self.runs = runs
        self.size = size
        self.spec = self.first.record.task.spec
        self.box = None

    # --- the live widget -------------------------------------------------------------------------
    def widget(self):
        """The ipywidgets box (built on first use)."""
        if self.box is None:
            self._build()
        return self.box

    def _build(self):
        record = self.first.record
        self.model = w.Dropdown(options=list(self.runs), description="model")
        self.tile = w.Dropdown(options=record.snapshot_ids(), description="tile")
        epochs = record.snapshot_epochs()
        self.epoch = w.SelectionSlider(options=epochs, value=epochs[-1], description="epoch")
        self.view = w.ToggleButtons(options=VIEWS, description="show")
        self.opacity = w.FloatSlider(value=0.6, min=0.0, max=1.0, step=0.05, description="opacity")
        self.iou = w.HTML()
        self.image = w.Image(format="png")
        self.model.observe(lambda _: self._model_changed(), names="value")
        for control in (self.tile, self.epoch, self.view, self.opacity):
            control.observe(lambda _: self.update(), names="value")
        self.box = w.VBox([w.HBox([self.model, self.tile]), self.epoch,
                           w.HBox([self.view, self.opacity]), self.iou, self.image])
        self.update()

    def _model_changed(self):
        epochs = self.runs[self.model.value].record.snapshot_epochs()  # runs may differ in epochs
        self.epoch.options = epochs
        self.epoch.value = epochs[-1]
        self.update()

    def render(self):
        """The picture for the current choices, as an (H, W, 3) uint8 array."""
        folder = self.runs[self.model.value].dir
        image = folder.snapshot("input", self.tile.value)
        truth = self.spec.decode(folder.snapshot("truth", self.tile.value))
        pred = self.spec.decode(folder.snapshot(self.epoch.value, self.tile.value))
        if self.view.value == "error map":
            return error_map(image, truth, pred, dim=0.5 * self.opacity.value)
        mask = pred if self.view.value == "prediction" else truth
        return overlay_mask(image, mask, self.spec, inner_alpha=self.opacity.value, edge_width=1)

    def update(self):
        self.image.value = png_bytes(resize(self.render(), self.size, nearest=True))
        iou = self.runs[self.model.value].record.tile_miou(self.epoch.value, self.tile.value)
        self.iou.value = (f"<b>{self.model.value}</b>, tile {self.tile.value}, epoch "
                          f"{self.epoch.value}: tile mIoU {fmt(iou, '.3f')}")

    # --- the exported page -------------------------------------------------------------------------
    def html(self, size=256):
        """A self-contained inspector for a page without a kernel (inline data and script)."""
        first = self.first.dir
        tiles = {t: {"image": _data_uri(resize(first.snapshot("input", t), size), "jpeg"),
                     "truth": _data_uri(resize(first.snapshot("truth", t), size, nearest=True))}
                 for t in self.first.record.snapshot_ids()}
        models = {}
        for label, run in self.runs.items():
            epochs = run.record.snapshot_epochs()
            models[label] = {
                "epochs": epochs,
                "tile_miou": {str(e): {t: run.record.tile_miou(e, t) for t in tiles} for e in epochs},
                "masks": {str(e): {t: _data_uri(resize(run.dir.snapshot(e, t), size, nearest=True))
                                   for t in tiles} for e in epochs}}
        import matplotlib.pyplot as plt

        grid = io.BytesIO()
        fig = stage_grid(self.first)
        fig.savefig(grid, format="png", dpi=70, bbox_inches="tight")
        plt.close(fig)
        page = Template((TEMPLATES / "inspector.html").read_text())
        return page.substitute(
            id=f"mask-inspector-{secrets.token_hex(4)}",
            models="".join(f"<option>{html.escape(m)}</option>" for m in models),
            tiles="".join(f"<option>{html.escape(t)}</option>" for t in tiles),
            views="".join(f"<option>{v}</option>" for v in VIEWS),
            last=len(next(iter(models.values()))["epochs"]) - 1,
            data=json.dumps(strict_json({"tiles": tiles, "models": models})).replace("</", "<\\/"),
            grid=base64.b64encode(grid.getvalue()).decode(), size=size,
            script=(TEMPLATES / "inspector.js").read_text())

    def _repr_mimebundle_(self, **kwargs):
        """The live widget for JupyterLab, and the page inspector for exports."""
        bundle = self.widget()._repr_mimebundle_(**kwargs)
        bundle["text/html"] = self.html()
        return bundle
