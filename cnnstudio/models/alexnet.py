"""AlexNet (Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NIPS 2012).

The paper's network, not torchvision's later single-GPU variant (64-192-384-256-256):
96-256-384-384-256 convolutions, ReLU, LRN after conv1 and conv2, overlapping 3×3/2 max
pooling, dropout 0.5 in the two 4096-wide FC layers. `two_towers=True` keeps the paper's
two-GPU connectivity: conv2, conv4 and conv5 see only the half of the previous layer that
lived on their own GPU (grouped convolutions, groups=2); conv3 and the FC layers see both.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from cnnstudio.models.catalog import ALEXNET_MIN_SIZE
from cnnstudio.models.layers import ClassicCNN, LocalResponseNorm

__all__ = ["AlexNet", "build_alexnet"]


class AlexNet(ClassicCNN):
    """AlexNet with the paper's filter counts, LRN, overlapping pooling and optional two towers."""

    def __init__(self, *, in_channels: int = 3, num_classes: int = 1000, two_towers: bool = False,
                 lrn: bool = True, dropout: float = 0.5) -> None:
        super().__init__(arch_name="alexnet-2gpu" if two_towers else "alexnet", in_channels=in_channels,
                         min_size=ALEXNET_MIN_SIZE)
        groups = 2 if two_towers else 1

        def norm() -> nn.Module:
            return LocalResponseNorm() if lrn else nn.Identity()

        self.features = nn.Sequential(OrderedDict([
            # The paper says 224×224 in and 55×55 out, which needs 2 pixels of padding (or 227 in).
            ("conv1", nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=2)),  # N x 96 x 55 x 55
            ("relu1", nn.ReLU()),
            ("lrn1", norm()),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),                            # N x 96 x 27 x 27
            ("conv2", nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=groups)),      # N x 256 x 27 x 27
            ("relu2", nn.ReLU()),
            ("lrn2", norm()),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),                            # N x 256 x 13 x 13
            ("conv3", nn.Conv2d(256, 384, kernel_size=3, padding=1)),                    # N x 384 x 13 x 13
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=groups)),     # N x 384 x 13 x 13
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=groups)),     # N x 256 x 13 x 13
            ("relu5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),                            # N x 256 x 6 x 6
        ]))
        # Identity at 224×224; other sizes reach fc6 as 256×6×6 too.
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(OrderedDict([
            ("fc6", nn.Linear(256 * 6 * 6, 4096)),  # N x 4096
            ("relu6", nn.ReLU()),
            ("dropout6", nn.Dropout(dropout)),      # the paper drops the outputs of fc6 and fc7
            ("fc7", nn.Linear(4096, 4096)),         # N x 4096
            ("relu7", nn.ReLU()),
            ("dropout7", nn.Dropout(dropout)),
            ("fc8", nn.Linear(4096, num_classes)),  # N x num_classes
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.features(x)
        x = self.avgpool(x)
        return self.classifier(torch.flatten(x, 1))


def build_alexnet(*, in_channels: int, num_classes: int, two_towers: bool = False, lrn: bool = True,
                  dropout: float = 0.5) -> AlexNet:
    """Registry builder for `alexnet` and `alexnet-2gpu`."""
    return AlexNet(in_channels=in_channels, num_classes=num_classes, two_towers=two_towers, lrn=lrn,
                   dropout=dropout)
