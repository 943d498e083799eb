"""Losses: cross-entropy, Lovasz-softmax, and their weighted sum.

    loss = SegLoss("ce+lovasz", lovasz_weight=0.5)   # CE + 0.5 * Lovasz
    loss(logits, labels)                             # (N, C, H, W), (N, H, W)

Lovasz-softmax: M. Berman, A. Rannen Triki, M. B. Blaschko, "The Lovasz-Softmax loss: A tractable
surrogate for the optimization of the intersection-over-union measure in neural networks",
CVPR 2018. It follows the authors' reference implementation (github.com/bermanmaxim/LovaszSoftmax,
`pytorch/lovasz_losses.py`: `lovasz_grad` and `lovasz_softmax_flat` with classes="present",
per_image=False). It is a convex surrogate of the per-class Jaccard loss, so it optimises IoU more
directly than cross-entropy; it is applied to softmax probabilities, all pixels of the batch
pooled, and averaged over the classes present in the batch's labels.
"""
import torch
from torch import nn
from torch.nn import functional as F

from .errors import ConfigError


def lovasz_grad(gt_sorted):
    """Gradient of the Lovasz extension of the Jaccard loss w.r.t. sorted errors (paper, Alg. 1)."""
    gts = gt_sorted.sum()
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def lovasz_softmax(probs, labels, ignore_index=None):
    """Mean over present classes of the Lovasz hinge on |1[label = c] - p_c|, all pixels pooled."""
    c = probs.shape[1]
    probs = probs.movedim(1, -1).reshape(-1, c).float()
    labels = labels.reshape(-1)
    if ignore_index is not None:
        keep = labels != ignore_index
        probs, labels = probs[keep], labels[keep]
    losses = []
    for cls in range(c):
        fg = (labels == cls).float()
        if fg.sum() == 0:
            continue
        errors = (fg - probs[:, cls]).abs()
        errors_sorted, perm = torch.sort(errors, descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
    if not losses:
        return probs.sum() * 0.0
    return torch.stack(losses).mean()


class SegLoss(nn.Module):
    """`kind` is "ce", "lovasz" or "ce+lovasz" (CE + lovasz_weight * Lovasz)."""

    def __init__(self, kind="ce", class_weights=None, ignore_index=None, lovasz_weight=1.0,
                 label_smoothing=0.0):
        super().__init__()
        self.label_smoothing = label_smoothing
        if kind not in ("ce", "lovasz", "ce+lovasz"):
            raise ConfigError(f"loss: {kind!r} is not one of ce, lovasz, ce+lovasz")
        self.kind, self.lovasz_weight, self.ignore_index = kind, lovasz_weight, ignore_index
        weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        self.register_buffer("weight", weight)

    def forward(self, logits, labels):
        labels = labels.long()
        loss = 0.0
        if "ce" in self.kind.split("+"):
            loss = F.cross_entropy(logits.float(), labels, weight=self.weight,
                                   ignore_index=-100 if self.ignore_index is None else self.ignore_index,
                                   label_smoothing=self.label_smoothing)
        if "lovasz" in self.kind:
            loss = loss + self.lovasz_weight * lovasz_softmax(logits.float().softmax(1), labels,
                                                              self.ignore_index)
        return loss
