"""Snapshots: the predicted masks of a few chosen validation tiles at chosen epochs, saved so that
grids and the inspector can be drawn from the run folder alone, at the tiles' native size."""
import torch

from ..data.datasets import read_pair
from ..data.metrics import confusion_matrix, mean_iou_over
from .inference import predicted_masks


def tile_miou(truth, pred, spec):
    """A tile's mIoU over the scored classes present in its ground truth (a fixed class set, so
    a class the model merely predicts does not change which classes are averaged)."""
    present = [c for c in spec.scored if (truth == c).any()]
    return mean_iou_over(confusion_matrix(truth, pred, spec.num_classes), present)


def write_snapshot_inputs(run, val_folder, ids, spec):
    """The tiles' images and ground truth at native size, once per run."""
    for tile in ids:
        image, mask = read_pair(val_folder / f"{tile}_sat.jpg", val_folder / f"{tile}_mask.png", spec)
        run.write_snapshot("input", tile, image)
        run.write_snapshot("truth", tile, spec.encode(mask))


def write_snapshots(run, predictor, val_split, ids, spec, epoch):
    """This epoch's predicted masks of tiles `ids`; returns {tile: tile mIoU}."""
    pos = torch.tensor([val_split.ids.index(i) for i in ids], device=val_split.images.device)
    truths = val_split.targets[pos].cpu().numpy()
    preds = predicted_masks(predictor, val_split.images[pos], truths.shape[-2:])
    for tile, pred in zip(ids, preds):
        run.write_snapshot(epoch, tile, spec.encode(pred))
    return {tile: tile_miou(truth, pred, spec) for tile, truth, pred in zip(ids, truths, preds)}
