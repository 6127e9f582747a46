"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, "Gradient-Based Learning Applied to Document
Recognition", Proc. IEEE 1998).

C1 6@5×5 → S2 pool → C3 16@5×5 → S4 pool → F5 120 → F6 84 → classes. The paper's details
that no modern course keeps are simplified the usual way: C3 is fully connected to S2 (the
paper wires it to chosen subsets), the subsampling layers have no trainable coefficients,
and the output is a linear layer trained with cross-entropy instead of RBF units.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from cnnstudio.models.catalog import LENET_MIN_SIZE
from cnnstudio.models.layers import ClassicCNN, make_activation

__all__ = ["LeNet5", "build_lenet"]


class LeNet5(ClassicCNN):
    """LeNet-5: two conv/pool stages and three fully connected layers, for 32×32 digits."""

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10, activation: str = "tanh",
                 pool: str = "avg") -> None:
        super().__init__(arch_name="lenet5", in_channels=in_channels, min_size=LENET_MIN_SIZE)
        if pool not in ("avg", "max"):
            raise ValueError(f"unknown pool {pool!r}; choose 'avg' (the paper's) or 'max'")
        pooling = nn.AvgPool2d if pool == "avg" else nn.MaxPool2d
        self.features = nn.Sequential(OrderedDict([
            ("c1", nn.Conv2d(in_channels, 6, kernel_size=5)),  # N x 6 x 28 x 28
            ("act1", make_activation(activation)),
            ("s2", pooling(2)),                                # N x 6 x 14 x 14
            ("c3", nn.Conv2d(6, 16, kernel_size=5)),           # N x 16 x 10 x 10
            ("act3", make_activation(activation)),
            ("s4", pooling(2)),                                # N x 16 x 5 x 5
        ]))
        # Identity at 32×32; lets other sizes (28×28 MNIST, 64×64 folders) reach F5 as 16×5×5.
        self.avgpool = nn.AdaptiveAvgPool2d((5, 5))
        self.classifier = nn.Sequential(OrderedDict([
            ("f5", nn.Linear(16 * 5 * 5, 120)),  # N x 120 (C5 in the paper: a 5×5 conv at 32×32)
            ("act5", make_activation(activation)),
            ("f6", nn.Linear(120, 84)),          # N x 84
            ("act6", make_activation(activation)),
            ("output", nn.Linear(84, num_classes)),
        ]))
        if activation in ("tanh", "sigmoid"):
            self._init_as_in_the_paper()

    @torch.no_grad()
    def _init_as_in_the_paper(self) -> None:
        # Fan-in scaled uniform init in LeCun's style: U(-2.4/√Fi, 2.4/√Fi). Appendix C of the
        # paper prints 2.4/Fi, which with today's normalised inputs and cross-entropy leaves
        # the net at chance for epochs (measured: 10 % after 3 epochs on mnist-sample);
        # the √ keeps tanh units in their working range, and PyTorch's default init starts
        # them too small (92 % instead of 96 % after 3 epochs at batch 64, LR 0.03). It is a
        # rule for squashing units: the ReLU variant keeps PyTorch's (Kaiming-style) default.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.uniform_(-2.4 / fan_in ** 0.5, 2.4 / fan_in ** 0.5)
                module.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.features(x)
        if x.shape[-2:] != (5, 5):  # at 32×32 the pool would be an identity costing ~5 % of a CPU step
            x = self.avgpool(x)
        return self.classifier(torch.flatten(x, 1))


def build_lenet(*, in_channels: int, num_classes: int, activation: str = "tanh", pool: str = "avg") -> LeNet5:
    """Registry builder for `lenet5`."""
    return LeNet5(in_channels=in_channels, num_classes=num_classes, activation=activation, pool=pool)
