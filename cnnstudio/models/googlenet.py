"""GoogLeNet / Inception v1 (Szegedy et al., "Going Deeper with Convolutions", CVPR 2015,
arXiv:1409.4842).

Follows the paper's Table 1 and Figure 3, including where torchvision's ``googlenet``
deviates: the 5×5 branch has a real 5×5 convolution (torchvision uses 3×3), LRN follows
the first max-pool and the second conv stage, and there is no BatchNorm unless asked for.
The two auxiliary classifiers after inception 4a and 4d are built when `aux_logits=True`
(the paper's training set-up); in training `forward` returns `GoogLeNetOutputs`, in eval
mode the main logits only, because the paper drops the auxiliary heads at inference.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

import torch
from torch import nn

from cnnstudio.models.catalog import GOOGLENET_MIN_SIZE, GOOGLENET_NO_AUX_MIN_SIZE
from cnnstudio.models.layers import AuxHead, ClassicCNN, LocalResponseNorm, ParallelBlock

__all__ = ["BasicConv2d", "GoogLeNet", "GoogLeNetOutputs", "Inception", "InceptionAux", "build_googlenet"]


class GoogLeNetOutputs(NamedTuple):
    """Training-mode outputs of GoogLeNet with auxiliary heads; the loss weighs each aux by 0.3."""

    logits: torch.Tensor
    aux1: torch.Tensor
    aux2: torch.Tensor


class BasicConv2d(nn.Sequential):
    """Conv → ReLU, or conv → BatchNorm → ReLU (conv bias dropped then, BN's shift replaces it)."""

    def __init__(self, in_channels: int, out_channels: int, *, batch_norm: bool, kernel_size: int,
                 stride: int = 1, padding: int = 0) -> None:
        layers: list[tuple[str, nn.Module]] = [
            ("conv", nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                               bias=not batch_norm)),
        ]
        if batch_norm:
            layers.append(("bn", nn.BatchNorm2d(out_channels, eps=0.001)))
        layers.append(("relu", nn.ReLU()))
        super().__init__(OrderedDict(layers))


