import copy
import urllib.error

import pytest
import torch

from hw2lib.errors import ConfigError, WeightsUnavailable
from hw2lib.models import MODELS, build_model, count_parameters, layer_table
from hw2lib.models.small_input import SmallInputConv2d, small_input_convs, tap_placement
from hw2lib.models.vgg import vgg16_layers

# The reference report's layer tables (hw2/src/models/p1_model.txt, p2_model_baseline.txt, p2_model_improved.txt).
REFERENCE_PARAMETERS = {("fcn32s", 7): 184_671_054, ("fcn8s", 7): 184_629_810, ("resnet18", 50): 11_202_162}
NARROW = {"head_width": 16}


def small(name, num_classes, **options):
    """Every model of the table at a test-friendly size (the FCN head narrowed)."""
    return build_model(name, num_classes, {**NARROW, **options})


@pytest.mark.parametrize("name, options", [(name, {}) for name in MODELS]
                         + [("unet16", {"decoder": "transposed"}), ("fcn8s", {"fcn_init": "torch"}),
                            ("segnet", {"decoder": "reference"})])
def test_every_model_builds_maps_shapes_and_round_trips_its_state(name, options):
    seg = MODELS[name].task == "segmentation"
    torch.manual_seed(0)
    model = small(name, 6, **options).eval()
    x = torch.randn(2, 3, 64, 96) if seg else torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
    assert out.shape == ((2, 6, 64, 96) if seg else (2, 6))
    torch.manual_seed(1)
    again = small(name, 6, **options).eval()
    again.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(again(x), out)


@pytest.mark.parametrize("name, classes", list(REFERENCE_PARAMETERS))
def test_parameter_counts_match_the_reference_report(name, classes):
    assert count_parameters(build_model(name, classes)) == REFERENCE_PARAMETERS[name, classes]


def reference_segnet_parameters(num_classes):
    """The reference author's SegNet (hw2/src/models/SegNet.py), counted from its definition:
    13 encoder convs (3x3, bias) + BN; 13 decoder transposed convs (3x3, stride 1, bias), each
    but the last + BN; the last maps 64 -> the classes."""
    def conv(cin, cout):
        return 9 * cin * cout + cout

    encoder = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 512)] + \
        [(512, 512)] * 5
    decoder = [(512, 512)] * 5 + [(512, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64)]
    return sum(conv(a, b) + 2 * b for a, b in encoder + decoder) + conv(64, num_classes)


def test_segnet_as_the_reference_author_built_it_and_as_the_homework_builds_it():
    assert count_parameters(build_model("segnet", 7, {"decoder": "reference"})) == reference_segnet_parameters(7)
    assert reference_segnet_parameters(7) == 29_447_047
    assert count_parameters(build_model("segnet", 7)) == 29_480_327  # one 64->64 block more, bias-free convs


def test_fcn_variants_differ_only_by_skips():
    counts = {n: count_parameters(build_model(n, 7, NARROW))
              for n in ("fcn32s", "fcn16s", "fcn8s", "fcn4s", "fcn2s")}
    # each extra skip adds a 1x1 scorer on that pool and a 2x2 upsampling
    assert counts["fcn4s"] - counts["fcn8s"] == (128 * 7 + 7) + (7 * 7 * 4 + 7) + 7 * 7 * 16 - 7 * 7 * 64
    assert len(set(counts.values())) == 5


def test_score_relu_is_fcn32s_default_and_can_be_turned_off():
    relu = [m for m in small("fcn32s", 7).score.modules() if isinstance(m, torch.nn.ReLU)]
    assert relu
    control = small("fcn32s", 7, score_relu=False)
    assert isinstance(control.score, torch.nn.Conv2d)
    assert count_parameters(control) == count_parameters(small("fcn32s", 7))
    assert isinstance(small("fcn8s", 7).score, torch.nn.Conv2d)


def test_fcn_starts_as_interpolation_unless_told_to_keep_torchs_initialisation():
    torch.manual_seed(0)
    ours = small("fcn8s", 7)
    assert (ours.skip_scores[0].weight == 0).all() and (ours.score.bias == 4.0).all()
    assert ours.upsample.weight[2, 2].eq(1).all() and ours.upsample.weight[2, 3].eq(0).all()
    reference_style = small("fcn8s", 7, fcn_init="torch")
    assert (reference_style.skip_scores[0].weight != 0).any() and (reference_style.score.bias != 4.0).all()


def test_unet16_transposed_decoder_is_ternausnets():
    model = small("unet16", 7, decoder="transposed")
    ups = [m for m in model.decoder.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(u.kernel_size, u.stride, u.padding) for u in ups] == [((4, 4), (2, 2), (1, 1))] * 5
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert model.classifier.in_channels == 32
    # TernausNet's UNet16 (num_filters=32), counted by hand: conv 3x3 + ReLU, then a 4x4
    # transposed conv, per block (center, dec5, dec4, dec3, dec2), then dec1 and the classifier.
    block = lambda cin, mid, out: cin * mid * 9 + mid + mid * out * 16 + out
    decoder = (block(512, 512, 256) + 2 * block(768, 512, 256) + block(512, 256, 64)
               + block(192, 128, 32) + 96 * 32 * 9 + 32)
    assert count_parameters(model) == 14_714_688 + decoder + (32 * 7 + 7)  # VGG16's convs first


