"""The FCN family (Long et al. 2015) on VGG16, parameterised by its skip connections.

`skips` names the VGG pooling stages whose score maps are fused, deepest first:

    fcn32s: ()            one x32 upsampling of pool5's scores
    fcn16s: (4,)          pool5 x2 + pool4, then x16
    fcn8s:  (4, 3)        ... + pool3, then x8
    fcn4s:  (4, 3, 2)     ... + pool2, then x4
    fcn2s:  (4, 3, 2, 1)  ... + pool1, then x2

The head is two 3x3 convolutions of `head_width` channels (4096 in the paper and the reference
report) with ReLU and Dropout2d(0.1). fcn32s reproduces the reference report's network exactly,
including its ReLU after the classifier (`score_relu`, on by default for fcn32s only: the ReLU
starves negative scores, so comparing fcn32s with fcn8s also needs an fcn32s with
`score_relu: false`). Every upsampling is a learnt ConvTranspose2d with kernel = stride. Inputs
must be multiples of 32 pixels.

`fcn_init` says how the new layers start: "interpolation" (the default; see below) or "torch",
PyTorch's default initialisation of every layer, as the reference author's code leaves them.
"""
import contextlib

import torch
from torch import nn

from .vgg import POOL_CHANNELS, POOL_INDEX, vgg16_features

SCORE_OFFSET = 4.0
SKIPS = {"fcn32s": (), "fcn16s": (4,), "fcn8s": (4, 3), "fcn4s": (4, 3, 2), "fcn2s": (4, 3, 2, 1)}


def nearest_upsampling_init(up):
    """Make a ConvTranspose2d with kernel == stride copy each class score into its block."""
    with torch.no_grad():
        up.weight.zero_(), up.bias.zero_()
        channels = torch.arange(up.in_channels)
        up.weight[channels, channels] = 1.0


class FCN(nn.Module):
    def __init__(self, num_classes, *, skips=(), head_width=4096, score_relu=None, fcn_init="interpolation",
                 pretrained=False, weights_path=None):
        super().__init__()
        self.skips = tuple(skips)
        score_relu = not self.skips if score_relu is None else score_relu
        self.features = vgg16_features(pretrained, weights_path)
        self.head = nn.Sequential(
            nn.Conv2d(512, head_width, 3, padding=1), nn.ReLU(inplace=True), nn.Dropout2d(0.1),
            nn.Conv2d(head_width, head_width, 3, padding=1), nn.ReLU(inplace=True), nn.Dropout2d(0.1),
        )
        score = nn.Conv2d(head_width, num_classes, 1)
        score.runs_in_fp32 = True  # see forward; checkpoints keep its weights in fp32 too
        self.score = nn.Sequential(score, nn.ReLU(inplace=True)) if score_relu else score
        # One 1x1 scorer per skipped pool, and one x2 upsampling into each skip.
        self.skip_scores = nn.ModuleList(nn.Conv2d(POOL_CHANNELS[k], num_classes, 1) for k in self.skips)
        self.skip_ups = nn.ModuleList(nn.ConvTranspose2d(num_classes, num_classes, 2, stride=2)
                                      for _ in self.skips)
        final = 2 ** (self.skips[-1] if self.skips else 5)
        self.upsample = nn.ConvTranspose2d(num_classes, num_classes, final, stride=final)
        if fcn_init == "interpolation":
            self.start_as_interpolation(score)

    def start_as_interpolation(self, score):
        """Start as the paper does: upsamplings as fixed-looking interpolation (here nearest, since
        kernel = stride) and zero skip scorers, so every variant begins as a plain FCN32s instead
        of painting random checkerboards."""
        for up in [*self.skip_ups, self.upsample]:
            nearest_upsampling_init(up)
        for scorer in self.skip_scores:
            nn.init.zeros_(scorer.weight), nn.init.zeros_(scorer.bias)
        # Class scores start well inside the ReLU's active range. With fcn32s's ReLU on its scores,
        # a class pushed below zero at every pixel gets no gradient and is never predicted again
        # (from scratch, the model collapses onto one class). An offset shared by all classes
        # changes nothing for the softmax, so the variants without the ReLU are unaffected.
        nn.init.constant_(score.bias, SCORE_OFFSET)

    def forward(self, x):
        h, w = x.shape[-2:]
        if h % 32 or w % 32:
            raise ValueError(f"FCN input must be a multiple of 32 pixels, got {w}x{h}")
        pools = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in POOL_INDEX.values():
                pools[len(pools) + 1] = x
        # The class scores in fp32 even under autocast: on CPUs with AMX, oneDNN's bf16 backward of
        # a 1x1 convolution with 4096 input and fewer than 16 output channels corrupts the heap
        # (torch 2.14.1), and a 4096 -> C scorer costs nothing measurable in fp32 anywhere.
        x = self.head(x)
        fp32 = torch.amp.is_autocast_available(x.device.type)  # not on the meta device
        with torch.autocast(x.device.type, enabled=False) if fp32 else contextlib.nullcontext():
            y = self.score(x.float())
        for k, up, scorer in zip(self.skips, self.skip_ups, self.skip_scores):
            y = up(y) + scorer(pools[k])
        return self.upsample(y)
