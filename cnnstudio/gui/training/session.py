"""A fit's whole life in the window, in one object: `TrainingSession`.

It takes a `TrainConfig` (what `SetupPanel.config()` gives) or a run folder to resume,
owns the training thread and its worker, and is the one home of everything a fit knows
while it runs: its `TrainingState`, the latest batch and epoch records, the device's name,
the live copies of its weights, and the words of its status lines and errors. Views
listen to its typed signals and never poke each other; the main window keeps layout,
actions, settings and drops.

Lifecycle: `start()` / `resume()` → `preparing(FitRequest)` → `loading(done, total, msg)`
… → `started(FitStart)` → `progress(tuple[BatchStats])` / `epoch_finished(EpochStats)`
/ `model_snapshot(ModelHandle)` … → `finished(FitResult | None, BaseException | None)`,
emitted once per fit, after its thread has really stopped (so a listener may start the
next fit at once: a queue of fits is a listener of `finished` that calls `start`). A
failure also emits `failed(message, retryable)` before `finished`.

Stop and pause are cooperative (the trainer checks a flag every batch; never
`QThread.terminate()`); Stop still writes last.pt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThread, Signal, Slot

from cnnstudio.choices import Choice
from cnnstudio.errors import CnnStudioError, DownloadError, describe
from cnnstudio.gui.state import ModelHandle, StudioState
from cnnstudio.gui.training.worker import TrainingWorker
from cnnstudio.training.records import BatchStats, EpochStats, FitPlan, FitResult, FitStart
from cnnstudio.training.config import TrainConfig

__all__ = ["FitControls", "FitRequest", "TrainingSession", "TrainingState"]


class TrainingState(Choice):
    """Where the session's fit is: nothing running, training, held between batches, winding down."""

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"


@dataclass(frozen=True)
class FitRequest(FitPlan):
    """One fit to run (a `FitPlan`: a new run of `config`, or the run folder `run_dir` resumed),
    with what the window shows of it. `run_dir` is a str here."""

    label: str = ""  # for people: the run's name when resuming
    history: tuple[EpochStats, ...] = ()  # a resumed run's finished epochs, drawn beside the new ones


@dataclass(frozen=True)
class FitControls:
    """Which of Start, Pause/Resume and Stop may be pressed: the one rule the setup panel's
    buttons and the main window's actions both follow (`TrainingSession.controls`)."""

    start: bool
    pause: bool
    stop: bool

    @classmethod
    def of(cls, training: str, torch_ready: bool) -> FitControls:
        """Start when no fit runs and PyTorch has loaded; Pause and Stop while one trains or is paused."""
        steering = training in (TrainingState.RUNNING, TrainingState.PAUSED)
        return cls(start=training == TrainingState.IDLE and torch_ready, pause=steering, stop=steering)