def test_fcn_refuses_sizes_that_are_not_multiples_of_32():
    with pytest.raises(ValueError, match="multiple of 32"):
        small("fcn8s", 7)(torch.zeros(1, 3, 50, 64))


def test_unknown_model_is_a_clear_error_and_other_families_options_are_ignored():
    with pytest.raises(ConfigError, match="unknown model 'fcn3s'; known: .*fcn32s"):
        build_model("fcn3s", 7)
    assert count_parameters(build_model("segnet", 7, {"head_width": 16})) == count_parameters(build_model("segnet", 7))


def test_pretrained_backbone_loads_from_a_local_file(tmp_path):
    from torchvision.models import vgg16

    reference = vgg16()
    torch.save(reference.state_dict(), tmp_path / "vgg16.pth")
    model = build_model("fcn8s", 7, NARROW, weights_path=tmp_path / "vgg16.pth")
    torch.testing.assert_close(model.features[0].weight, reference.features[0].weight)
    with pytest.raises(WeightsUnavailable, match="missing.pth: no such weights file"):
        build_model("fcn8s", 7, NARROW, weights_path=tmp_path / "missing.pth")


@pytest.mark.parametrize("batch_norm", [False, True])
def test_our_vgg16_layers_are_torchvisions_index_for_index(batch_norm):
    # Built here so that training an FCN need not import torchvision; its weights must still load.
    from torchvision.models.vgg import cfgs, make_layers

    assert repr(vgg16_layers(batch_norm)) == repr(make_layers(cfgs["D"], batch_norm=batch_norm))
    assert all(getattr(MODELS[name].weights, "url", "").startswith("https://") for name in MODELS)


def test_deeplab_backbone_loads_everything_but_fc_and_refuses_a_misfit(tmp_path):
    from torchvision.models import resnet101, resnet50

    reference = resnet101()
    torch.save(reference.state_dict(), tmp_path / "r101.pth")
    model = build_model("deeplabv3_resnet101", 6, weights_path=tmp_path / "r101.pth")
    torch.testing.assert_close(model.net.backbone.layer4[2].conv3.weight, reference.layer4[2].conv3.weight)
    torch.save(resnet50().state_dict(), tmp_path / "r50.pth")
    with pytest.raises((WeightsUnavailable, RuntimeError)):
        build_model("deeplabv3_resnet101", 6, weights_path=tmp_path / "r50.pth")


def test_weights_files_load_without_running_pickled_code(tmp_path):
    import os

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))
    torch.save({"features.0.weight": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(WeightsUnavailable, match="evil.pth: cannot read these weights"):
        build_model("fcn8s", 7, NARROW, weights_path=tmp_path / "evil.pth")
    assert not (tmp_path / "pwned").exists()


def test_offline_pretrained_download_says_which_file_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailable, match=r"vgg16-397923af.pth.*\n.*" + str(tmp_path)):
        build_model("fcn32s", 7, NARROW, pretrained=True)


def test_resnet18_with_a_50_way_head_has_the_reports_parameter_count():
    assert count_parameters(build_model("resnet18", 50)) == 11_202_162


@pytest.mark.parametrize("name", ["resnet34", "vgg16"])
def test_other_backbones_output_one_score_per_class(name):
    with torch.no_grad():
        assert build_model(name, 50).eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 50)


@pytest.mark.parametrize("name, classes", list(REFERENCE_PARAMETERS))
def test_the_layer_tables_at_224_list_the_reference_reports_totals(name, classes):
    table = layer_table(name, classes, side=224)
    assert f"Total params: {REFERENCE_PARAMETERS[name, classes]:,}" in table
    if name == "resnet18":
        assert "[1, 512, 7, 7]" in table and "Linear: 1-10" in table  # layer4's map, then the 50-way head


