"""A faithful re-implementation of the course's official evaluator (mean_iou_evaluate.py).

Kept as the reference that `hw2 miou` is tested and benchmarked against: same reading (every
``*.png``, sorted, into float64 arrays), same threshold decode, same per-class loop. The only
change is the image reader (PIL instead of the retired scipy.misc/imageio, which decode the same
pixels), that masks may be of any one size instead of a hard-coded 512x512, and that the number
of scored classes (6 in the homework) is a parameter, so other class specs can be checked too.

    python bench/official_miou.py -g LABEL_DIR -p PRED_DIR
"""
import argparse
import os

import numpy as np
from PIL import Image


def read_masks(filepath):
    file_list = sorted(f for f in os.listdir(filepath) if f.endswith(".png"))
    first = np.asarray(Image.open(os.path.join(filepath, file_list[0])))
    masks = np.empty((len(file_list),) + first.shape[:2])
    for i, file in enumerate(file_list):
        mask = np.asarray(Image.open(os.path.join(filepath, file)).convert("RGB"))
        mask = (mask >= 128).astype(int)
        mask = 4 * mask[:, :, 0] + 2 * mask[:, :, 1] + mask[:, :, 2]
        masks[i, mask == 3] = 0  # (Cyan: 011) Urban land
        masks[i, mask == 6] = 1  # (Yellow: 110) Agriculture land
        masks[i, mask == 5] = 2  # (Purple: 101) Rangeland
        masks[i, mask == 2] = 3  # (Green: 010) Forest land
        masks[i, mask == 1] = 4  # (Blue: 001) Water
        masks[i, mask == 7] = 5  # (White: 111) Barren land
        masks[i, mask == 0] = 6  # (Black: 000) Unknown
        masks[i, mask == 4] = 6  # (Red: 100) Unknown
    return masks


def mean_iou_score(pred, labels, verbose=True, num_classes=6):
    mean_iou = 0
    ious = []
    for i in range(num_classes):
        tp_fp = np.sum(pred == i)
        tp_fn = np.sum(labels == i)
        tp = np.sum((pred == i) * (labels == i))
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = tp / (tp_fp + tp_fn - tp)
        mean_iou += iou / num_classes
        ious.append(iou)
        if verbose:
            print("class #%d : %1.5f" % (i, iou))
    if verbose:
        print("\nmean_iou: %f\n" % mean_iou)
    return mean_iou, ious


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-g", "--labels", required=True)
    parser.add_argument("-p", "--pred", required=True)
    args = parser.parse_args()
    mean_iou_score(read_masks(args.pred), read_masks(args.labels))
