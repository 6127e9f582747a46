"""The first convolution layer's kernels as one picture (AlexNet's Figure 3), and the grid
layout every kernel and feature-map picture shares.

`tile` lays out equally sized pictures with one pixel of white between them (torchvision's
`make_grid` layout); `kernel_grid` turns a weight array into such a picture with the
normalisation as a parameter: each kernel on its own (the papers' figures: a weak kernel as
visible as a strong one), or one symmetric scale for all (zero is mid-grey), which is what a
history needs so that frames compare. numpy only: the history's views and the `kernels`
verb draw without torch; `first_layer_kernels(model)` imports it when called.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import nn

__all__ = ["first_conv", "first_layer_kernels", "kernel_grid", "max_abs", "scale_images", "tile"]


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first `nn.Conv2d` in module order, with its qualified name (`models.layers.first_conv`)."""
    from cnnstudio.models.graph import first_conv as find

    return find(model)


def tile(images: np.ndarray, *, padding: int = 1, pad_value: float = 1.0, columns: int | None = None) -> np.ndarray:
    """N pictures N×H×W×C (values in [0, 1]) in one grid, `columns` wide (default ⌈√N⌉), padded."""
    n, h, w, c = images.shape
    columns = max(1, min(columns or math.ceil(math.sqrt(n)), n)) if n else 1
    rows = math.ceil(n / columns) if n else 0
    grid = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, c), pad_value,
                   dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, columns)
        top, left = r * (h + padding) + padding, col * (w + padding) + padding
        grid[top:top + h, left:left + w] = images[i]
    return grid


def scale_images(images: np.ndarray, scale: float | None) -> np.ndarray:
    """N×… values into [0, 1]: each image on its own min…max (`scale` None), or −scale…scale for all."""
    images = np.asarray(images, dtype=np.float32)
    if scale is None:
        axes = tuple(range(1, images.ndim))
        low = images.min(axis=axes, keepdims=True) if images.size else images
        high = images.max(axis=axes, keepdims=True) if images.size else images
        return (images - low) / np.maximum(high - low, 1e-5)
    return np.clip(0.5 + images / (2 * max(float(scale), 1e-12)), 0.0, 1.0)


def max_abs(values: np.ndarray) -> float:
    """The largest |value| (0 for an empty array): a history's global scale is the max over its frames."""
    return float(np.abs(values).max()) if np.size(values) else 0.0


def kernel_grid(weight: np.ndarray, *, scale: float | None = None, padding: int = 1) -> np.ndarray:
    """Kernels O×I×kh×kw as one H×W×3 float32 picture in [0, 1].

    RGB kernels stay in colour; others are averaged over their input channels to grey (a 2-D
    picture cannot show more). `scale` None scales each kernel on its own; a number maps
    −scale…scale to black…white for every kernel alike (zero is mid-grey).
    """
    weight = np.asarray(weight, dtype=np.float32)
    if weight.shape[1] != 3:
        weight = weight.mean(axis=1, keepdims=True)
    pictures = scale_images(weight, scale).transpose(0, 2, 3, 1)  # O×kh×kw×C
    if pictures.shape[3] == 1:
        pictures = np.repeat(pictures, 3, axis=3)
    return tile(pictures, padding=padding)


def first_layer_kernels(model: nn.Module, *, padding: int = 1, scale: float | None = None) -> np.ndarray:
    """The first conv layer's kernels tiled in a grid: H×W×3 float32 in [0, 1] (see `kernel_grid`)."""
    _, conv = first_conv(model)
    weight = conv.weight.detach().float().cpu().numpy()
    return kernel_grid(weight, scale=scale, padding=padding)
