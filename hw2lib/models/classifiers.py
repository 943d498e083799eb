"""Image classifiers from torchvision with a new last layer for the dataset's classes.

The penultimate features (the input of the last layer: 512-d for ResNet18) are what t-SNE uses;
`last_layer(model)` names the module whose input they are.
"""
from torch import nn

from .weights import pretrained_state, torchvision_weights

BACKBONES = {  # name (torchvision's constructor): its ImageNet weights
    "resnet18": "ResNet18_Weights.IMAGENET1K_V1",
    "resnet34": "ResNet34_Weights.IMAGENET1K_V1",
    "resnext101_32x8d": "ResNeXt101_32X8D_Weights.IMAGENET1K_V1",
    "vgg16": "VGG16_Weights.IMAGENET1K_V1",
}


def last_layer(model):
    """The final Linear layer (ResNet's `fc`, VGG's `classifier[6]`)."""
    return model.fc if hasattr(model, "fc") else model.classifier[-1]


def feature_map(model):
    """The module whose output is the last feature map (ResNet's `layer4`, VGG's `features`)."""
    return model.layer4 if hasattr(model, "layer4") else model.features


def classifier(name, num_classes, pretrained=False, weights_path=None):
    """Backbone `name` (ImageNet weights if asked) with a fresh `num_classes`-way last layer."""
    from torchvision import models

    model = getattr(models, name)()
    if pretrained:
        model.load_state_dict(pretrained_state(torchvision_weights(BACKBONES[name]), weights_path))
    new = nn.Linear(last_layer(model).in_features, num_classes)
    if hasattr(model, "fc"):
        model.fc = new
    else:
        model.classifier[-1] = new
    return model
