"""The first convolution layer's kernels as one picture (AlexNet's Figure 3)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torchvision.utils import make_grid

from cnnstudio.errors import CnnStudioError

__all__ = ["first_conv", "first_layer_kernels"]


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first `nn.Conv2d` in module order, with its qualified name."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise CnnStudioError(f"{type(model).__name__} has no convolution layer to show")


@torch.no_grad()
def first_layer_kernels(model: nn.Module, *, padding: int = 1) -> np.ndarray:
    """The first conv layer's kernels tiled in a grid: H×W×3 float32 in [0, 1].

    Each kernel is scaled on its own (as in the papers' figures), so a weak kernel is as
    visible as a strong one. RGB kernels stay in colour; others are shown per input channel
    averaged to grey, since a single 2-D picture cannot show more channels.
    """
    _, conv = first_conv(model)
    weight = conv.weight.detach().float().cpu()  # out × in × kh × kw
    if weight.shape[1] != 3:
        weight = weight.mean(dim=1, keepdim=True)
    nrow = math.ceil(math.sqrt(weight.shape[0]))
    grid = make_grid(weight, nrow=nrow, padding=padding, normalize=True, scale_each=True, pad_value=1.0)
    return grid.permute(1, 2, 0).contiguous().numpy().astype(np.float32, copy=False)
