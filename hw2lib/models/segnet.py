"""SegNet (Badrinarayanan et al. 2017): VGG16-BN encoder; the decoder max-unpools with the
encoder's pooling indices, then mirrors each encoder stage's conv + BN + ReLU layers."""
from torch import nn
from torchvision.models import VGG16_BN_Weights, vgg16_bn

from .registry import register
from .weights import pretrained_state

STAGE_WIDTHS = [(64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)]


def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SegNet(nn.Module):
    def __init__(self, num_classes, pretrained=False, weights_path=None):
        super().__init__()
        vgg = vgg16_bn()
        if pretrained:
            vgg.load_state_dict(pretrained_state(VGG16_BN_Weights.IMAGENET1K_V1, weights_path))
        # Split VGG16-BN's features at its max-pools: one encoder stage per pool.
        stages, current = [], []
        for layer in vgg.features:
            if isinstance(layer, nn.MaxPool2d):
                stages.append(nn.Sequential(*current))
                current = []
            else:
                current.append(layer)
        self.encoder = nn.ModuleList(stages)
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        # Decoder stage k mirrors encoder stage k: the same number of convs, the last one
        # narrowing to the width that entered encoder stage k (64 for the first stage, whose
        # output goes to the classifier).
        self.decoder = nn.ModuleList()
        entering = [64] + [w[-1] for w in STAGE_WIDTHS[:-1]]
        for widths, out in zip(reversed(STAGE_WIDTHS), reversed(entering)):
            w = widths[0]
            layers = [m for _ in widths[:-1] for m in conv_bn_relu(w, w)] + conv_bn_relu(w, out)
            self.decoder.append(nn.Sequential(*layers))
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


@register("segnet", "segmentation")
def build(num_classes, pretrained=False, weights_path=None):
    return SegNet(num_classes, pretrained, weights_path)
