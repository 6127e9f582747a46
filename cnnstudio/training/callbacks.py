"""How a training run talks to the world: callback hooks and the plain records they receive.

The trainer knows nothing of progress bars or windows; it calls these hooks on a list of
callbacks. What crosses is plain: frozen dataclasses of ints, floats and strings (never a
tensor), so a callback may hand them to another thread as they are. Accuracies are
fractions in 0..1; callbacks format them as they like.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from cnnstudio.training.trainer import Trainer

__all__ = [
    "FitStart",
    "BatchStats",
    "EpochStats",
    "FitResult",
    "Callback",
    "ConsoleProgress",
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
    aux1_loss: float | None
    aux2_loss: float | None
    is_best: bool


@dataclass(frozen=True)
class FitResult:
    """How a fit ended."""

    run_dir: str
    epochs_done: int
    best_val_acc: float | None
    stopped_early: bool
    reason: str  # "finished", "stopped by the user", or why it ended early


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


def _percent(value: float | None) -> str:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return "–"  # no validation set: never "nan %"
    return f"{100 * value:.1f} %"


class ConsoleProgress(Callback):
    """The command line's view: a one-line progress bar per epoch, then one line per epoch.

        epoch 2/3  train loss 0.21 acc 93.4 %  val loss 0.18 acc 94.8 % (top-5 99.6 %)  12.3 s  4,210 img/s

    The bar (redrawn in place with `\r`) is drawn only on a terminal unless `bar=True`:
    in a log file it would be hundreds of lines per epoch.
    """

    def __init__(self, stream: TextIO | None = None, *, width: int = 24, bar: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.bar = bar if bar is not None else self.stream.isatty()
        self._epochs = 0
        self._bar_shown = False
        self._last_draw = 0.0
        self._last_message: str | None = None

    def loading(self, done: int, total: int, message: str) -> None:
        """Dataset download / folder scan progress (a `load_dataset` progress function)."""
        now = time.monotonic()
        if self.bar:
            if done < total and now - self._last_draw < 1 / 15:
                return
            self._last_draw = now
            share = f" {100 * done / total:.0f} %" if total > 0 else ""
            self._write(f"\r\033[K{message}{share}")
            self._bar_shown = True
        elif message != self._last_message:
            self._last_message = message  # a log gets each step once, not every percent
            self._write(f"{message}\n")

    def on_fit_start(self, trainer: Trainer, info: FitStart) -> None:
        self._clear_bar()
        self._epochs = info.epochs
        resumed = f", resuming after epoch {info.start_epoch}" if info.start_epoch else ""
        self._write(
            f"training {info.arch} on {info.spec.name} ({len(info.spec.classes)} classes) at "
            f"{info.input_size}×{info.input_size}, {info.num_params:,} parameters, {info.device}, "
            f"{info.precision}{resumed}\nrun folder: {info.run_dir}\n"
        )

    def on_batch_end(self, trainer: Trainer, stats: BatchStats) -> None:
        # A terminal redraw costs little, but 30 a second is plenty to look smooth.
        now = time.monotonic()
        if not self.bar or (stats.batch < stats.num_batches and now - self._last_draw < 1 / 15):
            return
        self._last_draw = now
        filled = round(self.width * stats.batch / max(stats.num_batches, 1))
        bar = "#" * filled + "." * (self.width - filled)
        self._write(
            f"\repoch {stats.epoch}/{self._epochs} [{bar}] {stats.batch}/{stats.num_batches}  "
            f"loss {stats.loss:.3f} acc {_percent(stats.accuracy)}  {stats.images_per_s:,.0f} img/s  "
            f"eta {stats.eta_s:.0f} s "
        )
        self._bar_shown = True

    def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
        top5 = f" (top-5 {_percent(stats.val_top5)})" if stats.val_top5 is not None else ""
        aux = ""
        if stats.aux1_loss is not None and stats.aux2_loss is not None:
            aux = f"  aux loss {stats.aux1_loss:.2f}/{stats.aux2_loss:.2f}"
        best = "  *" if stats.is_best else ""
        self._clear_bar()
        val = (f"val loss {stats.val_loss:.2f} acc {_percent(stats.val_acc)}{top5}"
               if stats.val_acc == stats.val_acc else "no validation")
        self._write(
            f"epoch {stats.epoch}/{stats.epochs}  train loss {stats.train_loss:.2f} acc {_percent(stats.train_acc)}  "
            f"{val}{aux}  "
            f"{stats.seconds:.1f} s  {stats.images_per_s:,.0f} img/s  lr {stats.lr:.3g}{best}\n"
        )

    def on_notice(self, trainer: Trainer, message: str) -> None:
        self._clear_bar()
        self._write(f"note: {message}\n")

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        self._clear_bar()
        if result.stopped_early:
            self._write(f"{result.reason} after {result.epochs_done} epoch(s)\n")

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None:
        self._clear_bar()

    def _clear_bar(self) -> None:
        if self._bar_shown:
            self._write("\r\033[K" if self.stream.isatty() else "\n")  # erase the bar, or end its line
            self._bar_shown = False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
