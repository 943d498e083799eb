"""SegNet (Badrinarayanan et al. 2017): VGG16-BN encoder; the decoder max-unpools with the
encoder's pooling indices, then convolves with conv + BN + ReLU layers. Two decoders (the config
key `decoder`):

    mirrored    (default) each decoder stage mirrors its encoder stage's convolutions, the last
                one narrowing to the width that entered it; bias-free convolutions (BN follows)
    reference   as the reference report's author built it (`hw2/src/models/SegNet.py`): the
                same, but the first stage's decoder ends 64->64 then the classifier (one
                convolution fewer), and every convolution has a bias
"""
from torch import nn

from .vgg import conv_bn_relu, split_at_pools, vgg16_features

STAGE_WIDTHS = [(64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)]


class SegNet(nn.Module):
    def __init__(self, num_classes, *, decoder="mirrored", pretrained=False, weights_path=None):
        super().__init__()
        self.encoder = split_at_pools(vgg16_features(pretrained, weights_path, batch_norm=True))
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        # Decoder stage k mirrors encoder stage k: the same number of convs, the last one
        # narrowing to the width that entered encoder stage k (64 for the first stage, whose
        # output goes to the classifier).
        reference = decoder == "reference"
        self.decoder = nn.ModuleList()
        entering = [64] + [w[-1] for w in STAGE_WIDTHS[:-1]]
        for k, (widths, out) in enumerate(zip(reversed(STAGE_WIDTHS), reversed(entering))):
            last = k == len(STAGE_WIDTHS) - 1  # the reference's last stage has one conv fewer
            w, convs = widths[0], len(widths) - (reference and last)
            self.decoder.append(nn.Sequential(*[conv_bn_relu(w, w, bias=reference) for _ in range(convs - 1)],
                                              conv_bn_relu(w, out, bias=reference)))
        self.classifier = nn.Conv2d(64, num_classes, 3, padding=1)

    def forward(self, x):
        indices, sizes = [], []
        for stage in self.encoder:
            x = stage(x)
            sizes.append(x.shape)
            x, idx = self.pool(x)
            indices.append(idx)
        for stage, idx, size in zip(self.decoder, reversed(indices), reversed(sizes)):
            x = stage(self.unpool(x, idx, output_size=size))
        return self.classifier(x)