class TrainingSession(QObject):
    """At most one fit at a time, from request to a stopped thread (see the module docstring)."""

    state_changed = Signal(str)  # a TrainingState
    preparing = Signal(FitRequest)  # accepted; its thread is starting
    loading = Signal(int, int, str)  # dataset download/scan: done, total (0: unknown), message
    dataset_loaded = Signal(TrainConfig, object)  # the config and the DatasetBundle loaded for it (read-only)
    started = Signal(FitStart)
    progress = Signal(tuple)  # tuple[BatchStats, ...] in order, at most ~5 bundles a second
    epoch_finished = Signal(EpochStats)
    model_snapshot = Signal(ModelHandle)  # also written to the studio state's model_handle
    notice = Signal(str)  # news that does not end the fit (an out-of-memory retry)
    status = Signal(str)  # the session's one-line account of itself, for the status bar
    failed = Signal(str, bool)  # what went wrong in words; whether retrying may help
    finished = Signal(object, object)  # FitResult | None, BaseException | None

    def __init__(self, studio: StudioState, parent: QObject | None = None) -> None:
        # Without a parent the session belongs to its state: a session left to Python's collector
        # would be deleted at any moment, with its signals' queued calls still pending.
        super().__init__(parent if parent is not None else studio)
        self._studio = studio
        self._state = TrainingState.IDLE
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._request: FitRequest | None = None
        self._info: FitStart | None = None
        self._device_label = ""
        self._latest_batch: BatchStats | None = None
        self._latest_epoch: EpochStats | None = None
        self._snapshot_batch: tuple[int, int] | None = None  # (epoch, batch) of the weights on show
        self._result: FitResult | None = None
        self._error: BaseException | None = None
        #: Which saved weights the inspection tabs get when a fit ends: "best" or "last".
        self.weights_after_fit = "best"

    # ------------------------------------------------------------------ what it knows
    @property
    def state(self) -> TrainingState:
        """The fit's state; IDLE when none runs."""
        return self._state

    @property
    def active(self) -> bool:
        """Whether a fit (or its dataset load) is in progress or its thread still winding down."""
        return self._thread is not None

    @property
    def request(self) -> FitRequest | None:
        """The fit running now, or the last one."""
        return self._request

    @property
    def fit_info(self) -> FitStart | None:
        """What the running (or last) fit trains, once it has started."""
        return self._info

    @property
    def latest_batch(self) -> BatchStats | None:
        """The running (or last) fit's newest batch report; None before its first."""
        return self._latest_batch

    @property
    def device_label(self) -> str:
        """The device the running (or last) fit trains on, as the device list names it."""
        return self._device_label

    def controls(self, training: str | None = None) -> FitControls:
        """Which fit controls may be pressed in `training` (default: the session's state now)."""
        return FitControls.of(self._state if training is None else training, self._studio.torch_ready)

    def _set_state(self, state: TrainingState) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    # ------------------------------------------------------------------ starting
    def start(self, config: TrainConfig, *, run_dir: str | Path | None = None, label: str = "") -> bool:
        """Validate `config` and start a new run of it (in `run_dir`, an empty or new folder; None: a
        new folder in the runs directory); False (and `failed`) when it cannot start. `label` names
        it for people (a queued run's: its variant), in the status bar."""
        if not self._can_start():
            return False
        try:
            config.validate()
        except CnnStudioError as exc:
            self.failed.emit(str(exc), False)
            return False
        return self._launch(FitRequest(config=config, run_dir=None if run_dir is None else str(run_dir), label=label))

    def resume(self, run_dir: str | Path, *, more_epochs: int, label: str = "") -> bool:
        """Continue a saved run where it stopped, in its own folder with its own settings; a run
        that already has all its epochs gets `more_epochs` more."""
        if not self._can_start():
            if self.active:
                self.failed.emit("A training is running; stop it before resuming another run.", False)
            return False
        from cnnstudio.training.store.runs import open_run

        try:
            run = open_run(run_dir)
            config = run.config
            history = tuple(run.history())
        except CnnStudioError as exc:
            self.failed.emit(str(exc), False)
            return False
        if run.epochs_done >= config.epochs:
            config = config.replace(epochs=run.epochs_done + more_epochs)
        return self._launch(FitRequest(config=config, run_dir=str(run_dir), resume=True, label=label or run.name,
                                       history=history))

    def retry(self) -> bool:
        """Start the last request again (after a failed download, say)."""
        request = self._request
        return request is not None and self._can_start() and self._launch(request)

    def _can_start(self) -> bool:
        if self.active or self._state != TrainingState.IDLE:
            return False
        if not self._studio.torch_ready:
            self.status.emit("PyTorch is still loading; Start will be available in a moment")
            return False
        return True

    def _launch(self, request: FitRequest) -> bool:
        self._request, self._info = request, None
        self._latest_batch = self._latest_epoch = None
        self._snapshot_batch = None
        self._result, self._error = None, None
        self.preparing.emit(request)
        self._set_state(TrainingState.RUNNING)
        config = request.config
        if request.resume:
            done = len(request.history)
            self.status.emit(f"Resuming {request.label} at epoch {done + 1} of {config.epochs}…")
        else:
            self.status.emit(f"Preparing {request.label or config.arch} on {config.dataset}…")
        thread = QThread()
        thread.setObjectName("cnnstudio-training")
        worker = TrainingWorker(request)
        worker.moveToThread(thread)
        worker.started.connect(self._on_started)
        worker.loading.connect(self._on_loading)
        worker.dataset_loaded.connect(self._on_dataset_loaded)
        worker.progress.connect(self._on_progress)
        worker.epoch_finished.connect(self._on_epoch)
        worker.model_snapshot.connect(self._on_snapshot)
        worker.notice.connect(self.notice)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_worker_finished)
        # The worker's own finished (in its thread) ends the event loop; deletion follows the thread.
        worker.finished.connect(thread.quit)
        thread.started.connect(worker.run)
        thread.finished.connect(self._on_thread_finished)
        thread.finished.connect(worker.deleteLater)
        self._thread, self._worker = thread, worker
        thread.start()
        return True

    # ------------------------------------------------------------------ steering
    def toggle_pause(self) -> None:
        """Pause a running fit between batches, or resume a paused one."""
        if self._worker is None:
            return
        if self._state == TrainingState.RUNNING:
            self._worker.pause()
            self._set_state(TrainingState.PAUSED)
            self.status.emit("Paused — press Resume (Ctrl+P) to go on")
        elif self._state == TrainingState.PAUSED:
            self._worker.resume()
            self._set_state(TrainingState.RUNNING)
            self.status.emit("Training…")

    def stop(self) -> None:
        """Ask the fit to stop after the current batch; the run and its last.pt are kept."""
        if self._worker is None:
            return
        if self._state == TrainingState.PAUSED:
            self._worker.resume()  # a paused trainer must wake up to see the stop
        self._worker.request_stop()
        self._set_state(TrainingState.STOPPING)
        self.status.emit("Stopping after the current batch…")

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until the fit's thread has stopped (after `stop`); True when it has.

        For exit paths that cannot return to the event loop; `finished` is delivered here.
        """
        thread = self._thread
        if thread is None:
            return True
        done = thread.wait(timeout_ms)
        if done:
            # Deliver now the worker's queued signals to this object (they may never see
            # another event loop turn). Only this object's: posted events may be sent only in
            # the thread their receiver lives in, and the worker lived in the fit's thread.
            QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall)
            self._on_thread_finished()
        return done

    def request_live_snapshot(self) -> None:
        """Show the inspection tabs the running fit's weights as they are now (copied in the
        background); nothing when the weights on show are already from the latest batch."""
        stats, worker = self._latest_batch, self._worker
        if (stats is None or worker is None or self._state not in (TrainingState.RUNNING, TrainingState.PAUSED)
                or (stats.epoch, stats.batch) == self._snapshot_batch):
            return
        self._snapshot_batch = (stats.epoch, stats.batch)
        studio, shown = self._studio, self._studio.model_handle

        def show(handle: ModelHandle | None) -> None:
            # Dropped when an epoch-end snapshot (newer) came meanwhile, or the fit ended.
            if handle is not None and studio.model_handle is shown:
                studio.model_handle = handle

        studio.run_in_background(
            worker.live_snapshot(), f"live · epoch {stats.epoch}, batch {stats.batch} of {stats.num_batches}",
            on_done=show, key="live-snapshot")

    # ------------------------------------------------------------------ the worker's news
    @Slot(FitStart)
    def _on_started(self, info: FitStart) -> None:
        from cnnstudio.training.fit.devices import device_title

        self._info = info
        self._device_label = device_title(info.device)
        self._snapshot_batch = None
        if info.spec is not None:
            self._studio.spec = info.spec
        self.started.emit(info)
        if self._state == TrainingState.RUNNING:
            label = self._request.label if self._request is not None and self._request.label else info.arch
            self.status.emit(f"Training {label} on {info.spec.name}…")  # a queued run: its variant

    @Slot(int, int, str)
    def _on_loading(self, done: int, total: int, message: str) -> None:
        self.loading.emit(done, total, message)
        self.status.emit(f"{message or 'Loading the dataset…'} — Stop cancels")

    @Slot(str, object)
    def _on_dataset_loaded(self, _name: str, bundle: object) -> None:
        if self._request is not None:
            self.dataset_loaded.emit(self._request.config, bundle)

    @Slot(tuple)
    def _on_progress(self, bundle: tuple) -> None:
        if bundle:
            self._latest_batch = bundle[-1]
        self.progress.emit(bundle)

    @Slot(EpochStats)
    def _on_epoch(self, stats: EpochStats) -> None:
        self._latest_epoch = stats
        self.epoch_finished.emit(stats)

    @Slot(ModelHandle)
    def _on_snapshot(self, handle: ModelHandle) -> None:
        stats = self._latest_batch  # an epoch end: its last batch
        self._snapshot_batch = (stats.epoch, stats.batch) if stats is not None else None
        self._studio.model_handle = handle
        self.model_snapshot.emit(handle)

    @Slot(BaseException)
    def _on_errored(self, exc: BaseException) -> None:
        self._error = exc

    @Slot(object)
    def _on_worker_finished(self, result: FitResult | None) -> None:
        self._result = result

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        if thread is None:
            return  # already delivered by wait()
        # `finished` is emitted from inside the thread just before it really ends; a
        # QThread destroyed in that instant aborts the process, so wait the last moment out.
        thread.wait()
        thread.deleteLater()
        self._thread, self._worker = None, None
        result, error = self._result, self._error
        self._set_state(TrainingState.IDLE)
        if error is not None:
            self._report_failure(error)
        elif result is not None:
            self.status.emit(f"{'Stopped' if result.stopped_early else 'Finished'} — run saved in {result.run_dir}")
            self._show_saved_weights(result.run_dir)
        else:
            self.status.emit("Stopped before training began")
        self.finished.emit(result, error)

    def _show_saved_weights(self, run_dir: str) -> None:
        """Hand the inspection tabs the run's saved weights (`weights_after_fit`), labelled, in
        place of the last live copy — unless someone opened another model meanwhile."""
        studio, shown = self._studio, self._studio.model_handle

        def show(handle: ModelHandle) -> None:
            if studio.model_handle is shown:
                studio.model_handle = handle

        def failed(exc: BaseException) -> None:
            self.status.emit(f"The run is saved, but its {self.weights_after_fit} weights could not be loaded: "
                             f"{describe(exc)}")

        studio.run_in_background(ModelHandle.from_run, run_dir, self.weights_after_fit, on_done=show,
                                 on_error=failed, key="weights-after-fit")

    def _report_failure(self, error: BaseException) -> None:
        started = self._info is not None
        if isinstance(error, DownloadError):
            self.failed.emit(f"{describe(error)}\n\nPut the files there by hand, or connect and retry.", True)
            self.status.emit("The dataset could not be downloaded")
            return
        self.failed.emit(describe(error, doing=None if isinstance(error, CnnStudioError) else "Training"), False)
        if not started:
            self.status.emit("Training ended with an error before its first batch")
        elif self._saved_checkpoints():
            self.status.emit("Training ended with an error; the checkpoints saved so far are kept")
        else:
            self.status.emit("Training ended with an error before any checkpoint was saved")

    def _saved_checkpoints(self) -> bool:
        """Whether the failed fit's run folder holds a checkpoint (a resumed run's older ones count)."""
        if self._info is None:
            return False
        run_dir = Path(self._info.run_dir)
        return any((run_dir / name).is_file() for name in ("last.pt", "best.pt"))

    def failure_summary(self) -> str:
        """The Training tab's line after a failed fit: what is kept depends on what is on disk."""
        if self._info is None:
            return "Training could not start (see the message); nothing was trained."
        if not self._saved_checkpoints():
            return "Training ended with an error in its first epoch (see the message); no checkpoint was saved."
        if self._latest_epoch is None:  # a resumed run that failed before finishing a new epoch
            return f"Training ended with an error (see the message); the earlier checkpoints are kept in {self._info.run_dir}."
        return (f"Training ended with an error (see the message); the checkpoints of epoch "
                f"{self._latest_epoch.epoch} and before are kept in {self._info.run_dir}.")
