"""Weight initialisation: the papers' N(0, 0.01), Kaiming, Xavier, and VGG's start from config A."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from cnnstudio.choices import Init
from cnnstudio.errors import CheckpointError, CnnStudioError, UnknownNameError

__all__ = ["init_vgg_from_a", "init_weights"]


def init_weights(model: nn.Module, scheme: str) -> None:
    """Re-initialise every conv and linear layer of `model` in place.

    - "default": leave PyTorch's own initialisation (Kaiming-uniform with a=√5).
    - "normal": weights from N(0, 0.01²), biases zero — AlexNet's and VGG's recipe.
    - "kaiming": He et al. normal initialisation for ReLU nets (fan-in), biases zero.
    - "xavier": Glorot uniform, biases zero.

    BatchNorm layers are reset to weight 1, bias 0 by every scheme except "default".
    """
    if scheme not in Init.values():
        raise UnknownNameError(f"unknown initialisation {scheme!r}; choose one of: {', '.join(Init.values())}")
    if scheme == Init.DEFAULT:
        return
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                if scheme == Init.NORMAL:
                    nn.init.normal_(module.weight, mean=0.0, std=0.01)
                elif scheme == Init.KAIMING:
                    nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                else:
                    nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)


def _strip_wrappers(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys without the prefixes torch.compile ("_orig_mod.") and DataParallel ("module.") add."""
    cleaned: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        for prefix in ("_orig_mod.", "module."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        cleaned[key] = value
    return cleaned


def _config_a_like(state: Mapping[str, torch.Tensor]) -> nn.Module:
    """A config-A (or A-LRN) skeleton on the meta device whose keys and shapes are `state`'s."""
    from cnnstudio.models.vgg import VGG

    try:
        in_channels = state["features.0.weight"].shape[1]
        num_classes = state["classifier.6.weight"].shape[0]
    except (KeyError, AttributeError, IndexError):
        raise CheckpointError("these weights are not a VGG model's; train config A (vgg11) first") from None
    batch_norm = any(key.endswith("running_mean") for key in state)
    for config in ("A", "A-LRN"):
        with torch.device("meta"):
            candidate = VGG(config, in_channels=in_channels, num_classes=num_classes, batch_norm=batch_norm)
        expected = candidate.state_dict()
        if expected.keys() == state.keys() and all(expected[k].shape == state[k].shape for k in expected):
            return candidate
    raise CheckpointError("these weights are not a VGG config A (vgg11 or vgg11-lrn) model's; "
                          "VGG's deeper configurations start from a trained config A")


def init_vgg_from_a(model: nn.Module, state_dict_of_config_a: Mapping[str, torch.Tensor]) -> list[str]:
    """Start a deeper VGG from a trained config A, as the paper did; returns the layers copied.

    The paper initialises "the first four convolutional layers and the last three
    fully-connected layers" of the deeper nets with config A's, the rest at random. Config
    A's first four convs are the only conv of stage 1 and 2 and the two convs of stage 3;
    each is copied into the conv at the same place (stage, position) of `model`, which has
    the same shape in every configuration — and with it the BatchNorm that follows when
    both nets have one. The three FC layers are copied as they are. Everything else of
    `model` is left as it was.
    """
    from cnnstudio.models.vgg import VGG

    target = getattr(model, "_orig_mod", model)  # a torch.compile'd model wraps the real one
    if not isinstance(target, VGG):
        raise CnnStudioError(f"only a VGG model can start from config A; got {type(target).__name__}")
    state = _strip_wrappers(state_dict_of_config_a)
    source = _config_a_like(state)
    source_convs, target_convs = source.conv_positions(), target.conv_positions()
    # Config A's first four convs, in order: (stage 1, conv 1), (2, 1), (3, 1), (3, 2).
    pairs: list[tuple[str, str]] = []
    for place in sorted(source_convs)[:4]:
        (source_conv, source_bn), (target_conv, target_bn) = source_convs[place], target_convs[place]
        pairs.append((source_conv, target_conv))
        if source_bn and target_bn:
            pairs.append((source_bn, target_bn))
    pairs += [(f"classifier.{i}", f"classifier.{i}") for i in (0, 3, 6)]

    modules = dict(target.named_modules())
    with torch.no_grad():
        for source_name, target_name in pairs:  # check every shape before changing anything
            for key, tensor in modules[target_name].state_dict().items():
                got = state[f"{source_name}.{key}"]
                if got.shape != tensor.shape:
                    raise CnnStudioError(
                        f"config A's {source_name}.{key} has shape {list(got.shape)} but this model's "
                        f"{target_name}.{key} has {list(tensor.shape)}; train config A with the same "
                        "input channels and number of classes"
                    )
        for source_name, target_name in pairs:
            for key, tensor in modules[target_name].state_dict(keep_vars=True).items():
                tensor.copy_(state[f"{source_name}.{key}"])
    return [target_name for _, target_name in pairs]
