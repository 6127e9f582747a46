"""torchvision's AlexNet and GoogLeNet — the nets its ImageNet weights were trained as, not the papers'.

torchvision's ``alexnet`` is the single-tower net of Krizhevsky's "One weird trick for
parallelizing convolutional neural networks" (arXiv:1404.5997): 64-192-384-256-256
filters, no LRN, dropout before fc6 and fc7. Its ``googlenet`` has BatchNorm after every
convolution, a 3×3 convolution in the "5×5" branch, a 2×2 last max-pool, auxiliary heads
that pool adaptively to 4×4, dropout 0.2, and (with the ImageNet weights, which came from
TensorFlow) `transform_input`, which turns ImageNet-normalised input into the [-1, 1]
scaling those weights expect.

Both are built here in the studio's layout (`features` → `avgpool` → `classifier`, named
layers) so every tab works on them; `TORCHVISION_KEYS` maps torchvision's parameter names
onto these (see `training.pretrained`).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from cnnstudio.models.googlenet import (BasicConv2d, GoogLeNetOutputs, Inception, InceptionAux, forward_with_aux,
                                        inception_cfgs)
from cnnstudio.models.layers import ClassicCNN

__all__ = ["TorchvisionAlexNet", "TorchvisionGoogLeNet", "build_alexnet_torchvision",
           "build_googlenet_torchvision", "map_prefixes"]

# ImageNet's mean/std (torchvision's ImageClassification transform) and what transform_input
# maps them to: x·std/0.5 + (mean − 0.5)/0.5 per channel.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TorchvisionAlexNet(ClassicCNN):
    """torchvision's AlexNet ("one weird trick"): 64-192-384-256-256 convs, no LRN, 61.1 M parameters."""

    def __init__(self, *, in_channels: int = 3, num_classes: int = 1000, dropout: float = 0.5) -> None:
        # 63: as for the paper's AlexNet, the third 3×3/2 max-pool still gets a 3×3 window.
        super().__init__(arch_name="alexnet-torchvision", in_channels=in_channels, min_size=63)
        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2)),  # N x 64 x 55 x 55
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(kernel_size=3, stride=2)),                            # N x 64 x 27 x 27
            ("conv2", nn.Conv2d(64, 192, kernel_size=5, padding=2)),                     # N x 192 x 27 x 27
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(kernel_size=3, stride=2)),                            # N x 192 x 13 x 13
            ("conv3", nn.Conv2d(192, 384, kernel_size=3, padding=1)),                    # N x 384 x 13 x 13
            ("relu3", nn.ReLU()),
            ("conv4", nn.Conv2d(384, 256, kernel_size=3, padding=1)),                    # N x 256 x 13 x 13
            ("relu4", nn.ReLU()),
            ("conv5", nn.Conv2d(256, 256, kernel_size=3, padding=1)),                    # N x 256 x 13 x 13
            ("relu5", nn.ReLU()),
            ("pool5", nn.MaxPool2d(kernel_size=3, stride=2)),                            # N x 256 x 6 x 6
        ]))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(OrderedDict([
            ("dropout6", nn.Dropout(dropout)),      # torchvision drops the inputs of fc6 and fc7
            ("fc6", nn.Linear(256 * 6 * 6, 4096)),  # N x 4096
            ("relu6", nn.ReLU()),
            ("dropout7", nn.Dropout(dropout)),
            ("fc7", nn.Linear(4096, 4096)),         # N x 4096
            ("relu7", nn.ReLU()),
            ("fc8", nn.Linear(4096, num_classes)),  # N x num_classes
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.features(x)
        x = self.avgpool(x)
        return self.classifier(torch.flatten(x, 1))


class TorchvisionGoogLeNet(ClassicCNN):
    """torchvision's GoogLeNet: BatchNorm everywhere, 3×3 in the 5×5 branch, no LRN, 6.6 M parameters."""

    def __init__(self, *, in_channels: int = 3, num_classes: int = 1000, aux_logits: bool = True,
                 transform_input: bool = False, dropout: float = 0.2) -> None:
        # Four ceil-mode max-pools (the last 2×2) and adaptive pooling everywhere after them,
        # the auxiliary heads' included: 15 px is the least that reaches inception 5b.
        super().__init__(arch_name="googlenet-torchvision", in_channels=in_channels, min_size=15)
        if transform_input and in_channels != 3:
            raise ValueError("transform_input maps ImageNet's RGB normalisation; it needs 3-channel input")
        self.aux_logits = aux_logits
        self.transform_input = transform_input

        def inception(name: str) -> Inception:
            return Inception(*inception_cfgs[name], batch_norm=True, branch3_kernel=3)

        def pool(kernel: int = 3) -> nn.Module:
            return nn.MaxPool2d(kernel_size=kernel, stride=2, ceil_mode=True)

        self.features = nn.Sequential(OrderedDict([
            ("conv1", BasicConv2d(in_channels, 64, batch_norm=True, kernel_size=7, stride=2, padding=3)),  # 112
            ("pool1", pool()),                                                               # N x 64 x 56 x 56
            ("conv2_reduce", BasicConv2d(64, 64, batch_norm=True, kernel_size=1)),           # N x 64 x 56 x 56
            ("conv2", BasicConv2d(64, 192, batch_norm=True, kernel_size=3, padding=1)),      # N x 192 x 56 x 56
            ("pool2", pool()),                                                               # N x 192 x 28 x 28
            ("inception3a", inception("inception3a")),                                      # N x 256 x 28 x 28
            ("inception3b", inception("inception3b")),                                      # N x 480 x 28 x 28
            ("pool3", pool()),                                                               # N x 480 x 14 x 14
            ("inception4a", inception("inception4a")),                                      # N x 512 x 14 x 14
            ("inception4b", inception("inception4b")),
            ("inception4c", inception("inception4c")),
            ("inception4d", inception("inception4d")),                                      # N x 528 x 14 x 14
            ("inception4e", inception("inception4e")),                                      # N x 832 x 14 x 14
            ("pool4", pool(2)),                                                              # N x 832 x 7 x 7
            ("inception5a", inception("inception5a")),
            ("inception5b", inception("inception5b")),                                      # N x 1024 x 7 x 7
        ]))
        self.aux1 = InceptionAux(512, num_classes, batch_norm=True, paper_pool=False) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes, batch_norm=True, paper_pool=False) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))                                          # N x 1024 x 1 x 1
        self.classifier = nn.Sequential(OrderedDict([
            ("dropout", nn.Dropout(dropout)),
            ("fc", nn.Linear(1024, num_classes)),                                            # N x num_classes
        ]))

    def _transform_input(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.tensor([s / 0.5 for s in IMAGENET_STD], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        shift = torch.tensor([(m - 0.5) / 0.5 for m in IMAGENET_MEAN], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return x * scale + shift

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        self.check_input(x)
        if self.transform_input:
            x = self._transform_input(x)
        return forward_with_aux(self, x)


def build_alexnet_torchvision(*, in_channels: int, num_classes: int, dropout: float = 0.5) -> TorchvisionAlexNet:
    """Registry builder for `alexnet-torchvision`."""
    return TorchvisionAlexNet(in_channels=in_channels, num_classes=num_classes, dropout=dropout)


def build_googlenet_torchvision(*, in_channels: int, num_classes: int, aux_logits: bool = True,
                                transform_input: bool = False, dropout: float = 0.2) -> TorchvisionGoogLeNet:
    """Registry builder for `googlenet-torchvision`."""
    return TorchvisionGoogLeNet(in_channels=in_channels, num_classes=num_classes, aux_logits=aux_logits,
                                transform_input=transform_input, dropout=dropout)


# torchvision's parameter-name prefixes → the studio's, per architecture (VGG: the same layout).
TORCHVISION_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "alexnet-torchvision": (
        ("features.0.", "features.conv1."), ("features.3.", "features.conv2."), ("features.6.", "features.conv3."),
        ("features.8.", "features.conv4."), ("features.10.", "features.conv5."),
        ("classifier.1.", "classifier.fc6."), ("classifier.4.", "classifier.fc7."),
        ("classifier.6.", "classifier.fc8."),
    ),
    "googlenet-torchvision": (
        ("conv1.", "features.conv1."), ("conv2.", "features.conv2_reduce."), ("conv3.", "features.conv2."),
        *((f"{name}.", f"features.{name}.") for name in inception_cfgs),
        ("aux1.", "aux1."), ("aux2.", "aux2."), ("fc.", "classifier.fc."),
    ),
}


def map_prefixes(state: dict[str, torch.Tensor], prefixes: tuple[tuple[str, str], ...]) -> dict[str, torch.Tensor]:
    """`state` with each key's torchvision prefix replaced by the studio's; keys no prefix matches stay."""
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for theirs, ours in prefixes:
            if key.startswith(theirs):
                key = ours + key[len(theirs):]
                break
        mapped[key] = value
    return mapped
