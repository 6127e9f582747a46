"""How a training run talks to the world: the callback hooks, and the policy of the list that calls them.

This module is the whole contract between the trainer and whoever watches it. The trainer
knows nothing of progress bars, windows or recorders; it calls these hooks, as methods, on a
`CallbackList`. The faces' own callbacks live with them (the console bar in `cli.py`, the
window's signal bridge in the GUI); the run's recorders (`snapshot_writer`, `dynamics`) are
callbacks too. What crosses is plain: the frozen records of `training.records` (never a
tensor, except the step hooks' `StepOutput`, which stays on the training thread).

Two kinds of callback, one policy (`CallbackList`):
- a **face** (progress bar, the window's bridge): an exception it raises ends the fit;
- an **observer** (`observer = True`: the history, the dynamics): it only records, so an
  exception it raises ends *its* recording with a notice, never the training; an out-of-memory
  error or a stop arriving inside it skips that one call. `rank_zero_only = True` keeps it to
  the process that writes the run folder under torchrun.

The step hooks (`on_train_batch_start`, `on_after_backward`, `on_before_optimizer_step`,
`on_train_batch_end`) run inside every training step, in the manner of Lightning's: the
gradients they see are unscaled. The list calls only the callbacks that override a hook, and
the trainer skips a hook no one listens to, so an unobserved step costs nothing extra.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from cnnstudio.errors import describe
from cnnstudio.training.records import BatchStats, EpochStats, FitResult, FitStart, StepInfo

if TYPE_CHECKING:
    from torch.optim import Optimizer

    from cnnstudio.training.fit.step import StepOutput
    from cnnstudio.training.fit.trainer import Trainer

__all__ = ["Callback", "CallbackList", "CallbackStepHooks", "HOOKS", "STEP_HOOKS"]


class Callback:
    """Base class for training callbacks; override only the hooks you need.

    Hooks run on the training thread: keep them quick (the GUI's bridge emits a signal and
    returns). Set `observer = True` for a callback that only records (see the module's policy).
    """

    observer: bool = False  # a failure ends this callback's recording, never the fit
    rank_zero_only: bool = False  # only the process that writes the run folder runs it
    title: str = ""  # how a notice names it ("the run's history"); the class name otherwise

    def on_fit_start(self, trainer: Trainer, info: FitStart) -> None:
        """Training is about to start (or resume)."""

    def on_train_batch_start(self, trainer: Trainer, step: StepInfo) -> None:
        """A training step is about to run its forward pass (forward hooks go on here)."""

    def on_after_backward(self, trainer: Trainer, step: StepInfo) -> None:
        """Backward is done: the parameters' `.grad` hold this step's (unscaled) gradients."""

    def on_before_optimizer_step(self, trainer: Trainer, step: StepInfo, optimizer: Optimizer) -> None:
        """The optimizer is about to change the weights (gradients unscaled)."""

    def on_train_batch_end(self, trainer: Trainer, step: StepInfo, output: StepOutput) -> None:
        """The step's optimizer update is done; `output` holds its loss (on the device: read it only when needed)."""

    def on_batch_end(self, trainer: Trainer, stats: BatchStats) -> None:
        """Progress within an epoch (at most every config.progress_interval seconds, and at its last batch)."""

    def on_epoch_validated(self, trainer: Trainer, stats: EpochStats) -> None:
        """An epoch has been trained and validated; its files (metrics, last.pt) are written next,
        so a recorder that writes here is redone with the epoch if a kill comes in between."""

    def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
        """An epoch has finished, been validated and saved."""

    def on_notice(self, trainer: Trainer, message: str) -> None:
        """Something the user should know that does not end the run (e.g. an out-of-memory retry)."""

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        """The fit has ended normally, by request, or by an early-stopping rule."""

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None:
        """The fit is ending with `exc`, which `fit()` raises next."""


HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))
STEP_HOOKS = ("on_train_batch_start", "on_after_backward", "on_before_optimizer_step", "on_train_batch_end")