def test_resnet18_at_32px_computes_its_small_input_convolutions_as_matrix_products(monkeypatch):
    torch.manual_seed(0)
    resnet = build_model("resnet18", 50)
    swapped = build_model("resnet18", 50)
    swapped.load_state_dict(resnet.state_dict())
    small_input_convs(swapped)
    assert type(swapped.layer4[1].conv1) is SmallInputConv2d
    assert type(swapped.layer4[0].downsample[0]) is torch.nn.Conv2d
    assert swapped.state_dict().keys() == resnet.state_dict().keys()
    x = torch.randn(8, 3, 32, 32)  # layer3 sees 2x2 maps, layer4 1x1 ones (its first convolution 2x2)
    for model in (resnet, swapped):  # eval: batch norm over 8 values per channel would amplify rounding
        model.eval()(x).square().sum().backward()
    grads = {name: p.grad for name, p in resnet.named_parameters()}
    for name, p in swapped.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], rtol=1e-4, atol=1e-5)
    for conv, used in ((swapped.layer4[1].conv1, (1, 2)), (swapped.layer4[0].conv1, (1, 3))):
        unused = conv.weight.grad.clone()
        unused[:, :, used[0]:used[1], used[0]:used[1]] = 0
        assert unused.abs().max() == 0 and conv.weight.grad.abs().max() > 0
    torch.testing.assert_close(swapped(x), resnet(x), rtol=1e-4, atol=1e-5)
    # ... and the swapped model runs no 3x3 kernel over the maps smaller than it (2x2, 1x1).
    seen = []
    full_kernel = torch.nn.Conv2d._conv_forward
    monkeypatch.setattr(torch.nn.Conv2d, "_conv_forward", lambda self, x, w, b: seen.append(
        (x.shape[-1], w.shape[-1], self.stride[0])) or full_kernel(self, x, w, b))
    swapped(x)
    assert {(1, 3, 1), (2, 3, 2), (2, 3, 1)}.isdisjoint(seen) and (4, 3, 2) in seen  # layer3's first stays
    resnet(x)
    assert {(1, 3, 1), (2, 3, 2), (2, 3, 1)} <= set(seen)


@pytest.mark.parametrize("kernel, padding, stride, groups, side, batch, small", [
    (3, 1, 1, 1, 1, 1, True), (3, 1, 1, 4, 1, 16, True), (3, 1, 2, 4, 2, 16, True), (3, 1, 2, 1, 1, 16, True),
    ((3, 5), (1, 2), 1, 1, 1, 16, True), ((3, 1), (1, 0), 1, 2, 1, 16, True), (3, 1, 1, 1, 2, 16, True),
    (7, 3, 1, 1, 2, 16, True), (3, 1, 3, 1, 2, 16, True),
    (3, 1, 1, 1, 2, 7, False), (3, 1, 2, 1, 2, 3, False), (3, 0, 1, 1, 3, 16, False), (3, 1, 1, 4, 3, 16, False),
    (3, 1, 1, 1, (1, 2), 16, True), ((3, 5), (1, 2), (1, 2), 2, (2, 1), 16, True),
    (3, 1, 1, 1, 4, 16, False), (3, 1, 2, 2, 4, 16, False)])
def test_a_small_input_convolution_matches_nn_conv2d_and_only_then_skips_it(monkeypatch, kernel, padding, stride,
                                                                           groups, side, batch, small):
    """Grouped (ResNeXt) or not, square or not; where the matrix would cost more multiplications
    than the convolution (a 2x2 map and a small batch, a map as large as the kernel), the
    ordinary path."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 16, kernel, stride=stride, padding=padding, groups=groups)
    swapped = small_input_convs(copy.deepcopy(conv))
    assert type(swapped) is SmallInputConv2d
    x = torch.randn(batch, 8, *((side, side) if isinstance(side, int) else side), requires_grad=True)
    ordinary = []
    full_kernel = torch.nn.Conv2d._conv_forward
    monkeypatch.setattr(torch.nn.Conv2d, "_conv_forward",
                        lambda self, *a: ordinary.append(self) or full_kernel(self, *a))
    y_swapped = swapped(x)
    assert (swapped in ordinary) is not small
    y = conv(x)
    torch.testing.assert_close(y_swapped, y)
    grad = torch.randn_like(y)
    expected = torch.autograd.grad(y, (x, conv.weight, conv.bias), grad)
    for got, want in zip(torch.autograd.grad(y_swapped, (x, swapped.weight, swapped.bias), grad), expected):
        torch.testing.assert_close(got, want)
    assert y_swapped.is_contiguous() and y.is_contiguous()  # an NCHW model stays NCHW
    x_cl = x.detach().contiguous(memory_format=torch.channels_last)
    y_cl = swapped(x_cl)
    torch.testing.assert_close(y_cl, conv(x_cl))
    assert y_cl.is_contiguous(memory_format=torch.channels_last) == conv(x_cl).is_contiguous(
        memory_format=torch.channels_last)

    with torch.autocast("cpu", torch.bfloat16):  # the bias keeps the product's dtype, as nn.Conv2d's does
        assert swapped(x).dtype == conv(x).dtype == torch.bfloat16


def test_a_small_input_convolution_refuses_a_map_its_kernel_cannot_cover_as_nn_conv2d_does():
    conv = small_input_convs(torch.nn.Conv2d(4, 4, 3, padding=0))
    for side in (1, 2):
        with pytest.raises(RuntimeError, match="Kernel size can't be greater than actual input size"):
            conv(torch.randn(16, 4, side, side))


def test_a_small_input_model_first_run_under_inference_mode_still_trains():
    conv = small_input_convs(torch.nn.Conv2d(4, 4, 3, padding=1))
    x = torch.randn(16, 4, 1, 1)
    tap_placement.cache_clear()  # built under inference mode below, then reused for training
    with torch.inference_mode():
        conv(x)
    conv(x).sum().backward()
    assert conv.weight.grad[:, :, 1, 1].abs().max() > 0
