"""A convolution over an input smaller than its kernel, computed as one matrix product.

When a map has fewer positions than the kernel has taps, every output pixel sees most of the
input and most multiplications are with the zero padding: ResNet18 at 32 px has such
convolutions in layer3 (3x3 on 2x2 maps) and layer4 (3x3 on 1x1 maps, and its first, stride 2,
from 2x2 to 1x1), and oneDNN's backward of them costs up to 13x their forward on an AVX2 CPU.
Here the taps are spread into a dense matrix, input (position, channel) by output (position,
channel), each entry the tap that joins the two positions or zero, and the input, flattened
channels-last, is multiplied by it. That is taken only where building the matrix and multiplying
by it cost fewer multiplications than the convolution: input positions x (taps that meet the
input + batch) < batch x kernel taps, so 1x1 maps at any batch, and for a 3x3 kernel 2x2 maps
from a batch of 8 (stride 2: 4). A ResNet18 training step at 32 px (batch 128) takes 0.44x the
time of nn.Conv2d held to AVX2 (`bench/small_input.py`). The engine swaps the convolutions of the
model it trains or evaluates; the parameters, the state dict and the printed network stay the
model's, and the numbers are the same up to float rounding (taps that never meet the input get
zero gradients, as before). Any other input takes the ordinary path.
"""
import functools
import itertools

import torch
from torch import nn


@functools.lru_cache(maxsize=64)
def tap_placement(size, kernel, stride, padding, device):
    """For a zero-padded convolution of an (h, w) map: the bounding box (row and column slices) of
    the kernel taps that meet the input, the output size, and a 0/1 tensor (rows, columns, h * w,
    oh * ow) on `device` saying which tap joins each input position to each output position. Made
    outside inference mode, so that a model first run under it can still train."""
    (h, w), (kh, kw), (sh, sw), (ph, pw) = size, kernel, stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    with torch.inference_mode(False):
        joins = torch.zeros(kh, kw, h * w, oh * ow)
        for a, b, i, j in itertools.product(range(h), range(w), range(oh), range(ow)):
            u, v = a - i * sh + ph, b - j * sw + pw
            if 0 <= u < kh and 0 <= v < kw:
                joins[u, v, a * w + b, i * ow + j] = 1
        rows = slice(max(0, ph - (oh - 1) * sh), min(kh, h + ph))
        cols = slice(max(0, pw - (ow - 1) * sw), min(kw, w + pw))
        return rows, cols, (oh, ow), joins[rows, cols].to(device)


class SmallInputConv2d(nn.Conv2d):
    """nn.Conv2d computed as a matrix product where its input is small enough (see above)."""

    def forward(self, x):
        (kh, kw), (ph, pw) = self.kernel_size, self.padding
        # Not a small map (the cost rule below implies it; checked first so that the placement is
        # never built for a large one), or no output at all (nn.Conv2d says why).
        if x.dim() != 4 or x.shape[-2] * x.shape[-1] >= kh * kw or x.shape[-2] + 2 * ph < kh \
                or x.shape[-1] + 2 * pw < kw:
            return super().forward(x)
        n, _, h, w = x.shape
        rows, cols, (oh, ow), joins = tap_placement((h, w), self.kernel_size, self.stride, self.padding, x.device)
        if h * w * (joins.shape[0] * joins.shape[1] + n) >= n * kh * kw:  # the matrix would cost more
            return super().forward(x)
        g = self.groups
        taps = self.weight[:, :, rows, cols]
        taps = taps.reshape(g, self.out_channels // g, *taps.shape[1:])
        dense = torch.einsum("gocuv,uvab->gacbo", taps, joins.to(taps.dtype))
        y = torch.einsum("nagc,gacbo->nbgo", x.permute(0, 2, 3, 1).reshape(n, h * w, g, -1), dense)
        # (n, oh, ow, out) viewed as (n, out, oh, ow): channels_last strides, kept for a channels_last
        # input; an NCHW model gets NCHW back, as from nn.Conv2d.
        y = y.reshape(n, oh, ow, self.out_channels).permute(0, 3, 1, 2)
        if not x.is_contiguous(memory_format=torch.channels_last):
            y = y.contiguous()
        return y if self.bias is None else y + self.bias.to(y.dtype)[:, None, None]  # under autocast: its dtype


def _swappable(conv):
    """Zero padding given in pixels and smaller than the kernel (every window meets the input), no
    dilation. A 1x1 kernel is a matrix product already, left to nn.Conv2d."""
    return (isinstance(conv.padding, tuple) and conv.dilation == (1, 1) and conv.padding_mode == "zeros"
            and conv.kernel_size != (1, 1) and all(p < k for p, k in zip(conv.padding, conv.kernel_size)))


def small_input_convs(model):
    """`model` with its convolutions made `SmallInputConv2d`s, in place (the same parameters)."""
    for module in model.modules():
        if type(module) is nn.Conv2d and _swappable(module):
            module.__class__ = SmallInputConv2d
    return model
