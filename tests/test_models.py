import urllib.error

import pytest
import torch

from hw2lib.models import MODELS, build_model, count_parameters, model_task
from hw2lib.models.weights import WeightsUnavailable

SEGMENTATION = sorted(n for n in MODELS if model_task(n) == "segmentation")


@pytest.mark.parametrize("name", SEGMENTATION)
def test_segmentation_model_maps_image_to_per_pixel_logits(name):
    head = {"head_width": 16} if name.startswith("fcn") else {}
    model = build_model(name, num_classes=6, **head).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, 6, 64, 96)


@pytest.mark.parametrize("name, params", [("fcn32s", 184_671_054), ("fcn8s", 184_629_810)])
def test_fcn_parameter_counts_match_the_seed_report(name, params):
    assert count_parameters(build_model(name, num_classes=7)) == params


def test_fcn_variants_differ_only_by_skips():
    counts = {n: count_parameters(build_model(n, 7, head_width=16))
              for n in ("fcn32s", "fcn16s", "fcn8s", "fcn4s", "fcn2s")}
    # each extra skip adds a 1x1 scorer on that pool and a 2x2 upsampling
    assert counts["fcn4s"] - counts["fcn8s"] == (128 * 7 + 7) + (7 * 7 * 4 + 7) + 7 * 7 * 16 - 7 * 7 * 64
    assert len(set(counts.values())) == 5


def test_fcn_refuses_sizes_that_are_not_multiples_of_32():
    with pytest.raises(ValueError, match="multiple of 32"):
        build_model("fcn8s", 7, head_width=8)(torch.zeros(1, 3, 50, 64))


def test_unknown_model_and_misplaced_head_width_are_clear_errors():
    with pytest.raises(ValueError, match="unknown model 'fcn3s'; known: .*fcn32s"):
        build_model("fcn3s", 7)
    with pytest.raises(ValueError, match="'unet16' has no head_width"):
        build_model("unet16", 7, head_width=16)


def test_pretrained_backbone_loads_from_a_local_file(tmp_path):
    from torchvision.models import vgg16

    reference = vgg16()
    torch.save(reference.state_dict(), tmp_path / "vgg16.pth")
    model = build_model("fcn8s", 7, head_width=8, weights_path=tmp_path / "vgg16.pth")
    torch.testing.assert_close(model.features[0].weight, reference.features[0].weight)
    with pytest.raises(WeightsUnavailable, match="missing.pth: no such weights file"):
        build_model("fcn8s", 7, head_width=8, weights_path=tmp_path / "missing.pth")


def test_offline_pretrained_download_says_which_file_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailable, match=r"vgg16-397923af.pth.*\n.*" + str(tmp_path)):
        build_model("fcn32s", 7, head_width=8, pretrained=True)
