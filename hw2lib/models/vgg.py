"""The VGG16 backbone shared by the FCN family, UNet16 and SegNet, and their conv + BN + ReLU."""
from torch import nn

from .weights import pretrained_state, torchvision_weights

VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")  # configuration D
POOL_INDEX = {1: 4, 2: 9, 3: 16, 4: 23, 5: 30}  # positions of the max-pools in vgg16().features
POOL_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}  # channels entering each pool


def vgg16_layers(batch_norm):
    """torchvision's `vgg16().features` layer for layer (same indices, so its weights load)."""
    layers, cin = [], 3
    for width in VGG16:
        if width == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers += [nn.Conv2d(cin, width, 3, padding=1), *([nn.BatchNorm2d(width)] if batch_norm else []),
                   nn.ReLU(inplace=True)]
        cin = width
    return nn.Sequential(*layers)


def vgg16_features(pretrained=False, weights_path=None, batch_norm=False):
    """VGG16's (or VGG16-BN's) 13 convolutions and 5 max-pools, with ImageNet weights if asked.

    Only the features are built (torchvision's `vgg16()` would also build and initialise the
    102 M-parameter classifier that no segmentation model uses), initialised as torchvision does.
    """
    features = vgg16_layers(batch_norm)
    if pretrained:
        weights = torchvision_weights("VGG16_BN_Weights.IMAGENET1K_V1" if batch_norm else "VGG16_Weights.IMAGENET1K_V1")
        state = pretrained_state(weights, weights_path)
        features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()
                                  if k.startswith("features.")})
        return features
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight), nn.init.zeros_(m.bias)
    return features


def split_at_pools(features):
    """The five convolution stages between VGG's max-pools (the pools themselves dropped)."""
    stages, current = [], []
    for layer in features:
        if isinstance(layer, nn.MaxPool2d):
            stages.append(nn.Sequential(*current))
            current = []
        else:
            current.append(layer)
    return nn.ModuleList(stages)


def conv_bn_relu(cin, cout, bias=False):
    """3x3 convolution (no bias by default: BN follows), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=bias), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))
