"""The plain records a fit hands its observers: frozen, torch-free, safe to pass to another thread.

They are the bottom of `training`: the run store reads `EpochStats` back from metrics.jsonl, the
queue and the faces read `FitResult`, and none of them needs torch or the trainer to do so.
Accuracies are fractions in 0..1; a view formats them as it likes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FitPlan", "FitStart", "StepInfo", "BatchStats", "EpochStats", "FitResult", "STOPPED_BY_USER", "best_epoch",
           "improves_on"]


@dataclass(frozen=True)
class FitPlan:
    """A fit to run, the one shape every face asks for: a new run of `config` in `run_dir` (None: a
    new folder in the runs directory), or (`resume`) the run in `run_dir` continued from its last.pt.

    The window's `FitRequest` and the queue's `Launch` are this record with what they add;
    `fit.trainer.build_trainer` turns it into a `Trainer` (the one reading of it)."""

    config: Any  # the TrainConfig (its epochs: the new total when resuming)
    run_dir: str | Path | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        if self.resume and self.run_dir is None:
            raise ValueError("a resumed fit needs its run folder")


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
class StepInfo:
    """Where one training step stands, handed to the step hooks."""

    epoch: int  # 1-based
    batch: int  # 1-based, within the epoch
    num_batches: int
    global_step: int  # 1-based over the whole run: this step's number (a resume goes on counting)


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


def improves_on(val_acc: float, best_so_far: float | None) -> bool:
    """Whether an epoch's validation accuracy makes it the new best (what best.pt holds).

    Strictly better only: on a tie the first epoch to reach the best stays the best.
    """
    return best_so_far is None or val_acc > best_so_far


def best_epoch(history: Iterable[EpochStats]) -> EpochStats | None:
    """The epoch best.pt holds by `improves_on`: the first to reach the highest finite
    validation accuracy; None when no epoch has one."""
    best: EpochStats | None = None
    for stats in history:
        if math.isfinite(stats.val_acc) and improves_on(stats.val_acc, None if best is None else best.val_acc):
            best = stats
    return best


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
