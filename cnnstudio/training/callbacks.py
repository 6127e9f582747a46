"""How a training run talks to the world: the callback hooks and the plain records they receive.

This module is the whole contract between the trainer and whoever watches it. The trainer
knows nothing of progress bars or windows; it calls these hooks, as methods, on a
`CallbackList`. The faces' own callbacks live with them (the console bar in `cli.py`,
the window's signal bridge in `gui/session.py`). What crosses is plain: frozen dataclasses of ints, floats and strings (never a
tensor), so a callback may hand them to another thread as they are. Accuracies are
fractions in 0..1; callbacks format them as they like.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnnstudio.training.trainer import Trainer

__all__ = [
    "FitStart",
    "BatchStats",
    "EpochStats",
    "FitResult",
    "STOPPED_BY_USER",
    "Callback",
    "CallbackList",
]


@dataclass(frozen=True)
class FitStart:
    """What is about to be trained, sent once before the first batch."""

    arch: str
    epochs: int  # the last epoch number (1-based) this fit will reach
    start_epoch: int  # epochs already done (0, or more when resuming)
    batches_per_epoch: int
    batch_size: int
    input_size: int
    device: str  # e.g. "cpu", "cuda:0 (NVIDIA H100)"
    precision: str  # "float32", "bfloat16" or "float16"
    num_params: int
    spec: Any  # the DatasetSpec (frozen, JSON-able)
    run_dir: str


@dataclass(frozen=True)
class BatchStats:
    """Training progress, throttled: means since the previous call."""

    epoch: int  # 1-based
    batch: int  # 1-based, within the epoch
    num_batches: int
    loss: float
    accuracy: float
    lr: float
    images_per_s: float
    elapsed_s: float  # in this epoch, pauses excluded
    eta_s: float  # to the end of this epoch's training batches
    aux_losses: tuple[float, ...] = ()  # GoogLeNet: (aux1, aux2) means since the previous call


@dataclass(frozen=True)
class EpochStats:
    """One finished epoch: what is plotted and written to metrics.jsonl."""

    epoch: int  # 1-based
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_top5: float | None  # None with fewer than 5 classes
    lr: float  # the learning rate this epoch trained with
    seconds: float
    images_per_s: float  # training images per second
    is_best: bool
    aux_losses: tuple[float, ...] = ()  # GoogLeNet with aux heads: (aux1, aux2) epoch means

    def to_row(self, **extra: Any) -> dict[str, Any]:
        """The metrics.jsonl row: every field, the aux losses as `aux1_loss`/`aux2_loss`
        (None without aux heads, as every run folder has them), plus `extra` (batch_size)."""
        row = {name: getattr(self, name) for name in _EPOCH_FIELDS}
        aux = list(self.aux_losses) + [None] * (2 - len(self.aux_losses))
        row.update(aux1_loss=aux[0], aux2_loss=aux[1], **extra)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EpochStats:
        """The record of a metrics.jsonl row (`to_row`'s output, extra keys ignored);
        ValueError naming the first missing or mistyped field."""
        values: dict[str, Any] = {}
        for name in _EPOCH_FIELDS:
            value = row.get(name)
            if name in ("epoch", "epochs"):
                ok = isinstance(value, int) and not isinstance(value, bool)
            elif name == "is_best":
                ok = isinstance(value, bool)
            elif name == "val_top5":
                ok = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))
            elif name in ("val_loss", "val_acc") and value is None:  # a run without validation
                values[name] = math.nan
                continue
            else:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok:
                raise ValueError(f"metrics row field {name!r} is {value!r}")
            values[name] = float(value) if isinstance(value, int) and name not in ("epoch", "epochs") else value
        aux = tuple(float(row[k]) for k in ("aux1_loss", "aux2_loss")
                    if isinstance(row.get(k), (int, float)) and not isinstance(row.get(k), bool))
        return cls(**values, aux_losses=aux)


_EPOCH_FIELDS = ("epoch", "epochs", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "lr", "seconds",
                 "images_per_s", "is_best")


@dataclass(frozen=True)
class FitResult:
    """How a fit ended."""

    run_dir: str
    epochs_done: int
    best_val_acc: float | None
    stopped_early: bool
    reason: str  # "finished", STOPPED_BY_USER, or why it ended early

    @property
    def stopped_by_user(self) -> bool:
        """A stop that was asked for (Stop, Ctrl-C, SIGTERM): the run can be resumed where it stood."""
        return self.reason == STOPPED_BY_USER


STOPPED_BY_USER = "stopped by the user"


class Callback:
    """Base class for training callbacks; override only the hooks you need.

    Hooks run on the training thread, between batches: keep them quick (the GUI's bridge
    emits a signal and returns). An exception raised by a hook ends the fit.
    """

    def on_fit_start(self, trainer: Trainer, info: FitStart) -> None:
        """Training is about to start (or resume)."""

    def on_batch_end(self, trainer: Trainer, stats: BatchStats) -> None:
        """Progress within an epoch (at most every config.progress_interval seconds, and at its last batch)."""

    def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
        """An epoch has finished, been validated and saved."""

    def on_notice(self, trainer: Trainer, message: str) -> None:
        """Something the user should know that does not end the run (e.g. an out-of-memory retry)."""

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        """The fit has ended normally, by request, or by an early-stopping rule."""

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None:
        """The fit is ending with `exc`, which `fit()` raises next."""


class CallbackList(Callback):
    """Several callbacks as one: each hook calls it on every callback, in order."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        self.callbacks: list[Callback] = list(callbacks)

    def __iter__(self):  # noqa: ANN204 - iterate the callbacks themselves
        return iter(self.callbacks)

    def append(self, callback: Callback) -> None:
        """Add a callback; it sees the hooks from the next one on."""
        self.callbacks.append(callback)

    def on_fit_start(self, trainer: Trainer, info: FitStart) -> None:
        for callback in self.callbacks:
            callback.on_fit_start(trainer, info)

    def on_batch_end(self, trainer: Trainer, stats: BatchStats) -> None:
        for callback in self.callbacks:
            callback.on_batch_end(trainer, stats)

    def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
        for callback in self.callbacks:
            callback.on_epoch_end(trainer, stats)

    def on_notice(self, trainer: Trainer, message: str) -> None:
        for callback in self.callbacks:
            callback.on_notice(trainer, message)

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        for callback in self.callbacks:
            callback.on_fit_end(trainer, result)

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None:
        for callback in self.callbacks:
            callback.on_exception(trainer, exc)
