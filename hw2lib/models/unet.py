"""UNet16: a UNet whose encoder is VGG16's convolutions (TernausNet, Iglovikov & Shvets 2018).

Each decoder step doubles the resolution (bilinear), concatenates the encoder stage of that
size and applies two 3x3 conv + BN + ReLU. Inputs must be multiples of 32 pixels.
"""
import torch
from torch import nn
from torch.nn import functional as F

from .vgg import POOL_CHANNELS, conv_bn_relu, split_at_pools, vgg16_features


class DecoderBlock(nn.Module):
    def __init__(self, cin, cskip, cout):
        super().__init__()
        self.convs = nn.Sequential(conv_bn_relu(cin + cskip, cout), conv_bn_relu(cout, cout))

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.convs(torch.cat([x, skip], dim=1))


class UNet16(nn.Module):
    def __init__(self, num_classes, pretrained=False, weights_path=None):
        super().__init__()
        # Encoder stage k = the convs between pool k-1 and pool k (resolution / 2^(k-1)).
        self.stages = split_at_pools(vgg16_features(pretrained, weights_path))
        self.center = nn.Sequential(nn.MaxPool2d(2), conv_bn_relu(512, 512))
        widths = [512, 256, 128, 64, 32]
        cin = 512
        self.decoder = nn.ModuleList()
        for k, cout in zip(range(5, 0, -1), widths):
            self.decoder.append(DecoderBlock(cin, POOL_CHANNELS[k], cout))
            cin = cout
        self.classifier = nn.Conv2d(cin, num_classes, 1)

    def forward(self, x):
        skips = []
        for i, stage in enumerate(self.stages):
            x = stage(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        x = self.center(x)
        for block, skip in zip(self.decoder, reversed(skips)):
            x = block(x, skip)
        return self.classifier(x)