class CallbackList(Callback):
    """Several callbacks as one, with the policy above: each hook calls, in order, the callbacks
    that override it; an observer's failure removes that observer with a notice."""

    def __init__(self, callbacks: Iterable[Callback] = (), *, main_process: bool = True) -> None:
        self.main_process = main_process
        self.callbacks: list[Callback] = []
        self._listeners: dict[str, list[Callback]] = {}
        for callback in callbacks:
            self.append(callback)

    def __iter__(self):  # noqa: ANN204 - iterate the callbacks themselves
        return iter(self.callbacks)

    def append(self, callback: Callback) -> None:
        """Add a callback (unless it is rank-0-only and this is another rank); it sees the hooks from the next one on."""
        if callback.rank_zero_only and not self.main_process:
            return
        self.callbacks.append(callback)
        self._index()

    def set_main_process(self, main_process: bool) -> None:
        """Under torchrun: on a rank that does not write the run folder, rank-0-only callbacks go."""
        self.main_process = main_process
        self.callbacks = [cb for cb in self.callbacks if main_process or not cb.rank_zero_only]
        self._index()

    def remove(self, callback: Callback) -> None:
        self.callbacks.remove(callback)
        self._index()

    def _index(self) -> None:
        self._listeners = {
            hook: [cb for cb in self.callbacks
                   if isinstance(cb, CallbackList) or getattr(type(cb), hook) is not getattr(Callback, hook)]
            for hook in HOOKS
        }

    def listens(self, hook: str) -> bool:
        """Whether any callback overrides `hook` (the trainer skips a step hook no one listens to)."""
        return bool(self._listeners[hook])

    def _call(self, hook: str, trainer: Trainer, *args: Any) -> None:
        for callback in self._listeners[hook]:
            if not callback.observer:
                getattr(callback, hook)(trainer, *args)
                continue
            try:
                getattr(callback, hook)(trainer, *args)
            except Exception as exc:  # noqa: BLE001 - whatever breaks a recording, the training goes on
                import torch  # a fit is running: torch is loaded (this module stays torch-free to import)

                from cnnstudio.training.fit.interrupt import Interrupted

                if isinstance(exc, Interrupted):
                    continue  # a stop arrived inside the observer's own forward pass: the fit sees it next
                if isinstance(exc, torch.cuda.OutOfMemoryError):
                    continue  # this sample is skipped; the next may fit (an out-of-memory retry lowers the batch)
                if callback in self.callbacks:
                    self.remove(callback)
                name = callback.title or type(callback).__name__
                self.on_notice(trainer, f"{name} stopped: {describe(exc)}; training goes on")

    def on_fit_start(self, trainer: Trainer, info: FitStart) -> None:
        self._call("on_fit_start", trainer, info)

    def on_train_batch_start(self, trainer: Trainer, step: StepInfo) -> None:
        self._call("on_train_batch_start", trainer, step)

    def on_after_backward(self, trainer: Trainer, step: StepInfo) -> None:
        self._call("on_after_backward", trainer, step)

    def on_before_optimizer_step(self, trainer: Trainer, step: StepInfo, optimizer: Optimizer) -> None:
        self._call("on_before_optimizer_step", trainer, step, optimizer)

    def on_train_batch_end(self, trainer: Trainer, step: StepInfo, output: StepOutput) -> None:
        self._call("on_train_batch_end", trainer, step, output)

    def on_batch_end(self, trainer: Trainer, stats: BatchStats) -> None:
        self._call("on_batch_end", trainer, stats)

    def on_epoch_validated(self, trainer: Trainer, stats: EpochStats) -> None:
        self._call("on_epoch_validated", trainer, stats)

    def on_epoch_end(self, trainer: Trainer, stats: EpochStats) -> None:
        self._call("on_epoch_end", trainer, stats)

    def on_notice(self, trainer: Trainer, message: str) -> None:
        self._call("on_notice", trainer, message)

    def on_fit_end(self, trainer: Trainer, result: FitResult) -> None:
        self._call("on_fit_end", trainer, result)

    def on_exception(self, trainer: Trainer, exc: BaseException) -> None:
        self._call("on_exception", trainer, exc)


class CallbackStepHooks:
    """`train_step`'s observer for a fit: forwards the step's moments to `trainer.callbacks`' step hooks
    (the trainer sets `step` before each step)."""

    def __init__(self, trainer: Trainer, optimizer: Optimizer) -> None:
        self.trainer = trainer
        self.optimizer = optimizer
        callbacks = trainer.callbacks
        self.wants_gradients = callbacks.listens("on_after_backward") or callbacks.listens("on_before_optimizer_step")
        self.step: StepInfo | None = None

    def after_forward(self) -> None:
        pass

    def after_backward(self) -> None:
        self.trainer.callbacks.on_after_backward(self.trainer, self.step)

    def before_optimizer_step(self) -> None:
        self.trainer.callbacks.on_before_optimizer_step(self.trainer, self.step, self.optimizer)
