"""Feature maps: what any convolution layer outputs for one image."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cnnstudio.errors import UnknownNameError

__all__ = ["conv_layers", "feature_maps", "tile_feature_maps"]


def conv_layers(model: nn.Module) -> list[str]:
    """Qualified names of every convolution, in the order the input meets them (the layer graph's)."""
    from cnnstudio.models.graph import layer_graph

    return layer_graph(model).convs()


@torch.no_grad()
def feature_maps(model: nn.Module, layer_name: str, x: torch.Tensor) -> np.ndarray:
    """The output of `layer_name` for one model input `x` (C×H×W): float32 (C', H', W').

    A forward hook captures the layer; the hook is removed and the model's train/eval mode
    restored whatever happens, so looking never changes the model.
    """
    modules = dict(model.named_modules())
    if layer_name not in modules:
        raise UnknownNameError(f"{type(model).__name__} has no layer {layer_name!r}; conv layers: "
                               + ", ".join(conv_layers(model)))
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        captured.append(output.detach())

    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    handle = modules[layer_name].register_forward_hook(hook)
    try:
        model.eval()
        model(x.unsqueeze(0).to(device))
    finally:
        handle.remove()
        model.train(was_training)
    return captured[0][0].float().cpu().numpy()


def tile_feature_maps(maps: np.ndarray, *, padding: int = 1, max_maps: int | None = None,
                      scale: float | None = None) -> np.ndarray:
    """Tile (C, H, W) maps into one grey picture H'×W' in [0, 1]: each map scaled on its own, or
    with `scale` all on −scale…scale (a history's frames, comparable)."""
    from cnnstudio.inspect.kernels import scale_images, tile

    maps = np.asarray(maps[:max_maps] if max_maps else maps, dtype=np.float32)
    return tile(scale_images(maps, scale)[..., None], padding=padding)[..., 0]
