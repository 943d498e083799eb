"""MaskInspector: browse the snapshot masks of segmentation runs, live or in the exported page.

    from hw2lib.widgets import MaskInspector
    MaskInspector({"FCN32s": "runs/sample/fcn32s", "FCN8s": "runs/sample/fcn8s"})

Choose the model, the tile and the epoch (a slider over that run's snapshot epochs), what is
drawn (prediction, ground truth, or the error map: wrong pixels in red), the overlay opacity, and
read that tile's mIoU. It only reads run folders (through `RunDir`).

In JupyterLab it is an ipywidgets box driven by the kernel. In the exported report there is no
kernel, so the same output also carries a small self-contained HTML inspector (root element
`.mask-inspector`, `<select>` and range controls, inline JavaScript drawing on a canvas from the
embedded snapshot images: nothing is fetched); printed, it shows a static grid instead.
"""
import base64
import html
import io
import json
import secrets

import numpy as np

from .atomic import strict_json
from .images import png_bytes, resize
from .label_specs import get_spec
from .run_dir import RunDir
from .viz import error_map, overlay_mask, stage_grid

VIEWS = ("prediction", "ground truth", "error map")


def _data_uri(array, fmt="png"):
    if fmt == "png":
        return "data:image/png;base64," + base64.b64encode(png_bytes(array)).decode()
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


class MaskInspector:
    def __init__(self, runs, size=384):
        self.runs = {label: RunDir(d) for label, d in runs.items()}
        self.size = size
        first = next(iter(self.runs.values()))
        self.spec = get_spec(first.record()["params"]["classes"])
        self.box = None

    # --- the live widget -------------------------------------------------------------------------
    def widget(self):
        """The ipywidgets box (built on first use)."""
        if self.box is None:
            self._build()
        return self.box

    def _build(self):
        import ipywidgets as w

        first = next(iter(self.runs.values()))
        self.model = w.Dropdown(options=list(self.runs), description="model")
        self.tile = w.Dropdown(options=first.snapshot_ids(), description="tile")
        epochs = first.snapshot_epochs()
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
        epochs = self.runs[self.model.value].snapshot_epochs()  # runs may differ in epochs
        self.epoch.options = epochs
        self.epoch.value = epochs[-1]
        self.update()

    def render(self):
        """The picture for the current choices, as an (H, W, 3) uint8 array."""
        run = self.runs[self.model.value]
        image = run.snapshot("input", self.tile.value)
        truth = self.spec.decode(run.snapshot("truth", self.tile.value))
        pred = self.spec.decode(run.snapshot(self.epoch.value, self.tile.value))
        if self.view.value == "error map":
            return error_map(image, truth, pred, dim=0.5 * self.opacity.value)
        mask = pred if self.view.value == "prediction" else truth
        return overlay_mask(image, mask, self.spec, inner_alpha=self.opacity.value, edge_width=1)

    def update(self):
        self.image.value = png_bytes(resize(self.render(), self.size, nearest=True))
        iou = self.runs[self.model.value].tile_miou(self.epoch.value, self.tile.value)
        self.iou.value = (f"<b>{self.model.value}</b>, tile {self.tile.value}, epoch "
                          f"{self.epoch.value}: tile mIoU {iou:.3f}")

    # --- the exported page -------------------------------------------------------------------------
    def html(self, size=256):
        """A self-contained inspector for a page without a kernel (inline data and script)."""
        first = next(iter(self.runs.values()))
        tiles = {t: {"image": _data_uri(resize(first.snapshot("input", t), size), "jpeg"),
                     "truth": _data_uri(resize(first.snapshot("truth", t), size, nearest=True))}
                 for t in first.snapshot_ids()}
        models = {}
        for label, run in self.runs.items():
            epochs = run.snapshot_epochs()
            models[label] = {
                "epochs": epochs,
                "tile_miou": {str(e): {t: run.tile_miou(e, t) for t in tiles} for e in epochs},
                "masks": {str(e): {t: _data_uri(resize(run.snapshot(e, t), size, nearest=True))
                                   for t in tiles} for e in epochs}}
        import matplotlib.pyplot as plt

        grid = io.BytesIO()
        fig = stage_grid(first.path)
        fig.savefig(grid, format="png", dpi=70, bbox_inches="tight")
        plt.close(fig)
        return _PAGE.format(
            id=f"mask-inspector-{secrets.token_hex(4)}",
            models="".join(f"<option>{html.escape(m)}</option>" for m in models),
            tiles="".join(f"<option>{html.escape(t)}</option>" for t in tiles),
            views="".join(f"<option>{v}</option>" for v in VIEWS),
            last=len(next(iter(models.values()))["epochs"]) - 1,
            data=json.dumps(strict_json({"tiles": tiles, "models": models})).replace("</", "<\\/"),
            grid=base64.b64encode(grid.getvalue()).decode(), size=size, script=_SCRIPT)

    def _repr_mimebundle_(self, **kwargs):
        """The live widget for JupyterLab, and the page inspector for exports."""
        bundle = self.widget()._repr_mimebundle_(**kwargs)
        bundle["text/html"] = self.html()
        return bundle


