"""Using a trained checkpoint: the homework's `hw2_1.sh` / `hw2_2.sh` jobs and folder evaluation.

    hw2 segment hw2_data/p2_data/validation out_masks/ --checkpoint runs/homework/fcn8s/best.pt
    hw2 evaluate runs/homework/fcn8s/best.pt hw2_data/p2_data/validation
    hw2 classify hw2_data/p1_data/val_50 pred.csv --checkpoint runs/homework/resnet18/best.pt

Segmentation runs at the checkpoint's training size and resizes the logits back to each image's
own size, so masks and scores are at full resolution.
"""
import csv
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from .checkpoint import load_checkpoint
from .classes import get_spec
from .data import image_id, load_classification, parallel_map, read_mask, sat_images, segmentation_pairs
from .engine import predict, resolve_device
from .files import DataError, atomic_path, read_rgb, write_png
from .metrics import confusion_matrix, iou_per_class, mean_iou
from .models import build_model


def load_trained(checkpoint, device="auto", task=None):
    """(model in eval mode, its params, device) from a `best.pt` or `last.pt`.

    With `task` given, a checkpoint of the other task is refused."""
    state = load_checkpoint(checkpoint)
    cfg, device = state["params"], resolve_device(device)
    if task is not None and cfg["task"] != task:
        raise ValueError(f"{checkpoint}: a {cfg['task']} checkpoint ({cfg['model']}), "
                         f"but this command needs a {task} one")
    model = build_model(cfg["model"], state["num_classes"], cfg["head_width"])
    model.load_state_dict(state["model"])
    model = model.to(device).eval()
    if cfg["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    return model, cfg, device


def predicted_masks(model, cfg, device, paths, chunk=16):
    """Yield (path, (H, W) class indices at the image's own size) for each image path."""
    size = cfg["image_size"]
    for i in range(0, len(paths), chunk):
        group = paths[i:i + chunk]
        images = parallel_map(read_rgb, group)
        small = [np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
                 if size else im for im in images]
        shapes = {s.shape for s in small}
        if len(shapes) > 1:
            raise DataError(f"{group[0].parent}: images differ in size; train with image_size set")
        batch = torch.from_numpy(np.stack(small)).permute(0, 3, 1, 2)
        logits = predict(model, batch, cfg, device)
        for path, im, lg in zip(group, images, logits):
            full = F.interpolate(lg[None], size=im.shape[:2], mode="bilinear", align_corners=False)
            yield path, full[0].argmax(0).to(torch.uint8).cpu().numpy()


def segment_folder(img_dir, out_dir, checkpoint, device="auto"):
    """Write one `{id}_mask.png` per `{id}_sat.jpg` of `img_dir`; return how many."""
    img_dir, out_dir = Path(img_dir), Path(out_dir)
    if out_dir.resolve() == img_dir.resolve():
        raise ValueError(f"{out_dir}: the output folder must differ from the image folder")
    paths = sat_images(img_dir)
    model, cfg, device = load_trained(checkpoint, device, "segmentation")
    spec = get_spec(cfg["classes"])
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, mask in predicted_masks(model, cfg, device, paths):
        write_png(out_dir / f"{image_id(path)}_mask.png", spec.encode(mask))
    return len(paths)


def evaluate_folder(checkpoint, data_dir, device="auto"):
    """(miou, {class: iou}) of a checkpoint on a folder of `{id}_sat.jpg` + `{id}_mask.png`."""
    pairs = segmentation_pairs(data_dir)
    model, cfg, device = load_trained(checkpoint, device, "segmentation")
    spec = get_spec(cfg["classes"])
    truth = dict((sat, mask) for _, sat, mask in pairs)
    cm = 0
    for sat, pred in predicted_masks(model, cfg, device, list(truth)):
        label = read_mask(truth[sat], spec)
        if label.shape != pred.shape:
            raise DataError(f"{truth[sat]}: size differs from its image {sat}")
        cm = cm + confusion_matrix(label, pred, spec.num_classes)
    per_class = dict(zip(spec.scored_names, iou_per_class(cm, spec.scored).tolist()))
    return mean_iou(cm, spec.scored), per_class


def classify_folder(img_dir, out_csv, checkpoint, device="auto"):
    """Write `image_id,label` rows, one per `*.png` of `img_dir` in sorted order; return the count."""
    images = load_classification(img_dir, labelled=False)
    model, cfg, device = load_trained(checkpoint, device, "classification")
    labels = predict(model, torch.from_numpy(images.images), cfg, device).argmax(1).tolist()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["image_id", "label"])
    writer.writerows(zip(images.names, labels))
    with atomic_path(out_csv) as tmp:
        tmp.write_text(text.getvalue())
    return len(labels)
