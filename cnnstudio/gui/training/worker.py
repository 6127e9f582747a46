"""Training off the GUI thread: the worker object that runs one fit on a QThread.

`TrainingWorker` is Qt's worker-object pattern: a `QObject` moved to a `QThread` whose
`run` slot builds the engine's `Trainer` (loading — maybe downloading — the dataset there
too) and calls `fit()`. `_SignalBridge`, a trainer `Callback`, turns the hooks into a fixed
set of typed signals carrying plain records; the worker never touches a widget. Every
exception is caught and emitted as `errored`, then `finished` — so `finished` alone never
means success. `gui.session.TrainingSession` owns the thread and the worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from cnnstudio.gui.state import ModelHandle
from cnnstudio.training.records import BatchStats, EpochStats, FitPlan, FitResult, FitStart
from cnnstudio.training.fit.callbacks import Callback

__all__ = ["TrainingWorker"]

LOAD_REPORT_INTERVAL_S = 0.1
# Batch progress crosses to the GUI thread in bundles at most this often (and at each
# epoch's last batch): every queued signal wakes the GUI thread, and on a 2-core machine a
# wake-up is taken from one of PyTorch's threads. The Training tab redraws at 5 Hz anyway.
PROGRESS_SIGNAL_INTERVAL_S = 0.2


class TrainingWorker(QObject):
    """Runs one `Trainer.fit()` in its thread and reports through signals of plain values."""

    started = Signal(FitStart)
    loading = Signal(int, int, str)  # dataset download/scan: done, total, message
    dataset_loaded = Signal(str, object)  # the config's dataset name and its DatasetBundle (read-only)
    progress = Signal(tuple)  # tuple[BatchStats, ...]: every report since the last signal, in order
    epoch_finished = Signal(EpochStats)
    model_snapshot = Signal(ModelHandle)  # a CPU eval-mode copy
    notice = Signal(str)
    errored = Signal(BaseException)
    finished = Signal(object)  # FitResult, or None when the fit did not end normally

    def __init__(self, plan: FitPlan) -> None:
        """`plan`: the fit to run (its `run_dir` None: a fresh folder in the default runs folder)."""
        super().__init__()
        self.plan = plan
        self._lock = threading.Lock()
        self._trainer: Any = None
        self._bridge: _SignalBridge | None = None
        self._stop = threading.Event()
        self._paused = False
        self._last_load_report = 0.0

    # Called from the GUI thread while run() is busy in the worker thread, so these are
    # plain thread-safe methods, not queued slots.
    def request_stop(self) -> None:
        """Ask the fit (or the dataset load) to end after the current batch."""
        self._stop.set()
        with self._lock:
            if self._trainer is not None:
                self._trainer.request_stop()

    def pause(self) -> None:
        """Hold training between batches until `resume()`."""
        with self._lock:
            self._paused = True
            if self._trainer is not None:
                self._trainer.pause()

    def resume(self) -> None:
        """Continue a paused fit."""
        with self._lock:
            self._paused = False
            if self._trainer is not None:
                self._trainer.resume()

    def stop_requested(self) -> bool:
        """Whether Stop was asked (the dataset loader's `cancel` callback)."""
        return self._stop.is_set()

    def live_snapshot(self) -> Callable[[str], ModelHandle | None]:
        """A function that copies the fit's weights as they are now, for the inspection tabs.

        Take it in the GUI thread and call it in a background one: the copy (hundreds of MB
        for a VGG) waits for the current batch to end, and it works while paused, when
        people most want to look. It returns None once the fit is over or before it began.
        """
        with self._lock:
            bridge = self._bridge
        return bridge.live_snapshot if bridge is not None else (lambda source: None)

    @Slot()
    def run(self) -> None:
        """Load the data, build the trainer and fit; always ends with `finished`.

        A failure emits `errored` first; Stop during the dataset load is not a failure
        (`finished(None)` without `errored`).
        """
        from cnnstudio.errors import Cancelled

        result = None
        try:
            trainer = self._build_trainer()
            with self._lock:
                self._trainer = trainer
                if self._stop.is_set():
                    trainer.request_stop()
                if self._paused:
                    trainer.pause()
            result = trainer.fit()
        except Cancelled:
            pass  # the user pressed Stop while the dataset was loading
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the window
            self.errored.emit(exc)
        finally:
            with self._lock:
                self._trainer = None
            self.finished.emit(result)

    def _build_trainer(self) -> Any:
        """Load (maybe download or scan) the dataset here, with progress, then make the trainer."""
        from cnnstudio.training.fit.trainer import build_trainer

        bridge = _SignalBridge(self)
        with self._lock:
            self._bridge = bridge
        self.plan.config.validate()  # refused before the load is announced
        self.loading.emit(0, 0, f"Loading {self.plan.config.dataset}…")
        return build_trainer(self.plan, (bridge,), progress=self._on_load_progress, cancel=self._stop.is_set,
                             on_loaded=lambda bundle: self.dataset_loaded.emit(self.plan.config.dataset, bundle))

    def _on_load_progress(self, done: int, total: int, message: str) -> None:
        # Folder scans report every file; a few updates a second are all a person can read.
        now = time.monotonic()
        if done < total and now - self._last_load_report < LOAD_REPORT_INTERVAL_S:
            return
        self._last_load_report = now
        self.loading.emit(int(done), int(total), str(message))


class _SignalBridge(Callback):
    """The trainer's callback that turns each hook into one of the worker's signals."""

    def __init__(self, worker: TrainingWorker) -> None:
        self._worker = worker
        self._info: FitStart | None = None
        self._trainer: Any = None  # from the fit's start to its end: what live snapshots copy
        self._pending: list[BatchStats] = []
        self._last_batch: BatchStats | None = None
        self._snapshot_epoch = 0  # the last epoch whose end sent the weights to the window
        self._last_progress = 0.0

    def on_fit_start(self, trainer: Any, info: FitStart) -> None:
        self._info = info
        self._trainer = trainer
        self._last_progress = time.monotonic()
        self._worker.started.emit(info)

    def _handle(self, trainer: Any, source: str, epoch: int | None) -> ModelHandle:
        info = self._info
        return ModelHandle(
            model=trainer.snapshot_model(),  # under the trainer's model lock: never half a step
            spec=trainer.spec,
            input_size=int(info.input_size),
            in_channels=int(trainer.spec.channels),
            source=source,
            arch_name=str(info.arch),
            epoch=epoch,
            config=trainer.config,
            live_run_dir=str(trainer.run_dir) if trainer.run_dir is not None else None,
        )

    def live_snapshot(self, source: str) -> ModelHandle | None:
        """The weights now, labelled `source` (any thread; see `TrainingWorker.live_snapshot`)."""
        trainer = self._trainer
        return self._handle(trainer, source, None) if trainer is not None else None

    def on_batch_end(self, trainer: Any, stats: BatchStats) -> None:
        self._pending.append(stats)
        self._last_batch = stats
        if (stats.batch == stats.num_batches
                or time.monotonic() - self._last_progress >= PROGRESS_SIGNAL_INTERVAL_S):
            self._flush_progress()

    def _flush_progress(self) -> None:
        if self._pending:
            bundle, self._pending = tuple(self._pending), []
            self._worker.progress.emit(bundle)
        self._last_progress = time.monotonic()

    def on_epoch_end(self, trainer: Any, stats: EpochStats) -> None:
        self._worker.epoch_finished.emit(stats)
        self._worker.model_snapshot.emit(self._handle(trainer, f"live · epoch {stats.epoch}", int(stats.epoch)))
        self._snapshot_epoch = int(stats.epoch)

    def on_notice(self, trainer: Any, message: str) -> None:
        self._worker.notice.emit(message)

    def on_fit_end(self, trainer: Any, result: FitResult) -> None:
        """Deliver the last batches (and weights) of a fit stopped mid-epoch; `run()` emits `finished`."""
        self._trainer = None  # the fit's model is not kept alive by a snapshot function
        self._flush_progress()
        last = self._last_batch
        if last is not None and last.epoch > self._snapshot_epoch and trainer.model is not None:
            # The inspection tabs show what Stop left (last.pt), not the last epoch end's weights.
            self._worker.model_snapshot.emit(self._handle(
                trainer, f"stopped · epoch {last.epoch}, batch {last.batch} of {last.num_batches}", None))

    def on_exception(self, trainer: Any, exc: BaseException) -> None:
        """Deliver what came before the failure; `run()` catches it and emits `errored`."""
        self._trainer = None
        self._flush_progress()
