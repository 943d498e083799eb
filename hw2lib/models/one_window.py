"""A convolution with a single output pixel whose window covers its whole input is a matrix
product of the input with the kernel taps over it; every other tap sees zero padding.

ResNet18 at 32 px has such convolutions in layer4: its 3x3 convolutions on 1x1 maps (the centre
tap only) and its first, stride-2 3x3 convolution from 2x2 to 1x1 (four taps). oneDNN's
backward of these costs up to 13x their forward on an AVX2 CPU; as matrix products a training
step takes about 0.5x the time there (`bench/one_window.py`). The engine swaps the convolutions of
the model it trains or evaluates; the parameters, the state dict and the printed network stay
those of the model, and the numbers are the same up to float rounding (the taps never used get
zero gradients, as before). Any other input takes the ordinary path.
"""
import torch
from torch import nn


class OneWindowConv2d(nn.Conv2d):
    """nn.Conv2d computed as a matrix product when its one output window covers the input."""

    def forward(self, x):
        h, w = x.shape[-2:]
        (kh, kw), (ph, pw), (sh, sw) = self.kernel_size, self.padding, self.stride
        one_window = (h + 2 * ph - kh) // sh == 0 and (w + 2 * pw - kw) // sw == 0
        if x.dim() != 4 or not (one_window and ph + h <= kh and pw + w <= kw):
            return super().forward(x)
        g = self.groups
        taps = self.weight[:, :, ph:ph + h, pw:pw + w].reshape(g, self.out_channels // g, -1)
        y = torch.einsum("ngk,gok->ngo", x.reshape(len(x), g, -1), taps).reshape(len(x), -1)
        y = y if self.bias is None else y + self.bias.to(y.dtype)  # under autocast, stay in its dtype
        return y[:, :, None, None]


def _swappable(conv):
    """Zero padding given in pixels, no dilation: then the taps over the input are a slice. A 1x1
    kernel is a matrix product already, left to nn.Conv2d."""
    return (isinstance(conv.padding, tuple) and conv.dilation == (1, 1) and conv.padding_mode == "zeros"
            and conv.kernel_size != (1, 1))


def one_window_convs(model):
    """`model` with its convolutions made `OneWindowConv2d`s, in place (the same parameters)."""
    for module in model.modules():
        if type(module) is nn.Conv2d and _swappable(module):
            module.__class__ = OneWindowConv2d
    return model
