"""Using a model: the one prediction path, evaluation of a split, and the homework's jobs.

    hw2 segment hw2_data/p2_data/validation out_masks/ --checkpoint runs/homework/fcn8s/kept.pt
    hw2 evaluate runs/homework/fcn8s/kept.pt hw2_data/p2_data/validation
    hw2 classify hw2_data/p1_data/val_50 pred.csv --checkpoint runs/homework/resnet18/kept.pt

A segmentation model sees each image at the run's `image_size`; its logits are upsampled
(bilinear) to the mask's native size, then each pixel takes its first highest class. Training
validation, `hw2 evaluate` and `hw2 segment` all go through `Predictor.logits`, so the val mIoU in
`metrics.json` is the number the official evaluator gives on the masks `hw2 segment` writes.
Nothing here imports the training loop.
"""
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..atomic import write_text
from ..data.datasets import image_id, load_classification, load_segmentation, parallel_map, sat_images
from ..data.images import read_rgb, resize, write_png
from ..data.metrics import scores
from ..errors import CheckpointError, DataError
from ..models import build_model
from ..models.classifiers import feature_map, last_layer
from ..models.small_input import small_input_convs
from ..settings import RunSettings
from ..tasks import Split, at_size, make_task
from .checkpoint import load_checkpoint
from .runtime import Distributed, autocast, resolve_device, resolve_precision
from .transforms import to_input


@dataclass
class Predictor:
    """A model in eval mode with what it needs to see images as it was trained to."""
    model: torch.nn.Module
    settings: RunSettings
    device: torch.device
    precision: str  # resolved: fp32, bf16 or fp16
    task: object = field(init=False)

    def __post_init__(self):
        self.task = make_task(self.settings)

    @property
    def batch_size(self):
        return 2 * self.settings.train.batch_size  # no gradients: twice the training batch fits

    def logits(self, images, size=None):
        """Float logits of a uint8 (N, 3, H, W) batch, in eval mode: (N, C) or (N, C, h, w),
        upsampled (bilinear) to `size` (H, W) when given (segmentation's native masks)."""
        self.model.eval()  # dropout off, batch-norm statistics fixed (training turns it back on)
        with torch.no_grad(), autocast(self.device, self.precision):
            out = self.model(to_input(images, self.device, self.task.input_size,
                                      self.settings.train.channels_last)).float()
        return out if size is None else at_size(out, size)


def predicted_classes(logits):
    """The class of each item or pixel of (N, C, ...) logits: the first maximum, as `argmax(1)`
    gives, but `max(1)` reduces over the strided class dimension about 18x faster on a CPU
    (200 ms against 11 ms for 4 x 6 x 512 x 512, bench/RESULTS.md)."""
    return logits.max(1).indices


def placed(model, device, channels_last):
    """`model` on `device`, its convolutions over maps smaller than their kernels computed as
    matrix products where that costs fewer multiplications (`models/small_input.py`). With
    channels_last, on a GPU the parameters take that format too, as PyTorch advises; on a CPU
    only the activations do (`to_input`): oneDNN reorders each weight at every call either way,
    and the fused AdamW copies every channels_last parameter to a contiguous one and back at each
    step."""
    model = small_input_convs(model).to(device)
    return model.to(memory_format=torch.channels_last) if channels_last and device.type == "cuda" else model


def load_trained(checkpoint, device="auto", task=None):
    """A `Predictor` from a `kept.pt`, `last.pt` or `epoch_<k>.pt`, at the precision it was
    trained under. With `task` given, a checkpoint of the other task is refused."""
    state = load_checkpoint(checkpoint)
    settings = RunSettings.build(state["params"])
    if task is not None and settings.task.name != task:
        raise CheckpointError(f"{checkpoint}: a {settings.task.name} checkpoint ({settings.model.model}), "
                              f"but this command needs a {task} one")
    device = resolve_device(device)
    model = build_model(settings.model.model, state["num_classes"], settings.model.values())
    model.load_state_dict(state["model"])
    model = placed(model, device, settings.train.channels_last).eval()
    precision = state.get("precision", settings.train.precision)
    if precision == "fp16" and device.type != "cuda":
        precision = "fp32"  # fp16 autocast is a GPU feature; the stored fp16 weights load exactly
    return Predictor(model, settings, device, resolve_precision(precision, device))


@dataclass
class Evaluation:
    loss: float           # the loss of the whole split (see `Loss.sums`)
    cm: np.ndarray        # (C, C) confusion matrix over the split
    items: dict           # per-item arrays: "cms" and "boundary_7_cms" (N, C, C), or "labels" + "preds"


