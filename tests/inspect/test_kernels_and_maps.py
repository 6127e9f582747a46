"""Kernels as pictures and feature maps of any conv layer, without changing the model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cnnstudio.errors import UnknownNameError
from cnnstudio.inspect.activations import conv_layers, feature_maps, tile_feature_maps
from cnnstudio.inspect.kernels import first_layer_kernels
from cnnstudio.models.registry import build_model


def test_rgb_kernels_are_a_colour_grid_of_every_kernel() -> None:
    model = build_model("alexnet", in_channels=3, num_classes=10)
    grid = first_layer_kernels(model)
    side = math.ceil(math.sqrt(96))  # 96 kernels of 11×11, one pixel of padding
    assert grid.shape == (side * 12 + 1, side * 12 + 1, 3)
    assert grid.dtype == np.float32 and grid.min() >= 0.0 and grid.max() <= 1.0
    # scaled one kernel at a time: every kernel reaches both ends of the range
    tile = grid[1:12, 1:12]
    assert tile.min() == pytest.approx(0.0, abs=1e-6) and tile.max() == pytest.approx(1.0, abs=1e-6)


def test_grey_kernels_follow_the_weights() -> None:
    model = build_model("lenet5", in_channels=1, num_classes=10)
    grid = first_layer_kernels(model)
    assert grid.shape[2] == 3
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0
    grid = first_layer_kernels(model)
    assert grid[1, 1, 0] == pytest.approx(1.0) and grid[1, 2, 0] == pytest.approx(0.0)


def test_feature_maps_of_a_chosen_layer_restore_the_model() -> None:
    model = build_model("lenet5", in_channels=1, num_classes=10)
    model.train()
    layers = conv_layers(model)
    assert len(layers) == 2
    maps = feature_maps(model, layers[1], torch.randn(1, 32, 32))
    assert maps.shape == (16, 10, 10)
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())
    tiled = tile_feature_maps(maps)
    assert tiled.ndim == 2 and 0.0 <= tiled.min() and tiled.max() <= 1.0


def test_unknown_layer_lists_the_conv_layers() -> None:
    model = build_model("lenet5", in_channels=1, num_classes=10)
    with pytest.raises(UnknownNameError, match=conv_layers(model)[0]):
        feature_maps(model, "nope", torch.randn(1, 32, 32))
