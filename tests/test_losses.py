import pytest
import torch
from torch.nn import functional as F

from conftest import tiny
from hw2lib.engine.inference import Predictor, evaluate_split
from hw2lib.losses import Loss, lovasz_softmax
from hw2lib.models import build_model
from hw2lib.tasks import make_task


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
    Loss("lovasz")(logits, labels).backward()
    assert logits.grad.abs().sum() > 0


def test_ce_weights_ignore_and_sum():
    logits, labels = torch.randn(2, 5, 8, 8), torch.randint(0, 5, (2, 8, 8))
    w = [1.0, 2.0, 0.5, 1.0, 3.0]
    ce = F.cross_entropy(logits, labels, weight=torch.tensor(w), ignore_index=4)
    torch.testing.assert_close(Loss("ce", class_weights=w, ignore_index=4)(logits, labels), ce)
    both = Loss("ce+lovasz", lovasz_weight=0.5)(logits, labels)
    torch.testing.assert_close(both, F.cross_entropy(logits, labels) + 0.5 * lovasz_softmax(logits.softmax(1), labels))


@pytest.mark.parametrize("weights", [None, [1.0, 3.0, 0.5, 0.1]])
@pytest.mark.parametrize("ignore", [None, 2])
def test_the_validation_loss_from_sums_is_the_weighted_cross_entropy_that_ignores_the_ignored_class(weights, ignore):
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 4, 8, 8), torch.randint(0, 4, (6, 8, 8))
    loss = Loss("ce", class_weights=weights, ignore_index=ignore)
    expected = F.cross_entropy(logits, labels, weight=None if weights is None else torch.tensor(weights),
                               ignore_index=-100 if ignore is None else ignore)
    assert loss.value(loss.sums(logits[:2], labels[:2]) + loss.sums(logits[2:], labels[2:])) == pytest.approx(
        expected.item(), rel=1e-6)


@pytest.mark.parametrize("kind", ["ce", "lovasz", "ce+lovasz"])
def test_the_validation_loss_does_not_depend_on_the_batching(kind):
    torch.manual_seed(0)
    logits, labels = torch.randn(16, 4, 8, 8), torch.randint(0, 4, (16, 8, 8))
    loss = Loss(kind, class_weights=[1.0, 3.0, 0.5, 0.1], lovasz_weight=0.7, label_smoothing=0.1)
    values = []
    for batch in (1, 4, 16):
        sums = sum(loss.sums(logits[i:i + batch], labels[i:i + batch]) for i in range(0, 16, batch))
        values.append(loss.value(sums))
    assert values == pytest.approx([values[0]] * 3, rel=1e-6)  # float32 sums
    # Its definition: weighted CE over all pixels / their weights; Lovasz averaged over images.
    ce = F.cross_entropy(logits, labels, weight=loss.weight, label_smoothing=0.1).item()
    lovasz = sum(lovasz_softmax(logits[i:i + 1].softmax(1), labels[i:i + 1]).item() for i in range(16)) / 16
    expected = {"ce": ce, "lovasz": 0.7 * lovasz, "ce+lovasz": ce + 0.7 * lovasz}[kind]
    assert values[0] == pytest.approx(expected, rel=1e-6)


def test_a_split_evaluated_in_batches_of_2_and_32_has_the_same_val_loss(tiny_seg_root, tmp_path):
    cfg = tiny(tiny_seg_root, tmp_path, class_weights=[1.0, 0.3, 2.0, 1.5, 1.0, 0.1], loss="ce+lovasz")
    torch.manual_seed(0)
    model = build_model("fcn8s", 6, cfg.model.values()).eval()
    task = make_task(cfg)
    val = task.load_validation()
    losses = [evaluate_split(Predictor(model, cfg.replace(batch_size=b), torch.device("cpu"), "fp32"),
                             val, task.loss()).loss for b in (1, 16)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
