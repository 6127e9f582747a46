"""Blocks shared by the architectures: the papers' LRN, activations by name, the input guard."""

from __future__ import annotations

import torch
from torch import nn

from cnnstudio.errors import CnnStudioError, InputTooSmallError

__all__ = ["ACTIVATIONS", "AuxHead", "ClassicCNN", "LocalResponseNorm", "ParallelBlock", "make_activation"]

#: Activation names accepted by `make_activation` (and by the `activation` options).
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")


class ParallelBlock(nn.Module):
    """Branches that run side by side on one input, their outputs concatenated along the
    channels (GoogLeNet's Inception, the notes' multi-scale block). The layer graph draws
    each branch from the block's input to its concatenation."""

    branch_names: tuple[str, ...] = ("branch1", "branch2", "branch3", "branch4")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([getattr(self, name)(x) for name in self.branch_names], dim=1)


class AuxHead(nn.Module):
    """An auxiliary classifier on the side of the trunk (GoogLeNet's): trained with the
    network, not part of it at test time — a summary counts it apart, the graph draws it as
    a side branch."""


class LocalResponseNorm(nn.LocalResponseNorm):
    """Local response normalisation as AlexNet's paper writes it (also used by VGG A-LRN, GoogLeNet).

    The paper: b = a / (k + α Σ a²)^β over n neighbouring channels, with k=2, n=5, α=1e-4,
    β=0.75. PyTorch's `nn.LocalResponseNorm` computes (k + α/n Σ a²)^β — it divides α by n —
    so we hand it α·n to get the paper's normalisation rather than one 5 times weaker.
    """

    def __init__(self, size: int = 5, *, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0) -> None:
        super().__init__(size, alpha=alpha * size, beta=beta, k=k)
        self.paper_alpha = alpha

    def extra_repr(self) -> str:
        return f"n={self.size}, alpha={self.paper_alpha} (paper's α), beta={self.beta}, k={self.k}"


def make_activation(name: str) -> nn.Module:
    """A fresh activation module from its option name ("relu", "leaky_relu", "sigmoid", "tanh")."""
    # Not in-place: feature-map hooks keep a conv's output, and an in-place ReLU would
    # silently overwrite it with the rectified values.
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU()
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    raise ValueError(f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATIONS)}")


class ClassicCNN(nn.Module):
    """Base of every cnnstudio model: knows its name, input channels and smallest input.

    `forward` implementations call `check_input(x)` first, so a too-small image fails with
    a message naming the minimum instead of a shape error from deep inside torch.
    """

    def __init__(self, *, arch_name: str, in_channels: int, min_size: int) -> None:
        super().__init__()
        self.arch_name = arch_name  # the registry renames it to the name it was built under
        self.in_channels = in_channels
        self.min_size = min_size

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a user-facing error when `x` (N×C×H×W) cannot go through this network."""
        if x.dim() != 4:
            raise CnnStudioError(
                f"{self.arch_name} expects a batch of images N×C×H×W; got a tensor of shape {tuple(x.shape)}"
            )
        channels, height, width = (int(s) for s in x.shape[1:])
        if channels != self.in_channels:
            raise CnnStudioError(
                f"{self.arch_name} was built for {self.in_channels}-channel images; got {channels} channels"
            )
        if min(height, width) < self.min_size:
            raise InputTooSmallError.for_size(self.arch_name, self.min_size, height, width)
