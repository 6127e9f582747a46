"""The learning-rate range test (Smith 2015/2017), as fastai's `lr_find` runs it.

`find_lr(config)` trains a fresh model — built, initialised and fed exactly as the trainer
does (the config's seed, init, optimizer, data loaders) — for up to `steps` steps of the real
training step (`fit.step.train_step`), the learning rate growing exponentially from
`start_lr` to `end_lr`. Each step's loss is smoothed as fastai smooths it (a debiased
exponential moving average, β = 0.98); the test stops early when the smoothed loss passes
4× the best so far, or a loss is not finite. It suggests:

- `suggested_lr`: the steepest descent of the smoothed curve against log(LR) (fastai's
  `steep`), where the loss falls fastest — a good LR to train at;
- `min_lr_div10`: the LR of the smallest smoothed loss, ÷ 10 (fastai's `minimum`), a safe
  lower choice.

Nothing is written. Given an existing `model` (and its `optimizer`), the test runs on deep
copies: the model, the optimizer's state and every RNG (torch, CUDA, numpy, Python) are left
exactly as they were. The thread count is restored too, as the estimate does.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnstudio.errors import Cancelled, CnnStudioError
from cnnstudio.progress import ProgressFn
from cnnstudio.training.config import TrainConfig
from cnnstudio.training.fit.interrupt import Interrupted, LayerInterrupt
from cnnstudio.training.fit.rng import exclusive_rng
from cnnstudio.training.fit.step import amp_dtype, make_scaler, train_step

__all__ = ["LRFinderResult", "find_lr", "smooth_losses", "steepest_lr"]

BETA = 0.98  # fastai's smoothing of the loss
DIVERGE_FACTOR = 4.0  # stop once the smoothed loss is this many times the best


@dataclass(frozen=True)
class LRFinderResult:
    """One range test: the LR of each step, its loss (smoothed and raw), and the suggestions."""

    lrs: tuple[float, ...]
    losses: tuple[float, ...]  # smoothed: debiased EMA, β = 0.98
    raw_losses: tuple[float, ...]
    suggested_lr: float | None  # the steepest descent of `losses` (None: too few points)
    min_loss_lr: float | None  # the LR of the smallest smoothed loss
    stopped_early: str | None  # None: every step ran; else why it stopped ("diverged", "not finite")
    start_lr: float
    end_lr: float
    steps: int  # asked for

    @property
    def min_lr_div10(self) -> float | None:
        """The LR of the lowest smoothed loss ÷ 10 (fastai's `minimum`)."""
        return None if self.min_loss_lr is None else self.min_loss_lr / 10

    @property
    def sentence(self) -> str:
        """"suggested LR 3.2e-02 (steepest descent); min/10 1.1e-01; stopped after 64 steps: the loss diverged"."""
        if self.suggested_lr is None:
            head = "no suggestion: too few steps before the loss diverged — lower the start LR"
        else:
            head = (f"suggested LR {self.suggested_lr:.2e} (steepest descent); "
                    f"min/10 {self.min_lr_div10:.2e} (the lowest loss's LR ÷ 10)")
        if self.stopped_early:
            head += f"; stopped after {len(self.lrs)} of {self.steps} steps: the loss {self.stopped_early}"
        return head

    def to_json(self) -> dict[str, Any]:
        """{"lr": [...], "loss": [...], "suggested_lr": x, …}; a loss that is not finite is null."""
        def number(value: float) -> float | None:
            return value if math.isfinite(value) else None

        return {"lr": [number(v) for v in self.lrs], "loss": [number(v) for v in self.losses],
                "suggested_lr": number(self.suggested_lr), "raw_loss": [number(v) for v in self.raw_losses],
                "min_loss_lr": number(self.min_loss_lr), "min_lr_div10": number(self.min_lr_div10),
                "stopped_early": self.stopped_early, "start_lr": number(self.start_lr),
                "end_lr": number(self.end_lr), "steps": self.steps}


def smooth_losses(raw: list[float], beta: float = BETA) -> list[float]:
    """fastai's smoothing: avg = β·avg + (1−β)·loss, shown debiased as avg / (1 − β^(i+1))."""
    avg, out = 0.0, []
    for i, loss in enumerate(raw):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def steepest_lr(lrs: list[float] | tuple[float, ...], losses: list[float] | tuple[float, ...]) -> float | None:
    """The LR where `losses` falls fastest against log(LR), as fastai's `steep` picks it: the
    first tenth and the last five points (the start's noise, the divergence) left out when
    the curve is long enough."""
    n = len(lrs)
    if n < 3:
        return None
    start, stop = (n // 10, n - 5) if n - 5 - n // 10 >= 3 else (0, n)
    x = np.log(np.asarray(lrs[start:stop], dtype=np.float64))
    y = np.asarray(losses[start:stop], dtype=np.float64)
    if not np.all(np.isfinite(y)):
        return None
    slopes = (y[1:] - y[:-1]) / (x[1:] - x[:-1])
    return float(lrs[start + int(np.argmin(slopes))])


def _rng_states(cuda: bool) -> tuple[Any, ...]:
    return (torch.get_rng_state(), torch.cuda.get_rng_state_all() if cuda else None, np.random.get_state(),
            random.getstate())


def _set_rng_states(states: tuple[Any, ...]) -> None:
    torch_state, cuda_states, numpy_state, python_state = states
    torch.set_rng_state(torch_state)
    if cuda_states is not None:
        torch.cuda.set_rng_state_all(cuda_states)
    np.random.set_state(numpy_state)
    random.setstate(python_state)


def find_lr(config: TrainConfig, bundle: Any = None, *, start_lr: float = 1e-7, end_lr: float = 10.0,
            steps: int = 100, progress: ProgressFn | None = None,
            cancel: Callable[[], bool] | None = None, model: nn.Module | None = None,
            optimizer: torch.optim.Optimizer | None = None) -> LRFinderResult:
    """Run the LR range test of `config` (see the module docstring); nothing is written.

    `bundle` is the loaded dataset (None: `load_training_data(config)`); `progress(done, steps)`
    counts steps; `cancel()` → True aborts with `Cancelled` (checked between layers too).
    `model` (and optionally its `optimizer`, made by `make_optimizer` or alike): test a copy of
    them instead of a fresh model; neither is changed.
    """
    from cnnstudio.threads import use_torch_threads
    from cnnstudio.training.fit.devices import resolve_device
    from cnnstudio.training.fit.training_data import load_training_data

    if not (0 < start_lr < end_lr) or not math.isfinite(end_lr):
        raise CnnStudioError(f"the LR range must grow from a start above 0 to a larger end; got {start_lr:g} → {end_lr:g}")
    if steps < 2:
        raise CnnStudioError(f"the LR range test needs at least 2 steps; got {steps}")
    if optimizer is not None and model is None:
        raise ValueError("an optimizer is tested with its model: give model= too")
    cfg = config.validate()
    device = resolve_device(cfg.device)
    cuda = device.type == "cuda" or (torch.cuda.is_available() and torch.cuda.is_initialized())
    threads_before = torch.get_num_threads()
    benchmark_before = torch.backends.cudnn.benchmark
    try:
        use_torch_threads(cfg.num_threads)
        if bundle is None:
            bundle = load_training_data(cfg, cancel=cancel)
        # The generators are the process's: a fit in another thread must not see this test's draws.
        with exclusive_rng(cancel):
            states = _rng_states(cuda)
            try:
                return _range_test(cfg, bundle, device, start_lr=start_lr, end_lr=end_lr, steps=steps,
                                   progress=progress, cancel=cancel, model=model, optimizer=optimizer)
            finally:
                _set_rng_states(states)
    finally:
        torch.set_num_threads(threads_before)
        torch.backends.cudnn.benchmark = benchmark_before


def _fresh_model(cfg: TrainConfig, spec: Any, device: torch.device) -> tuple[nn.Module, int]:
    """The model as `Trainer._setup` builds it for a new run: seeded, built, initialised, moved."""
    from cnnstudio.models.init import init_vgg_from_a, init_weights
    from cnnstudio.models.registry import build_model, check_input_size, resolve_options
    from cnnstudio.training.input_size import config_input_size

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    options = resolve_options(cfg.arch, cfg.arch_options)
    input_size = config_input_size(cfg.replace(arch_options=options), fallback_native=spec.native_size).size
    check_input_size(cfg.arch, input_size, **options)
    model = build_model(cfg.arch, in_channels=spec.channels, num_classes=len(spec.classes), **options)
    init_weights(model, cfg.init)
    if cfg.pretrained is not None or cfg.pretrained_weights is not None:
        from cnnstudio.training.weights.finetune import load_backbone

        load_backbone(model, cfg, spec)
    if cfg.init_from_run is not None:
        from cnnstudio.training.store import runs
        from cnnstudio.training.store.checkpoints import load_checkpoint

        source = runs.open_run(cfg.init_from_run)
        init_vgg_from_a(model, load_checkpoint(source.checkpoint_path("best"), map_location="cpu")["model"])
    return model, input_size


def _range_test(cfg: TrainConfig, bundle: Any, device: torch.device, *, start_lr: float, end_lr: float, steps: int,
                progress: ProgressFn | None, cancel: Callable[[], bool] | None,
                model: nn.Module | None, optimizer: torch.optim.Optimizer | None) -> LRFinderResult:
    from cnnstudio.data.loaders import make_loader
    from cnnstudio.training.fit.optim import make_optimizer
    from cnnstudio.training.input_size import config_input_size

    spec = bundle.spec
    if model is None:
        model, input_size = _fresh_model(cfg, spec, device)
        channels_last = device.type == "cuda" and cfg.channels_last
        model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
        optimizer = make_optimizer(cfg, model)
    else:
        # One deepcopy of both: the copied optimizer steps the copied model's parameters.
        model, optimizer = copy.deepcopy((model, optimizer))
        if optimizer is None:
            optimizer = make_optimizer(cfg, model)
        device = next(model.parameters()).device
        input_size = config_input_size(cfg, fallback_native=spec.native_size).size
        channels_last = device.type == "cuda" and cfg.channels_last
    model.train()
    dtype = amp_dtype(device, cfg.amp)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the trainer runs
    scaler = make_scaler(dtype)
    loader = make_loader(bundle.train, spec, batch_size=cfg.batch_size, input_size=input_size,
                         in_channels=spec.channels, train=True, augment=cfg.augment, device=device, seed=cfg.seed)
    if len(loader) == 0:
        raise CnnStudioError("the training split is empty: there is nothing to run the LR range test on")
    # Each group keeps its share of the LR (fine-tuning's 0.1× for pretrained layers).
    top = max(group["lr"] for group in optimizer.param_groups) or 1.0
    shares = [group["lr"] / top for group in optimizer.param_groups]
    should_stop = cancel if cancel is not None else (lambda: False)
    interrupt = LayerInterrupt(model, should_stop)
    lrs: list[float] = []
    raw: list[float] = []
    smoothed: list[float] = []
    best, avg, stopped = math.inf, 0.0, None
    batches = iter(loader)
    try:
        for i in range(steps):
            if should_stop():
                raise Interrupted
            lr = start_lr * (end_lr / start_lr) ** (i / (steps - 1))
            for group, share in zip(optimizer.param_groups, shares):
                group["lr"] = lr * share
            try:
                x, y = next(batches)
            except StopIteration:  # the next epoch: the loader draws its next seeded order
                batches = iter(loader)
                x, y = next(batches)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            out = train_step(model, x, y, optimizer=optimizer, scaler=scaler, dtype=dtype, aux_weight=cfg.aux_weight)
            loss = float(out.loss)
            lrs.append(lr)
            raw.append(loss)
            if not math.isfinite(loss):
                smoothed.append(math.inf)
                stopped = "is not finite"
                break
            avg = BETA * avg + (1 - BETA) * loss
            smooth = avg / (1 - BETA ** (i + 1))
            smoothed.append(smooth)
            best = min(best, smooth)
            if progress is not None:
                progress(i + 1, steps, "LR range test")
            if smooth > DIVERGE_FACTOR * best:
                stopped = "diverged"
                break
    except Interrupted:
        raise Cancelled("LR range test cancelled") from None
    except torch.cuda.OutOfMemoryError:
        raise CnnStudioError(f"{cfg.arch} does not fit in {device} memory at batch size {cfg.batch_size} — "
                             "use a smaller batch or input size") from None
    finally:
        interrupt.remove()
    finite = [(lr, s) for lr, s in zip(lrs, smoothed) if math.isfinite(s)]
    min_loss_lr = min(finite, key=lambda pair: pair[1])[0] if finite else None
    # The point that diverged is left out of the slope, as fastai trims the end.
    curve_lrs, curve = [p[0] for p in finite], [p[1] for p in finite]
    return LRFinderResult(lrs=tuple(lrs), losses=tuple(smoothed), raw_losses=tuple(raw),
                          suggested_lr=steepest_lr(curve_lrs, curve), min_loss_lr=min_loss_lr, stopped_early=stopped,
                          start_lr=start_lr, end_lr=end_lr, steps=steps)