class Inception(ParallelBlock):
    """An Inception module: 1×1, 1×1→3×3, 1×1→5×5 and 3×3 max-pool→1×1 branches, concatenated."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int, *, batch_norm: bool, branch3_kernel: int = 5) -> None:
        # branch3_kernel=3 is torchvision's variant (its 5×5 branch has a 3×3 convolution).
        super().__init__()
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branch1 = BasicConv2d(in_channels, ch1x1, batch_norm=batch_norm, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, batch_norm=batch_norm, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, batch_norm=batch_norm, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, batch_norm=batch_norm, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, batch_norm=batch_norm, kernel_size=branch3_kernel,
                        padding=branch3_kernel // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1),
            BasicConv2d(in_channels, pool_proj, batch_norm=batch_norm, kernel_size=1),
        )



class InceptionAux(AuxHead):
    """An auxiliary classifier: avg-pool 5×5/3 → 1×1 conv 128 → FC 1024 → dropout 0.7 → FC classes."""

    def __init__(self, in_channels: int, num_classes: int, *, batch_norm: bool, paper_pool: bool = True) -> None:
        super().__init__()
        # torchvision's variant (paper_pool=False) skips the paper's 5×5/3 pool: adaptive only.
        self.pool = nn.AvgPool2d(kernel_size=5, stride=3) if paper_pool else nn.Identity()  # N x C x 4 x 4 at 14×14
        # Identity at 224×224 (4×4 already); keeps fc1 at 128·4·4 inputs for larger images.
        self.resize = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(in_channels, 128, batch_norm=batch_norm, kernel_size=1)  # N x 128 x 4 x 4
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)                                    # N x 1024
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.7)
        self.fc2 = nn.Linear(1024, num_classes)                                    # N x num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.resize(self.pool(x)))
        x = self.dropout(self.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


# Table 1: (in, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj) per Inception module.
inception_cfgs: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


class GoogLeNet(ClassicCNN):
    """GoogLeNet: stem → nine Inception modules → global average pool → dropout 0.4 → FC."""

    def __init__(self, *, in_channels: int = 3, num_classes: int = 1000, aux_logits: bool = True,
                 batch_norm: bool = False, lrn: bool = True, dropout: float = 0.4) -> None:
        super().__init__(arch_name="googlenet", in_channels=in_channels,
                         min_size=GOOGLENET_MIN_SIZE if aux_logits else GOOGLENET_NO_AUX_MIN_SIZE)
        self.aux_logits = aux_logits

        def norm() -> nn.Module:
            return LocalResponseNorm() if lrn else nn.Identity()

        def pool() -> nn.Module:
            # Caffe rounds pooled sizes up; ceil_mode gives the paper's 112→56→28→14→7.
            return nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)

        def inception(name: str) -> Inception:
            return Inception(*inception_cfgs[name], batch_norm=batch_norm)

        self.features = nn.Sequential(OrderedDict([
            ("conv1", BasicConv2d(in_channels, 64, batch_norm=batch_norm, kernel_size=7, stride=2,
                                  padding=3)),                                          # N x 64 x 112 x 112
            ("pool1", pool()),                                                          # N x 64 x 56 x 56
            ("lrn1", norm()),
            ("conv2_reduce", BasicConv2d(64, 64, batch_norm=batch_norm, kernel_size=1)),  # N x 64 x 56 x 56
            ("conv2", BasicConv2d(64, 192, batch_norm=batch_norm, kernel_size=3, padding=1)),  # N x 192 x 56 x 56
            ("lrn2", norm()),
            ("pool2", pool()),                                                          # N x 192 x 28 x 28
            ("inception3a", inception("inception3a")),                                 # N x 256 x 28 x 28
            ("inception3b", inception("inception3b")),                                 # N x 480 x 28 x 28
            ("pool3", pool()),                                                          # N x 480 x 14 x 14
            ("inception4a", inception("inception4a")),                                 # N x 512 x 14 x 14
            ("inception4b", inception("inception4b")),                                 # N x 512 x 14 x 14
            ("inception4c", inception("inception4c")),                                 # N x 512 x 14 x 14
            ("inception4d", inception("inception4d")),                                 # N x 528 x 14 x 14
            ("inception4e", inception("inception4e")),                                 # N x 832 x 14 x 14
            ("pool4", pool()),                                                          # N x 832 x 7 x 7
            ("inception5a", inception("inception5a")),                                 # N x 832 x 7 x 7
            ("inception5b", inception("inception5b")),                                 # N x 1024 x 7 x 7
        ]))
        self.aux1 = InceptionAux(512, num_classes, batch_norm=batch_norm) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes, batch_norm=batch_norm) if aux_logits else None
        # The paper's 7×7/1 average pool is global at 224×224; adaptive keeps it global at any size.
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))                                     # N x 1024 x 1 x 1
        self.classifier = nn.Sequential(OrderedDict([
            ("dropout", nn.Dropout(dropout)),
            ("fc", nn.Linear(1024, num_classes)),                                       # N x num_classes
        ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        self.check_input(x)
        return forward_with_aux(self, x)


def forward_with_aux(model: nn.Module, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
    """features → pool → classifier, with the auxiliary heads after inception 4a and 4d in
    training mode (the paper's GoogLeNet and torchvision's variant share it)."""
    with_aux = model.aux_logits and model.training
    aux: dict[str, torch.Tensor] = {}
    for name, layer in model.features.named_children():
        x = layer(x)
        if with_aux and name == "inception4a":
            aux["aux1"] = model.aux1(x)
        elif with_aux and name == "inception4d":
            aux["aux2"] = model.aux2(x)
    x = model.avgpool(x)
    logits = model.classifier(torch.flatten(x, 1))
    if with_aux:
        return GoogLeNetOutputs(logits, aux["aux1"], aux["aux2"])
    return logits


def build_googlenet(*, in_channels: int, num_classes: int, aux_logits: bool = True, batch_norm: bool = False,
                    lrn: bool = True, dropout: float = 0.4) -> GoogLeNet:
    """Registry builder for `googlenet`."""
    return GoogLeNet(in_channels=in_channels, num_classes=num_classes, aux_logits=aux_logits,
                     batch_norm=batch_norm, lrn=lrn, dropout=dropout)
