"""UNet16: a UNet whose encoder is VGG16's convolutions (TernausNet, Iglovikov & Shvets 2018),
with one of two decoders (the settings key `decoder`):

    bilinear    (default) each step doubles the resolution (bilinear), concatenates the encoder
                stage of that size and applies two 3x3 conv + BN + ReLU;
    transposed  TernausNet's own decoder (`DecoderBlockV2`, is_deconv=True, 32 filters), as the
                reference author trained it: a 3x3 conv + ReLU, then a 4x4 transposed convolution of
                stride 2 + ReLU per step; no batch norm.

Inputs must be multiples of 32 pixels.
"""
import torch
from torch import nn
from torch.nn import functional as F

from .vgg import POOL_CHANNELS, conv_bn_relu, split_at_pools, vgg16_features


def conv_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True))


class BilinearBlock(nn.Module):
    def __init__(self, cin, cskip, cout):
        super().__init__()
        self.convs = nn.Sequential(conv_bn_relu(cin + cskip, cout), conv_bn_relu(cout, cout))

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.convs(torch.cat([x, skip], dim=1))


class BilinearDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.center = nn.Sequential(nn.MaxPool2d(2), conv_bn_relu(512, 512))
        widths, cin = [512, 256, 128, 64, 32], 512
        self.blocks = nn.ModuleList()
        for k, cout in zip(range(5, 0, -1), widths):
            self.blocks.append(BilinearBlock(cin, POOL_CHANNELS[k], cout))
            cin = cout
        self.out_channels = cin

    def forward(self, x, stages):
        """`stages`: the encoder's outputs, shallowest first; `x` is the deepest."""
        x = self.center(x)
        for block, skip in zip(self.blocks, reversed(stages)):
            x = block(x, skip)
        return x


def up_block(cin, middle, cout):
    """TernausNet's DecoderBlockV2: 3x3 conv + ReLU, then x2 by a 4x4 transposed conv + ReLU."""
    return nn.Sequential(conv_relu(cin, middle), nn.ConvTranspose2d(middle, cout, 4, stride=2, padding=1),
                         nn.ReLU(inplace=True))


class TransposedDecoder(nn.Module):
    def __init__(self, filters=32):
        super().__init__()
        f = filters
        self.center = up_block(512, 16 * f, 8 * f)
        self.blocks = nn.ModuleList([up_block(512 + 8 * f, 16 * f, 8 * f), up_block(512 + 8 * f, 16 * f, 8 * f),
                                     up_block(256 + 8 * f, 8 * f, 2 * f), up_block(128 + 2 * f, 4 * f, f)])
        self.last = conv_relu(64 + f, f)
        self.out_channels = f

    def forward(self, x, stages):
        x = self.center(F.max_pool2d(x, 2))
        for block, skip in zip(self.blocks, reversed(stages[1:])):
            x = block(torch.cat([x, skip], dim=1))
        return self.last(torch.cat([x, stages[0]], dim=1))


DECODERS = {"bilinear": BilinearDecoder, "transposed": TransposedDecoder}


class UNet16(nn.Module):
    def __init__(self, num_classes, decoder="bilinear", pretrained=False, weights_path=None):
        super().__init__()
        # Encoder stage k = the convs between pool k-1 and pool k (resolution / 2^(k-1)).
        self.stages = split_at_pools(vgg16_features(pretrained, weights_path))
        self.decoder = DECODERS[decoder]()
        self.classifier = nn.Conv2d(self.decoder.out_channels, num_classes, 1)

    def forward(self, x):
        outputs = []
        for i, stage in enumerate(self.stages):
            x = stage(x if i == 0 else F.max_pool2d(x, 2))
            outputs.append(x)
        return self.classifier(self.decoder(x, outputs))