def evaluate_split(predictor, split, loss_fn, ddp=None):
    """Loss, confusion matrix and per-item results of `split` (sharded across DDP ranks).

    Segmentation is scored at the masks' size (native for validation sets), classification per
    image. Every rank ends with the same full results."""
    ddp = ddp or Distributed(predictor.device)
    task, device, count = predictor.task, predictor.device, len(split.images)
    items = torch.zeros((count, *task.item_shape), dtype=torch.int64, device=device)
    sums = torch.zeros(4, dtype=torch.float64, device=device)
    mine = torch.arange(count, device=split.images.device)[ddp.rank::ddp.world]
    for i in range(0, len(mine), predictor.batch_size):
        idx = mine[i:i + predictor.batch_size]  # on the split's device (it may stay on the CPU)
        targets = split.targets[idx].to(device, non_blocking=True).long()
        at = idx.to(device)
        for part, logits in task.scored_parts(predictor, split.images[idx], targets):
            sums += loss_fn.sums(logits, targets[part])
            items[at[part]] = task.item_results(targets[part], predicted_classes(logits))
    ddp.sum(items), ddp.sum(sums)
    cm, per_item = task.summarise(items.cpu().numpy(), split.ids)
    return Evaluation(loss_fn.value(sums), cm, per_item)


def predicted_masks(predictor, images, size):
    """(N, H, W) uint8 class indices at native `size` for a uint8 image batch."""
    out = []
    for i in range(0, len(images), predictor.batch_size):
        out.append(predicted_classes(predictor.logits(images[i:i + predictor.batch_size], size)))
    return torch.cat(out).to(torch.uint8).cpu().numpy()


def segment_folder(img_dir, out_dir, checkpoint, device="auto"):
    """Write one `{id}_mask.png` per `{id}_sat.jpg` of `img_dir`; return how many."""
    img_dir, out_dir = Path(img_dir), Path(out_dir)
    if out_dir.resolve() == img_dir.resolve():
        raise DataError(f"{out_dir}: the output folder must differ from the image folder")
    paths = sat_images(img_dir)
    predictor = load_trained(checkpoint, device, "segmentation")
    spec, size = predictor.task.spec, predictor.settings.task.image_size
    out_dir.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(paths), 16):  # a chunk at a time: the folder may be large
        group = paths[start:start + 16]
        images = parallel_map(read_rgb, group)
        for path, image in zip(group, images):
            batch = torch.from_numpy(resize(image, size).transpose(2, 0, 1).copy())[None]
            mask = predicted_masks(predictor, batch, image.shape[:2])[0]
            write_png(out_dir / f"{image_id(path)}_mask.png", spec.encode(mask))
    return len(paths)


def evaluate_folder(checkpoint, data_dir, device="auto"):
    """(scores, evaluation) of a checkpoint on a folder of `{id}_sat.jpg` + `{id}_mask.png`,
    loaded exactly as training validation loads it."""
    predictor = load_trained(checkpoint, device, "segmentation")
    task = predictor.task
    data = load_segmentation(data_dir, task.spec, predictor.settings.task.image_size, native_masks=True)
    split = Split(torch.from_numpy(data.images), torch.from_numpy(data.masks), data.ids).to(predictor.device)
    evaluation = evaluate_split(predictor, split, task.loss().to(predictor.device))
    return scores(evaluation.cm, task.spec), evaluation


def classify_folder(img_dir, out_csv, checkpoint, device="auto"):
    """Write `image_id,label` rows, one per `*.png` of `img_dir` in sorted order; return the count."""
    images = load_classification(img_dir, labelled=False)
    predictor = load_trained(checkpoint, device, "classification")
    batches = torch.from_numpy(images.images).split(predictor.batch_size)
    labels = torch.cat([predicted_classes(predictor.logits(b)) for b in batches]).tolist()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["image_id", "label"])
    writer.writerows(zip(images.names, labels))
    write_text(out_csv, text.getvalue())
    return len(labels)


def penultimate_features(predictor, images, kind="pooled"):
    """(N, D) float32 numpy array of a classifier's features, captured with a forward hook:

    pooled   the last layer's inputs (ResNet18: the 512-d vector after global average pooling,
             the report's "second last layer")
    map      the last feature map, flattened (ResNet18's layer4: 512 x 7 x 7 = 25,088-d at 224 px),
             what the reference author embedded (plot_tSNE.py:52 on ResNet18_tSNE)
    """
    captured = []
    if kind == "pooled":
        hook = last_layer(predictor.model).register_forward_hook(lambda m, inp, out: captured.append(inp[0].float()))
    else:
        hook = feature_map(predictor.model).register_forward_hook(
            lambda m, inp, out: captured.append(out.float().flatten(1)))
    try:
        for batch in images.split(predictor.batch_size):
            predictor.logits(batch)
    finally:
        hook.remove()
    return torch.cat(captured).cpu().numpy()
