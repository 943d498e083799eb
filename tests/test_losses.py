import torch
from torch.nn import functional as F

from hw2lib.losses import SegLoss, lovasz_softmax


def test_lovasz_on_hard_predictions_equals_one_minus_iou():
    torch.manual_seed(0)
    labels = torch.randint(0, 4, (2, 16, 16))
    preds = torch.where(torch.rand(labels.shape) < 0.7, labels, torch.randint(0, 4, labels.shape))
    probs = F.one_hot(preds, 4).permute(0, 3, 1, 2).float()
    expected = []
    for c in range(4):
        if (labels == c).any():
            inter = ((labels == c) & (preds == c)).sum()
            union = ((labels == c) | (preds == c)).sum()
            expected.append(1 - inter / union)
    torch.testing.assert_close(lovasz_softmax(probs, labels), torch.stack(expected).float().mean())


def test_lovasz_is_zero_for_a_perfect_prediction_and_has_gradients():
    labels = torch.randint(0, 3, (1, 8, 8))
    perfect = F.one_hot(labels, 3).permute(0, 3, 1, 2).float()
    assert lovasz_softmax(perfect, labels).item() == 0
    logits = torch.randn(1, 3, 8, 8, requires_grad=True)
    SegLoss("lovasz")(logits, labels).backward()
    assert logits.grad.abs().sum() > 0


def test_ce_weights_ignore_and_sum():
    logits, labels = torch.randn(2, 5, 8, 8), torch.randint(0, 5, (2, 8, 8))
    w = [1.0, 2.0, 0.5, 1.0, 3.0]
    ce = F.cross_entropy(logits, labels, weight=torch.tensor(w), ignore_index=4)
    torch.testing.assert_close(SegLoss("ce", class_weights=w, ignore_index=4)(logits, labels), ce)
    both = SegLoss("ce+lovasz", lovasz_weight=0.5)(logits, labels)
    torch.testing.assert_close(both, F.cross_entropy(logits, labels)
                               + 0.5 * lovasz_softmax(logits.softmax(1), labels))
