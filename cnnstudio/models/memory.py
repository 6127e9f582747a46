"""How much memory a model's activations take at an input size, measured on the `meta` device.

Nothing is allocated: the model is built and run on PyTorch's `meta` device, so even
VGG-19 at 4096×4096 answers in a fraction of a second. Used to refuse, before a run is
created, an input size whose activations cannot fit in the machine at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from cnnstudio.models.registry import build_model

__all__ = ["ActivationSize", "largest_activation"]


@dataclass(frozen=True)
class ActivationSize:
    """The largest output of one layer for one image: its layer's name, shape and element count."""

    layer: str
    shape: tuple[int, ...]
    elements: int


def largest_activation(arch: str, *, in_channels: int, input_size: int, num_classes: int = 10,
                       **options: object) -> ActivationSize:
    """The layer whose output for one `in_channels`×`input_size`² image is the largest (eval mode)."""
    with torch.device("meta"):
        model = build_model(arch, in_channels=in_channels, num_classes=num_classes, **options)
    model.eval()
    best = ActivationSize("input", (in_channels, input_size, input_size), in_channels * input_size * input_size)
    handles = []

    def hook_for(name: str):
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            nonlocal best
            if isinstance(output, torch.Tensor):
                elements = math.prod(output.shape[1:])
                if elements > best.elements:
                    best = ActivationSize(name, tuple(output.shape[1:]), elements)
        return hook

    for name, module in model.named_modules():
        if name and not list(module.children()):
            handles.append(module.register_forward_hook(hook_for(name)))
    try:
        with torch.no_grad():
            model(torch.empty(1, in_channels, input_size, input_size, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return best