_PAGE = """<div class="mask-inspector" id="{id}">
<style>
#{id} .controls label {{ margin-right: 1em; font-size: 0.9em; }}
#{id} img.picture {{ width: 384px; height: 384px; image-rendering: pixelated; display: block; }}
#{id} .print-only {{ display: none; }}
@media print {{ #{id} .live {{ display: none; }} #{id} .print-only {{ display: block; }} }}
</style>
<div class="live">
<div class="controls">
<label>model <select data-role="model">{models}</select></label>
<label>tile <select data-role="tile">{tiles}</select></label>
<label>epoch <input type="range" data-role="epoch" min="0" max="{last}" step="1" value="{last}">
<span data-role="epoch-label"></span></label>
<label>show <select data-role="view">{views}</select></label>
<label>opacity <input type="range" data-role="opacity" min="0" max="100" step="5" value="60"></label>
</div>
<img class="picture" data-role="picture" alt="inspected mask" width="{size}" height="{size}">
<div data-role="caption"></div>
</div>
<img class="print-only" alt="training-stage grid" src="data:image/png;base64,{grid}">
<script type="application/json" data-role="data">{data}</script>
<script>{script}</script>
</div>"""

# Reads the embedded images into pixel arrays and blends them on a canvas: the same pictures as
# the live widget's overlay (without edges) and error map.
_SCRIPT = """(function (root) {
  const $ = (role) => root.querySelector('[data-role="' + role + '"]');
  const data = JSON.parse($("data").textContent);
  const images = {};
  const load = (src) => images[src] || (images[src] = new Promise((done) => {
    const im = new Image(); im.onload = () => done(im); im.src = src; }));
  const pixels = (im) => {
    const c = document.createElement("canvas"); c.width = im.width; c.height = im.height;
    const g = c.getContext("2d"); g.drawImage(im, 0, 0); return g.getImageData(0, 0, c.width, c.height); };
  async function draw() {
    const name = $("model").value, model = data.models[name], tile = $("tile").value;
    $("epoch").max = model.epochs.length - 1;
    const epoch = model.epochs[Math.min(+$("epoch").value, model.epochs.length - 1)];
    const view = $("view").value, a = $("opacity").value / 100;
    const [im, tr, pr] = await Promise.all([load(data.tiles[tile].image), load(data.tiles[tile].truth),
                                            load(model.masks[epoch][tile])]);
    const out = pixels(im), truth = pixels(tr).data, pred = pixels(pr).data, px = out.data;
    const mask = view === "prediction" ? pred : truth;
    for (let i = 0; i < px.length; i += 4) {
      if (view === "error map") {
        const wrong = truth[i] !== pred[i] || truth[i + 1] !== pred[i + 1] || truth[i + 2] !== pred[i + 2];
        for (let k = 0; k < 3; k++) px[i + k] = wrong ? (k === 0 ? 255 : 0) : px[i + k] * (1 - a / 2);
      } else {
        for (let k = 0; k < 3; k++) px[i + k] = (1 - a) * px[i + k] + a * mask[i + k];
      }
    }
    const c = document.createElement("canvas"); c.width = out.width; c.height = out.height;
    c.getContext("2d").putImageData(out, 0, 0);
    $("picture").src = c.toDataURL();
    $("epoch-label").textContent = epoch;
    const iou = model.tile_miou[epoch][tile];
    $("caption").textContent = name + ", tile " + tile + ", epoch " + epoch + ": tile mIoU " +
      (iou === null ? "n/a" : iou.toFixed(3));
  }
  root.querySelectorAll("select, input").forEach((el) => el.addEventListener("input", draw));
  root.querySelectorAll("select").forEach((el) => el.addEventListener("change", draw));
  draw();
})(document.currentScript.parentElement);"""
