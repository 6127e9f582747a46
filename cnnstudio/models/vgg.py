"""VGG (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015, arXiv:1409.1556), configurations A, A-LRN, B, C, D, E of Table 1.

Architecture as data: each configuration is a list in `cfgs` and one `make_layers` builds
it. The module layout (``features`` / ``avgpool`` / ``classifier`` with the same indices)
matches torchvision's ``vgg11``/``vgg13``/``vgg16``/``vgg19`` (and ``_bn``), so their
state dicts load into these models unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnstudio.models.catalog import VGG_MIN_SIZE
from cnnstudio.models.layers import ClassicCNN, LocalResponseNorm

__all__ = ["VGG", "build_vgg", "cfgs", "make_layers"]

# An int is a 3×3 conv with that many filters, (filters, 1) the 1×1 conv of configuration C,
# "M" a 2×2/2 max-pool and "LRN" A-LRN's local response normalisation.
CfgEntry = int | tuple[int, int] | str
cfgs: dict[str, list[CfgEntry]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M",
          512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_layers(cfg: list[CfgEntry], *, in_channels: int = 3, batch_norm: bool = False) -> nn.Sequential:
    """The convolutional part of a VGG configuration: conv [→ BN] → ReLU, pools and LRN as listed."""
    layers: list[nn.Module] = []
    channels = in_channels
    for entry in cfg:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        elif entry == "LRN":
            layers.append(LocalResponseNorm())
        else:
            filters, kernel = entry if isinstance(entry, tuple) else (entry, 3)
            layers.append(nn.Conv2d(channels, filters, kernel_size=kernel, padding=kernel // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(filters))
            layers.append(nn.ReLU())
            channels = filters
    return nn.Sequential(*layers)


class VGG(ClassicCNN):
    """A VGG configuration: `features` (the conv stacks) → adaptive pool → three FC layers."""

    def __init__(self, config: str = "D", *, in_channels: int = 3, num_classes: int = 1000,
                 batch_norm: bool = False, dropout: float = 0.5) -> None:
        if config not in cfgs:
            raise ValueError(f"unknown VGG configuration {config!r}; choose one of: {', '.join(cfgs)}")
        super().__init__(arch_name=f"vgg-{config}", in_channels=in_channels, min_size=VGG_MIN_SIZE)
        self.config = config
        self.batch_norm = batch_norm
        self.features = make_layers(cfgs[config], in_channels=in_channels, batch_norm=batch_norm)
        # N x 512 x 7 x 7 at 224×224. The adaptive pool is the identity there and makes any
        # size from 32×32 (CIFAR) up reach the first FC layer as 512×7×7, so the parameter
        # counts stay the paper's.
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),  # FC-4096
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),         # FC-4096
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),  # FC-1000 in the paper
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.features(x)
        x = self.avgpool(x)
        return self.classifier(torch.flatten(x, 1))

    def conv_positions(self) -> dict[tuple[int, int], tuple[str, str | None]]:
        """Each conv layer by (stage, position in stage) -> (its module name, its BatchNorm's or None).

        Stages are the five blocks between max-pools, counted from 1; this is how config A's
        layers line up with a deeper configuration's for `init.init_vgg_from_a`.
        """
        positions: dict[tuple[int, int], tuple[str, str | None]] = {}
        stage, position = 1, 0
        children = list(self.features.children())
        for index, layer in enumerate(children):
            if isinstance(layer, nn.MaxPool2d):
                stage, position = stage + 1, 0
            elif isinstance(layer, nn.Conv2d):
                position += 1
                follows = children[index + 1] if index + 1 < len(children) else None
                bn = f"features.{index + 1}" if isinstance(follows, nn.BatchNorm2d) else None
                positions[(stage, position)] = (f"features.{index}", bn)
        return positions


def build_vgg(*, config: str, in_channels: int, num_classes: int, batch_norm: bool = False,
              dropout: float = 0.5) -> VGG:
    """Registry builder for the `vgg*` names (`config` is the paper's letter)."""
    return VGG(config, in_channels=in_channels, num_classes=num_classes, batch_norm=batch_norm, dropout=dropout)
