"""On a 1x1 map, a 3x3 convolution with padding 1 only ever multiplies its kernel's centre: the
other taps see the zero padding and get zero gradients. ResNet18 at 32 px has such maps in
layer4, where oneDNN's backward of the 3x3 convolution costs about 13x its forward on an AVX2
CPU. Computed as the 1x1 convolution it is, a training step there takes 0.61x the time
(`bench/centre_tap.py`). The engine swaps the convolutions of the model it trains or evaluates; the
parameters, the state dict and the printed network stay those of the model, and the numbers
are the same up to float rounding. A map larger than 1x1 takes the ordinary path.
"""
import torch.nn.functional as F
from torch import nn


class CentreTapConv2d(nn.Conv2d):
    """nn.Conv2d that computes only its centre tap on a 1x1 map (see the module's docstring)."""

    def forward(self, x):
        if x.shape[-2:] != (1, 1):
            return super().forward(x)
        c = self.kernel_size[0] // 2
        return F.conv2d(x, self.weight[:, :, c:c + 1, c:c + 1], self.bias, groups=self.groups)


def _only_centre_on_1x1(conv):
    """A square odd kernel, padded by half its size with zeros, stride 1, no dilation."""
    k = conv.kernel_size[0]
    return (k > 1 and k % 2 == 1 and conv.kernel_size == (k, k) and conv.padding == (k // 2, k // 2)
            and conv.stride == (1, 1) and conv.dilation == (1, 1) and conv.padding_mode == "zeros")


def centre_tap_convs(model):
    """`model` with every convolution that would only use its centre tap on a 1x1 map made a
    `CentreTapConv2d`, in place (the same parameters)."""
    for module in model.modules():
        if type(module) is nn.Conv2d and _only_centre_on_1x1(module):
            module.__class__ = CentreTapConv2d
    return model
