"""The loss of both tasks: cross-entropy (class weights, label smoothing, an ignored class),
Lovasz-softmax, or their weighted sum.

    loss = Loss("ce+lovasz", lovasz_weight=0.5)   # CE + 0.5 * Lovasz
    loss(logits, labels)                          # the training loss of a batch
    loss.value(loss.sums(logits, labels))         # the validation loss, whatever the batching

Lovasz-softmax: M. Berman, A. Rannen Triki, M. B. Blaschko, "The Lovasz-Softmax loss: A tractable
surrogate for the optimization of the intersection-over-union measure in neural networks",
CVPR 2018. It follows the authors' reference implementation (github.com/bermanmaxim/LovaszSoftmax,
`pytorch/lovasz_losses.py`: `lovasz_grad` and `lovasz_softmax_flat` with classes="present"): a
convex surrogate of the per-class Jaccard loss on softmax probabilities, averaged over the
classes present in the labels. Training pools the pixels of a batch (per_image=False, as there).

The validation loss must not depend on how the validation set is batched (evaluation batch size,
number of DDP ranks). So it is defined over the whole set: cross-entropy as the sum of the
(weighted) per-pixel losses over the sum of their weights, which is what `F.cross_entropy`'s
mean computes within one batch; Lovasz as the mean over images of each image's Lovasz loss.
"""
import torch
from torch import nn
from torch.nn import functional as F


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


class Loss(nn.Module):
    """`kind` is "ce", "lovasz" or "ce+lovasz" (CE + lovasz_weight * Lovasz)."""

    def __init__(self, kind="ce", class_weights=None, ignore_index=None, lovasz_weight=1.0,
                 label_smoothing=0.0):
        super().__init__()
        self.parts = kind.split("+")
        self.lovasz_weight, self.label_smoothing = lovasz_weight, label_smoothing
        self.ignore_index = -100 if ignore_index is None else ignore_index
        weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        self.register_buffer("weight", weight)

    def _cross_entropy(self, logits, labels, reduction):
        return F.cross_entropy(logits.float(), labels, weight=self.weight, ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing, reduction=reduction)

    def _lovasz(self, logits, labels):
        ignore = None if self.ignore_index < 0 else self.ignore_index
        return lovasz_softmax(logits.float().softmax(1), labels, ignore)

    def forward(self, logits, labels):
        """The training loss of a batch."""
        labels = labels.long()
        loss = self._cross_entropy(logits, labels, "mean") if "ce" in self.parts else 0.0
        if "lovasz" in self.parts:
            loss = loss + self.lovasz_weight * self._lovasz(logits, labels)
        return loss

    def sums(self, logits, labels):
        """(summed CE, summed CE weight, summed per-image Lovasz, images) of a batch, float64:
        add them over batches and ranks, then `value` gives the loss of the whole set."""
        labels = labels.long()
        out = torch.zeros(4, dtype=torch.float64, device=logits.device)
        if "ce" in self.parts:
            out[0] = self._cross_entropy(logits, labels, "sum").double()
            # Labels per class, in one bincount: indexing the weights by 512x512 labels took 0.1 s
            # of a sample FCN's 0.7 s validation (labels are 0..C-1; ignore_index may be one of them).
            counts = labels.reshape(-1).bincount(minlength=logits.shape[1]).double()
            if 0 <= self.ignore_index < len(counts):
                counts[self.ignore_index] = 0
            out[1] = counts.sum() if self.weight is None else counts @ self.weight.double()
        if "lovasz" in self.parts:
            out[2] = sum(self._lovasz(logits[i:i + 1], labels[i:i + 1]).double() for i in range(len(labels)))
        out[3] = len(labels)
        return out

    def value(self, sums):
        """The loss of a whole set from its added `sums`."""
        ce, weight, lovasz, images = sums.tolist()
        loss = ce / weight if "ce" in self.parts else 0.0
        if "lovasz" in self.parts:
            loss += self.lovasz_weight * lovasz / images
        return loss
