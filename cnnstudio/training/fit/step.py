"""One training step — the only place in `training` that calls `.backward(`.

The fit, the estimate and the LR finder all train through `train_step`, so the three cannot
drift apart: autocast with one AMP rule (`amp_dtype`), GoogLeNet's auxiliary-loss rule
(`training_loss`), zero_grad, backward through the GradScaler, and the optimizer's step.

A step tells an observer (`StepHooks`) where it stands, in the manner of Lightning's hooks:
after the forward pass, after backward, and just before the optimizer's step. When an
observer wants gradients, they are **unscaled** first (`scaler.unscale_`), so it never reads
fp16-scaled values; `scaler.step` then knows they are unscaled and does not do it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F

__all__ = ["StepHooks", "StepOutput", "amp_dtype", "autocast", "make_scaler", "train_step", "training_loss"]


def amp_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """The autocast dtype a fit on `device` uses with AMP `enabled`: bf16 where the GPU supports
    it, else fp16 (with a GradScaler); None (full precision) off CUDA or with AMP off."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(dtype: torch.dtype | None) -> Any:
    """The autocast context for `amp_dtype`'s answer (a no-op for None)."""
    return nullcontext() if dtype is None else torch.autocast(device_type="cuda", dtype=dtype)


def make_scaler(dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """The GradScaler for `dtype`: active only for fp16, whose small gradients would underflow."""
    return torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)


def training_loss(out: Any, y: torch.Tensor, aux_weight: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                                        torch.Tensor | None]:
    """(loss to train on, main loss, logits, aux losses or None) of a forward's output.

    GoogLeNet in train mode returns (logits, aux1, aux2): the paper adds the auxiliary
    classifiers' losses weighted by `aux_weight` (0.3).
    """
    if isinstance(out, tuple):
        logits, aux1, aux2 = out
        main = F.cross_entropy(logits, y)
        aux = torch.stack([F.cross_entropy(aux1, y), F.cross_entropy(aux2, y)]).float()
        return main + aux_weight * aux.sum(), main, logits, aux
    main = F.cross_entropy(out, y)
    return main, main, out, None


class StepHooks(Protocol):
    """What a step tells its observer. `wants_gradients` says whether the gradients must be
    unscaled before `after_backward` (only then is `scaler.unscale_` called)."""

    wants_gradients: bool

    def after_forward(self) -> None: ...

    def after_backward(self) -> None: ...

    def before_optimizer_step(self) -> None: ...


@dataclass
class StepOutput:
    """What one step produced, detached, still on the device (reading it back is the caller's sync)."""

    loss: torch.Tensor  # the loss trained on (main + weighted aux)
    main: torch.Tensor  # the main classifier's loss
    logits: torch.Tensor
    aux: torch.Tensor | None  # GoogLeNet's (aux1, aux2) losses


def train_step(forward: Callable[[torch.Tensor], Any], x: torch.Tensor, y: torch.Tensor, *,
               optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, dtype: torch.dtype | None,
               aux_weight: float, hooks: StepHooks | None = None) -> StepOutput:
    """Train `forward`'s parameters on one batch: forward, loss, backward, optimizer step."""
    with autocast(dtype):
        loss, main, logits, aux = training_loss(forward(x), y, aux_weight)
    if hooks is not None:
        hooks.after_forward()
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if hooks is not None:
        if hooks.wants_gradients and scaler.is_enabled():
            scaler.unscale_(optimizer)
        hooks.after_backward()
        hooks.before_optimizer_step()
    scaler.step(optimizer)
    scaler.update()
    return StepOutput(loss.detach(), main.detach(), logits.detach(), None if aux is None else aux.detach())
