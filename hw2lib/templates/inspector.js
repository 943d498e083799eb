// The page's mask inspector: reads the embedded images into pixel arrays and blends them on a canvas,
// the same pictures as the live widget's overlay (without edges) and error map. Nothing is fetched.
(function (root) {
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
})(document.currentScript.parentElement);
