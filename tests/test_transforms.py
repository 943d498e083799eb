import torch

from hw2lib.engine.transforms import Augmentation, to_input


def test_channels_last_survives_augmentation():
    images = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    x = to_input(images, torch.device("cpu"), channels_last=True)
    y = torch.zeros(4, 64, 64, dtype=torch.long)
    out, _ = Augmentation(["flip", "rot90", "scale_crop"], 0, torch.device("cpu"))(x, y)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_masks_move_with_their_images_and_each_sample_gets_its_own_rotation():
    # Each mask is its image's first channel: after augmentation they must still agree.
    x = torch.rand(16, 3, 8, 8)
    y = (x[:, 0] * 1000).long()
    out, labels = Augmentation(["flip", "rot90"], 3, torch.device("cpu"))(x, y)
    assert torch.equal((out[:, 0] * 1000).long(), labels)
    turned = {k for i in range(16) for k in range(4) if torch.equal(out[i, 0], x[i, 0].rot90(k, (-2, -1)))
              or torch.equal(out[i, 0], x[i, 0].flip(-1).rot90(k, (-2, -1)))}
    assert len(turned) > 1


def test_an_augmentation_resumed_from_its_state_draws_what_an_unbroken_one_draws():
    x, y = torch.rand(4, 3, 16, 16), torch.zeros(4, 16, 16, dtype=torch.long)
    names = ["flip", "rot90", "scale_crop"]
    unbroken = Augmentation(names, 7, torch.device("cpu"))
    unbroken(x, y)
    expected = unbroken(x, y)[0]
    first = Augmentation(names, 7, torch.device("cpu"))
    first(x, y)
    resumed = Augmentation(names, 99, torch.device("cpu"))
    resumed.load_state_dict(first.state_dict())
    assert torch.equal(resumed(x, y)[0], expected)
