"""The optimizer a config asks for: the fit's, the estimate's and the LR finder's."""

from __future__ import annotations

import torch
from torch import nn

from cnnstudio.choices import Optimizer
from cnnstudio.training.config import TrainConfig

__all__ = ["make_optimizer"]


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer `config` asks for, over `model`'s parameters (the trainer's and the estimate's);
    fine-tuning's groups when it starts from pretrained weights."""
    from cnnstudio.training.weights.finetune import param_groups

    params = param_groups(model, config)  # all parameters, unless fine-tuning says otherwise
    if config.optimizer == Optimizer.SGD:
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=config.weight_decay)
    if config.optimizer == Optimizer.ADAM:
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
