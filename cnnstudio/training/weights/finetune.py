"""Fine-tuning: start a training from pretrained weights instead of a random initialisation.

The weights are torchvision's ImageNet ones (`config.pretrained`, a name of
`training.pretrained`; `config.pretrained_weights` may point at the local file) or any weights
file of the same architecture (`config.pretrained_weights` alone: another run's best.pt, a
state dict). Everything loads except the classifier's last layer (and GoogLeNet's
auxiliary heads' last layers), which stay freshly initialised for the dataset's classes. A
grey dataset gets conv1's RGB kernels summed over the three channels (exact for a grey
image shown as RGB); a colour dataset on grey weights gets them spread over RGB.

`config.finetune` picks what trains: "all" (every layer at the LR), "head" (only the new
last layer; the rest frozen) or "lower" (the pretrained layers at `LOWER_LR_FACTOR` × the
LR, the new layer at the LR).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from cnnstudio.choices import Finetune
from cnnstudio.errors import CheckpointError

if TYPE_CHECKING:
    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.training.config import TrainConfig

__all__ = ["LOWER_LR_FACTOR", "adapt_first_conv", "head_parameter_names", "load_backbone", "param_groups"]

LOWER_LR_FACTOR = 0.1


def head_parameter_names(model: nn.Module) -> list[str]:
    """The parameters a fine-tuning replaces: the classifier's last layer, and each auxiliary head's."""
    names: list[str] = []
    for prefix in ("classifier", "aux1", "aux2"):
        part = getattr(model, prefix, None)
        if part is None:
            continue
        last = None
        for name, module in part.named_modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                last = name
        if last is not None:
            names += [f"{prefix}.{last}.{p}" for p, _ in part.get_submodule(last).named_parameters()]
    return names


def _first_conv_key(model: nn.Module) -> str:
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return f"{name}.weight"
    raise CheckpointError(f"{getattr(model, 'arch_name', 'the model')} has no convolution to adapt")


def adapt_first_conv(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """`state` with conv1's kernels fitted to the model's input channels (3 → 1: summed; 1 → 3: spread)."""
    key = _first_conv_key(model)
    want = model.get_submodule(key.rsplit(".", 1)[0]).weight.shape[1]
    have = state.get(key)
    if have is None or have.dim() != 4 or have.shape[1] == want:
        return state
    if have.shape[1] == 3 and want == 1:
        adapted = have.sum(dim=1, keepdim=True)  # a grey image shown as RGB has three equal channels
    elif have.shape[1] == 1 and want == 3:
        adapted = have.repeat(1, 3, 1, 1) / 3
    else:
        return state  # load_strict names the mismatch
    return {**state, key: adapted}


def load_backbone(model: nn.Module, config: TrainConfig, spec: DatasetSpec) -> str:
    """Load `config`'s pretrained weights into `model` (all but the new head); returns where they came from."""
    from cnnstudio.training.weights.pretrained import fetch_weights, read_state_dict, studio_state
    from cnnstudio.models.pretrained import get_pretrained
    from cnnstudio.training.weights.pretrained import load_strict

    if config.pretrained is not None:
        info = get_pretrained(config.pretrained)
        path = Path(config.pretrained_weights).expanduser() if config.pretrained_weights else \
            fetch_weights(config.pretrained)
        state = studio_state(info, read_state_dict(path), aux_logits=getattr(model, "aux_logits", False))
        label = f"torchvision {info.weights} ({path})"
    else:
        path = Path(str(config.pretrained_weights)).expanduser()
        state = read_state_dict(path)
        label = str(path)
    state = adapt_first_conv(state, model)
    head = head_parameter_names(model)
    load_strict(model, state, what=config.arch, source=path, skip=tuple(head))
    return label


def param_groups(model: nn.Module, config: TrainConfig) -> Any:
    """What the optimizer trains, by `config.finetune`; the new head's group first (its LR is "the" LR)."""
    if config.pretrained is None and config.pretrained_weights is None:
        return model.parameters()
    head_names = set(head_parameter_names(model))
    head = [p for n, p in model.named_parameters() if n in head_names]
    body = [p for n, p in model.named_parameters() if n not in head_names]
    if config.finetune == Finetune.HEAD:
        for p in body:
            p.requires_grad_(False)
        return [{"params": head}]
    if config.finetune == Finetune.LOWER:
        return [{"params": head}, {"params": body, "lr": config.lr * LOWER_LR_FACTOR}]
    return [{"params": head}, {"params": body}]
