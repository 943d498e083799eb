"""DeepLabV3 with a ResNet-101 backbone (Chen et al. 2017), from torchvision.

Pretrained means the ImageNet ResNet-101 backbone, like the VGG16 backbones of the other models;
the ASPP head always starts fresh for the dataset's classes.
"""
from torch import nn

from ..errors import WeightsUnavailable
from .weights import pretrained_state, torchvision_weights


class DeepLabV3(nn.Module):
    """torchvision's model returns {"out": logits}; this returns the logits tensor."""

    def __init__(self, num_classes, pretrained=False, weights_path=None):
        from torchvision.models import resnet101
        from torchvision.models.segmentation import deeplabv3_resnet101

        super().__init__()
        self.net = deeplabv3_resnet101(weights=None, weights_backbone=None, num_classes=num_classes,
                                       aux_loss=False)
        if pretrained:
            resnet = resnet101()
            resnet.load_state_dict(pretrained_state(torchvision_weights("ResNet101_Weights.IMAGENET1K_V1"), weights_path))
            # The backbone is ResNet-101 without its classifier: everything but `fc` must load.
            state = {k: v for k, v in resnet.state_dict().items() if not k.startswith("fc.")}
            missing, unexpected = self.net.backbone.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise WeightsUnavailable(f"ResNet-101 weights do not fit DeepLabV3's backbone: "
                                         f"missing {missing}, unexpected {unexpected}")

    def forward(self, x):
        return self.net(x)["out"]
