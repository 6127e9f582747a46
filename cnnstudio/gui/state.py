"""What every view shares: the selection, the model on show, messages and background jobs.

A fit's own life (its state, records, device, live weights) is `gui.session.TrainingSession`'s;
this object holds what the views show whether or not anything trains.

Contract (tabs code to exactly this):

* ``StudioState(QObject)`` lives in the GUI thread; there is one per main window.
* Signals
  - ``selection_changed()`` — the architecture, its options, the dataset, the input size or
    the channel/class counts changed. Tabs that show "the chosen architecture" (Layers)
    recompute from ``arch_name``/``arch_options``/``input_size``/``in_channels``/
    ``num_classes``. Emitted once per user action (``update_selection`` batches changes).
  - ``model_changed()`` — ``model_handle`` changed: a live snapshot at an epoch end, an
    opened run, or ``None`` (nothing to inspect yet).
  - ``message(str, str)`` — ``(level, text)`` with level ``"info" | "warning" | "error"``;
    the main window shows info/warning in the status bar and errors in a message box.
    Tabs report user-facing failures with ``state.report(level, text)``.
  - ``engine_ready()`` — emitted once, when torch/torchvision have been imported in the
    background; ``torch_ready`` tells whether it already happened.
  - ``history_position_changed()`` — ``history_position`` moved: the moment of a run's history
    (``training/history.py``) that the Kernels and Feature maps tabs' sliders show, and the
    Training tab marks on its curves when that run is the one it plots.
* Properties (read anywhere in the GUI thread; setters emit the signals above)
  ``arch_name: str``, ``arch_options: dict``, ``dataset: str`` (catalog name or folder
  path), ``input_size: int``, ``in_channels: int``, ``num_classes: int``,
  ``class_names: list[str] | None``, ``spec`` (``DatasetSpec`` or ``None`` until the data
  is loaded; kept while the selected dataset is the spec's), ``model_handle: ModelHandle |
  None``, ``torch_ready: bool``, ``history_position: tuple[str, float] | None`` (a run
  folder and a place on its epoch axis: 0 the initial weights, 3.0 the end of epoch 3).
* ``ModelHandle`` is frozen and its ``model`` is a CPU eval-mode copy nobody trains (from
  ``Trainer.snapshot_model()`` or ``runs.load_model``): tabs may run it from any thread,
  but must not change its weights or mode.
* ``run_in_background(fn, *args, on_done=..., on_error=..., key=None)`` runs a slow engine
  call on the state's thread pool; ``on_done(result)`` or ``on_error(exc)`` is called later
  in the GUI thread. With a ``key``, only the latest call for that key delivers its result
  (older ones are dropped), so a tab can re-request freely when the selection changes.
  Calls made before torch has finished importing are queued and start at ``engine_ready``
  (so the window paints first). Never call slow engine code in the GUI thread.
"""

from __future__ import annotations

import gc
import importlib
import itertools
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Qt, Signal, Slot

from cnnstudio.data.spec import DatasetSpec
from cnnstudio.errors import describe
from cnnstudio.threads import default_threads, use_torch_threads
from cnnstudio.training.config import TrainConfig

__all__ = ["Job", "ModelHandle", "StudioState", "import_engine", "setup_caption"]

log = logging.getLogger(__name__)

GIL_SWITCH_INTERVAL_S = 0.0005


_UNSET: Any = object()  # a run_dir not given (None is "no run folder")


@dataclass(frozen=True, init=False)
class ModelHandle:
    """A model ready for inspection: the engine's `inspect.inputs.TrainedModel` (a CPU eval-mode
    model with its dataset spec, input size, channels, config and run folder), held as it is,
    plus what the window says of it (`source`, `arch_name`, `epoch`) and how photos are fed to it.

    Built from a `TrainedModel` (`trained_model=`, or `from_trained` / `from_run`, which keep its
    checkpoint) or from its parts (`model`, `spec`, …: the live weights of a fit); parts given
    with a `trained_model` (as `dataclasses.replace` does) make a changed copy of its record."""

    trained_model: Any  # inspect.inputs.TrainedModel; typed loosely so this module never imports torch
    source: str = ""  # for people: "live · epoch 3" or "run <name> · best (epoch 4)"
    arch_name: str = ""
    epoch: int | None = None
    live_run_dir: str | None = None  # the folder of the fit whose live weights these are
    resize_size: int | None = None  # torchvision's ImageNet weights: shorter side resized to this, then centre-cropped

    def __init__(self, model: Any = None, spec: DatasetSpec | None = None, input_size: int = 0, in_channels: int = 0,
                 source: str = "", arch_name: str = "", epoch: int | None = None, config: TrainConfig | None = None,
                 run_dir: str | None = _UNSET, live_run_dir: str | None = None, resize_size: int | None = None, *,
                 trained_model: Any = None) -> None:
        folder = None if run_dir is _UNSET or not run_dir else Path(run_dir)
        if trained_model is None:
            from cnnstudio.inspect.inputs import TrainedModel  # a model in hand: torch is loaded

            trained_model = TrainedModel(model, spec, input_size=int(input_size), in_channels=int(in_channels),
                                         name=source, run_dir=folder, config=config)
        elif parts := {**{name: value for name, value in (("model", model), ("spec", spec), ("config", config))
                          if value is not None},
                       **{name: int(value) for name, value in (("input_size", input_size), ("in_channels", in_channels))
                          if value},
                       **({} if run_dir is _UNSET else {"run_dir": folder})}:
            import dataclasses

            trained_model = dataclasses.replace(trained_model, **parts)
        set_ = object.__setattr__
        set_(self, "trained_model", trained_model)
        set_(self, "source", source or trained_model.name)
        set_(self, "arch_name", arch_name)
        set_(self, "epoch", epoch)
        set_(self, "live_run_dir", live_run_dir)
        set_(self, "resize_size", resize_size)

    # What the held TrainedModel knows (one copy, never two).
    @property
    def model(self) -> Any:  # torch.nn.Module; typed loosely so this module never imports torch
        return self.trained_model.model

    @property
    def spec(self) -> DatasetSpec:
        return self.trained_model.spec

    @property
    def input_size(self) -> int:
        return self.trained_model.input_size

    @property
    def in_channels(self) -> int:
        return self.trained_model.in_channels

    @property
    def config(self) -> TrainConfig | None:
        """What trained it: its options, and the data split it saw."""
        return self.trained_model.config

    @property
    def run_dir(self) -> str | None:
        """An opened run's folder (None for the live weights of a fit)."""
        return str(self.trained_model.run_dir) if self.trained_model.run_dir else None

    @classmethod
    def from_pretrained(cls, name: str, weights: str | None = None, *, progress: Any = None,
                        cancel: Any = None) -> ModelHandle:
        """torchvision's ImageNet weights `name` in the studio's net (from torch hub's cache,
        downloaded when missing, or the local file `weights`), ready to classify photos."""
        from cnnstudio.training.weights.pretrained import load_pretrained

        pm = load_pretrained(name, weights=weights, progress=progress, cancel=cancel,
                             give_file="open it with File ▸ Pretrained ImageNet weights ▸ From a weights file")
        return cls(model=pm.model, spec=pm.spec, input_size=pm.input_size, in_channels=pm.in_channels,
                   source=pm.described, arch_name=pm.arch,
                   resize_size=pm.resize_size)

    @classmethod
    def from_run(cls, run_dir: str | Path, which: str = "best") -> ModelHandle:
        """A run's `which` weights ("best" or "last"), labelled with the epoch they are from
        (slow: call it in the background)."""
        from cnnstudio.inspect.inputs import TrainedModel
        from cnnstudio.training.store.runs import open_run

        info = open_run(run_dir)
        used = info.checkpoint_path(which).stem  # "best" falls back to last.pt before any best
        bests = [stats.epoch for stats in info.history() if stats.is_best]
        epoch = bests[-1] if used == "best" and bests else info.epochs_done
        return cls.from_trained(TrainedModel.from_run(info, which=used),
                                source=f"run {info.name} · {used} weights (epoch {epoch})", epoch=epoch)

    @classmethod
    def from_trained(cls, trained: Any, *, source: str | None = None, epoch: int | None = None) -> ModelHandle:
        """The handle of an `inspect.inputs.TrainedModel` (a run's weights the engine loaded), held as is."""
        config = trained.config
        return cls(source=source or trained.name, epoch=epoch, trained_model=trained,
                   arch_name=config.arch if config is not None else getattr(trained.model, "arch_name", ""))

    def trained(self) -> Any:
        """These weights as the engine's `inspect.inputs.TrainedModel` (what evaluation and
        explanation take): the one the handle holds (a run's keeps its checkpoint)."""
        return self.trained_model

    @property
    def history_dir(self) -> str | None:
        """The run folder whose history (kernel and feature-map snapshots) belongs to these weights."""
        return self.run_dir or self.live_run_dir

    def describe(self) -> str:
        """What the inspection tabs say they show: "LeNet-5 · run 2026-…_lenet5 · best (epoch 4)"."""
        return f"{_arch_title(self.arch_name)} · {self.source}" if self.arch_name else self.source


_ENGINE_MODULES = (
    "torch",
    "torchvision",
    "cnnstudio.models.registry",
    "cnnstudio.data.transforms",
    "cnnstudio.inspect.summary",
    "cnnstudio.training.fit.trainer",
)


def import_engine() -> None:
    """Import torch, torchvision and the engine's heavy modules (run off the GUI thread)."""
    # The import creates ~350,000 objects that live as long as the app. Collecting while it
    # runs frees next to nothing and took 0.5 s of a 2 s import; afterwards one collection
    # drops the import's garbage and freeze() moves the rest out of the collector's sight,
    # so later full collections (each a pause for every thread) need not walk them.
    gc.disable()
    try:
        for name in _ENGINE_MODULES:
            importlib.import_module(name)
    finally:
        gc.enable()
    gc.collect()
    gc.freeze()


def _arch_title(name: str) -> str:
    """The catalog's title for `name` (torch-free), or the name itself when unknown."""
    from cnnstudio.errors import CnnStudioError
    from cnnstudio.models.catalog import get_info

    try:
        return get_info(name).title
    except CnnStudioError:
        return name


def setup_caption(state: StudioState) -> str:
    """What the inspection tabs show before any training: the panel's choice, untrained."""
    return f"setup: {_arch_title(state.arch_name)}, untrained"


class _Bridge(QObject):
    """Carries one background call's outcome back to the GUI thread (queued signals).

    The bridge lives in the GUI thread; the pool thread only emits its signals, and the
    queued connections to the bridge's own slots make delivery happen in the GUI thread.
    """

    done = Signal(object)
    failed = Signal(object)
    progressed = Signal(int, int)

    def __init__(self, deliver: Callable[[Any, bool], None], parent: QObject,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        # A child of the state: when the window (and its state) goes, undelivered results
        # go with it instead of reaching widgets that no longer exist.
        super().__init__(parent)
        self._deliver = deliver
        self.done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)
        self.failed.connect(self._on_failed, Qt.ConnectionType.QueuedConnection)
        if on_progress is not None:
            self.progressed.connect(on_progress, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _on_done(self, result: Any) -> None:
        self._deliver(result, False)

    @Slot(object)
    def _on_failed(self, exc: Any) -> None:
        self._deliver(exc, True)


class Job:
    """A long background call's handle: `cancel()` asks it to stop at its next check."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop; it ends with `errors.Cancelled` (delivered to `on_error`)."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        """Whether `cancel()` was called (the job's `cancel` callback; any thread)."""
        return self._cancelled.is_set()


# Progress crosses to the GUI thread at most this often (and once at the end): each queued
# signal wakes the GUI thread, and a pass over a dataset reports every batch.
PROGRESS_INTERVAL_S = 0.1


class _Job(QRunnable):
    """Runs ``fn(*args)`` on a pool thread and reports through its bridge."""

    def __init__(self, bridge: _Bridge, fn: Callable[..., Any], args: tuple, handle: Job | None = None) -> None:
        super().__init__()
        self._bridge = bridge
        self._fn = fn
        self._args = args
        self._handle = handle
        self._last_report = 0.0

    def _progress(self, done: int, total: int, *_message: Any) -> None:
        now = time.monotonic()
        if done < total and now - self._last_report < PROGRESS_INTERVAL_S:
            return
        self._last_report = now
        self._deliver(self._bridge.progressed, int(done), int(total))

    def run(self) -> None:  # noqa: D102 - QRunnable entry point
        try:
            if "torch" in sys.modules:  # not for the import itself
                use_torch_threads()  # the full count here; the GUI thread runs PyTorch on one
            if self._handle is not None:
                handle = self._handle
                result = self._fn(*self._args, progress=self._progress, cancel=lambda: handle.cancelled)
            else:
                result = self._fn(*self._args)
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the GUI
            self._deliver(self._bridge.failed, exc)
        else:
            self._deliver(self._bridge.done, result)

    @staticmethod
    def _deliver(signal: Any, *values: Any) -> None:
        try:
            signal.emit(*values)
        except RuntimeError:
            pass  # the state (and its bridge) is gone: the app is closing, nobody is waiting


class StudioState(QObject):
    """What the setup panel, the training session and every tab share (see the module docstring)."""

    selection_changed = Signal()
    model_changed = Signal()
    message = Signal(str, str)
    engine_ready = Signal()
    history_position_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._arch_name = "lenet5"
        self._arch_options: dict[str, Any] = {}
        self._dataset = "mnist-sample"
        self._input_size = 32
        self._in_channels = 1
        self._num_classes = 10
        self._class_names: list[str] | None = None
        self._spec: DatasetSpec | None = None
        self._model_handle: ModelHandle | None = None
        self._history_position: tuple[str, float] | None = None
        self._torch_ready = False
        self._pool = QThreadPool(self)
        # Two workers: enough for a summary and a classification at once without
        # taking more cores from training than the GUI thread already does.
        self._pool.setMaxThreadCount(2)
        # A pool thread that ran PyTorch keeps an OpenMP team until it exits, and teams
        # beyond the core count slow the training thread's every op (see cnnstudio.threads):
        # threads leave as soon as their job is done. The price: a fresh thread's first
        # forward pass is slower (AlexNet: 26-71 ms instead of 25, a new team and cold
        # caches); keeping idle threads made other threads' forwards slower still.
        self._pool.setExpiryTimeout(0)
        self._bridges: dict[int, _Bridge] = {}
        self._latest: dict[str, int] = {}
        self._ids = itertools.count()
        self._deferred: list[tuple[Any, ...]] = []  # (fn, args, on_done, on_error, key, on_progress, job)
        self._handles: dict[int, Job] = {}  # the running long jobs, cancelled on close
        self._closed = False  # the window is closing: nothing new starts, no answer is delivered

    # ----------------------------------------------------------------- selection
    @property
    def arch_name(self) -> str:
        """Registry name of the chosen architecture (``"vgg16"``)."""
        return self._arch_name

    @arch_name.setter
    def arch_name(self, value: str) -> None:
        self.update_selection(arch_name=value)

    @property
    def arch_options(self) -> dict[str, Any]:
        """Build options for the chosen architecture (a copy; set a new dict to change)."""
        return dict(self._arch_options)

    @arch_options.setter
    def arch_options(self, value: dict[str, Any]) -> None:
        self.update_selection(arch_options=value)

    @property
    def dataset(self) -> str:
        """Catalog name (``"mnist-sample"``) or an image folder's path."""
        return self._dataset

    @dataset.setter
    def dataset(self, value: str) -> None:
        self.update_selection(dataset=value)

    @property
    def input_size(self) -> int:
        """Side of the square model input in pixels."""
        return self._input_size

    @input_size.setter
    def input_size(self, value: int) -> None:
        self.update_selection(input_size=value)

    @property
    def in_channels(self) -> int:
        """Channels the model takes (the dataset's: 1 for MNIST, 3 for colour)."""
        return self._in_channels

    @in_channels.setter
    def in_channels(self, value: int) -> None:
        self.update_selection(in_channels=value)

    @property
    def num_classes(self) -> int:
        """Number of output classes (the dataset's)."""
        return self._num_classes

    @num_classes.setter
    def num_classes(self, value: int) -> None:
        self.update_selection(num_classes=value)

    @property
    def class_names(self) -> list[str] | None:
        """Class names once known (from the loaded spec or an opened run), else ``None``."""
        return list(self._class_names) if self._class_names is not None else None

    @class_names.setter
    def class_names(self, value: list[str] | None) -> None:
        self.update_selection(class_names=value)

    @property
    def spec(self) -> DatasetSpec | None:
        """The loaded dataset's ``DatasetSpec``, or ``None`` before loading."""
        return self._spec

    @spec.setter
    def spec(self, value: DatasetSpec | None) -> None:
        """Set the loaded spec; channels, classes and names follow it."""
        changes: dict[str, Any] = {"spec": value}
        if value is not None:
            changes.update(
                in_channels=int(value.channels),
                num_classes=len(value.classes),
                class_names=list(value.classes),
            )
        self.update_selection(**changes)

    def update_selection(self, **changes: Any) -> None:
        """Change several selection fields at once and emit ``selection_changed`` once.

        Accepted keys: ``arch_name``, ``arch_options``, ``dataset``, ``input_size``,
        ``in_channels``, ``num_classes``, ``class_names``, ``spec``. Nothing is emitted
        when no value actually changes.
        """
        allowed = {
            "arch_name", "arch_options", "dataset", "input_size",
            "in_channels", "num_classes", "class_names", "spec",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown selection fields {sorted(unknown)}; valid: {sorted(allowed)}")
        dataset = changes.get("dataset", self._dataset)
        if "spec" not in changes and dataset != self._dataset:
            changes["spec"] = None  # the loaded spec describes another dataset now
        spec = changes.get("spec", self._spec)
        if spec is not None and spec.name == dataset:
            # What the loaded data says beats the catalog's guess (a folder's real class count).
            changes.update(in_channels=spec.channels, num_classes=len(spec.classes), class_names=list(spec.classes))
        changed = False
        for key, value in changes.items():
            if key == "arch_options":
                value = dict(value)
            elif key in ("input_size", "in_channels", "num_classes"):
                value = int(value)
            elif key == "class_names" and value is not None:
                value = list(value)
            attr = f"_{key}"
            if getattr(self, attr) != value or (key == "spec" and getattr(self, attr) is not value):
                setattr(self, attr, value)
                changed = True
        if changed:
            self.selection_changed.emit()

    # ----------------------------------------------------------------- model
    @property
    def model_handle(self) -> ModelHandle | None:
        """The model to inspect and classify with, or ``None``."""
        return self._model_handle

    @model_handle.setter
    def model_handle(self, value: ModelHandle | None) -> None:
        self._model_handle = value
        self.model_changed.emit()

    @property
    def history_position(self) -> tuple[str, float] | None:
        """The history moment on show: (run folder, place on its epoch axis), or None."""
        return self._history_position

    def set_history_position(self, run_dir: str, x: float) -> None:
        """Move the history moment on show (emits ``history_position_changed`` when it moved)."""
        position = (str(run_dir), float(x))
        if position != self._history_position:
            self._history_position = position
            self.history_position_changed.emit()

    # ----------------------------------------------------------------- engine
    @property
    def torch_ready(self) -> bool:
        """Whether torch/torchvision are imported (engine calls will not stall on import)."""
        return self._torch_ready

    def load_engine(self, *, on_error: Callable[[BaseException], None] | None = None) -> None:
        """Import torch and the engine's heavy modules in the background; ``engine_ready``
        fires when done (at once when they already are)."""
        if self._torch_ready:
            self.engine_ready.emit()
            return
        self.run_in_background(import_engine, on_done=lambda _: self.mark_torch_ready(), on_error=on_error,
                               key="engine-import", before_engine=True)

    def mark_torch_ready(self) -> None:
        """Record that the background import finished and emit ``engine_ready`` once."""
        if not self._torch_ready:
            self._torch_ready = True
            default_threads()  # read before this thread changes its own count
            use_torch_threads(1)  # the GUI thread must not own an OpenMP team (cnnstudio.threads)
            # Training and inference threads need the GIL between PyTorch ops, and the GUI
            # thread takes it for every Python slot and override Qt calls; at the default 5 ms
            # switch interval a worker could wait that long for each handoff (a drop's
            # transform took up to 38 ms instead of 0.5).
            sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
            deferred, self._deferred = self._deferred, []
            for fn, args, on_done, on_error, key, on_progress, handle in deferred:
                self._start(fn, args, on_done, on_error, key, on_progress, handle)
            self.engine_ready.emit()

    def report(self, level: str, text: str) -> None:
        """Send a message for the user (``level``: info, warning or error)."""
        self.message.emit(level, text)

    # ----------------------------------------------------------------- background work
    def run_in_background(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None] | None = None,
        key: str | None = None,
        before_engine: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Job | None:
        """Run ``fn(*args)`` off the GUI thread; deliver its result or exception in the GUI thread.

        Without ``on_error``, a failure is reported through ``message`` ("error", `errors.describe(exc)`).
        With ``key``, a result is dropped when a newer call with the same key was made.
        With ``on_progress``, it is a long job: ``fn`` is called with ``progress(done, total)``
        and ``cancel() -> bool`` keywords (the engine's convention), ``on_progress(done, total)``
        is called in the GUI thread at most every `PROGRESS_INTERVAL_S`, and the returned `Job`
        cancels it. Calls made before the engine import finished wait for it
        (``engine_ready``) unless ``before_engine`` is true (torch-free work such as the import).
        """
        if self._closed:  # the window is going: a job now would outlive the widgets it answers
            handle = Job() if on_progress is not None else None
            if handle is not None:
                handle.cancel()
            return handle
        if not self._torch_ready and not before_engine:
            # Importing torch holds the interpreter for seconds; engine calls queued behind
            # it keep the first paint fast and run as soon as the import is done.
            handle = Job() if on_progress is not None else None
            self._deferred.append((fn, args, on_done, on_error, key, on_progress, handle))
            return handle
        return self._start(fn, args, on_done, on_error, key, on_progress,
                           Job() if on_progress is not None else None)

    def _start(self, fn: Callable[..., Any], args: tuple, on_done: Callable[[Any], None],
               on_error: Callable[[BaseException], None] | None, key: str | None,
               on_progress: Callable[[int, int], None] | None, handle: Job | None) -> Job | None:
        job_id = next(self._ids)
        if key is not None:
            self._latest[key] = job_id

        # A widget's own slots as callbacks make it the receiver: once it is deleted (a test's
        # tab, a closed dialog) its answer is dropped instead of touching freed C++ objects.
        receivers = [owner for callback in (on_done, on_error, on_progress)
                     if isinstance(owner := getattr(callback, "__self__", None), QObject)]

        def deliver(value: Any, failed: bool) -> None:
            bridge = self._bridges.pop(job_id, None)
            if bridge is not None:
                bridge.deleteLater()
            self._handles.pop(job_id, None)
            if self._closed:
                return
            if key is not None and self._latest.get(key) != job_id:
                return
            if not all(shiboken6.isValid(owner) for owner in receivers):
                return
            if not failed:
                on_done(value)
            elif on_error is not None:
                on_error(value)
            else:
                self.report("error", describe(value))

        bridge = _Bridge(deliver, self, on_progress)  # created here, so it lives in the GUI thread
        self._bridges[job_id] = bridge  # keeps the bridge alive until it delivers
        if handle is not None:
            self._handles[job_id] = handle
        self._pool.start(_Job(bridge, fn, args, handle))
        return handle

    def busy(self) -> bool:
        """Whether background calls are still running or waiting to deliver."""
        return bool(self._bridges)

    def computing(self) -> bool:
        """Whether a background call is running now (its result may still await delivery)."""
        return self._pool.activeThreadCount() > 0

    def close(self, timeout_ms: int = 30_000) -> bool:
        """The window is closing: start nothing new, cancel the long jobs, wait for the rest.

        Answers that arrive from now on are dropped: their widgets are about to go. Without
        this, a job started while the window closed (a delivered answer starting the next)
        would still run when the window is deleted, and the pool's destructor waits for it
        inside Qt with no bound. Returns whether every job ended within `timeout_ms`.
        """
        self._closed = True
        self._deferred.clear()
        for handle in list(self._handles.values()):
            handle.cancel()
        return self.wait_for_background(timeout_ms)

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    def wait_for_background(self, timeout_ms: int = 30_000, *, deliver: bool = False) -> bool:
        """Block until the pool's calls have returned (used when the window closes).

        With `deliver`, their results are handed to their callbacks too, and any calls those
        start are waited for in turn — so nothing is left to reach a widget after it is gone
        (what a test needs before its widgets are deleted).
        """
        from PySide6.QtCore import QCoreApplication

        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            if not self._pool.waitForDone(left_ms):
                return False
            if not deliver or not self._bridges:
                return True
            for bridge in list(self._bridges.values()):
                QCoreApplication.sendPostedEvents(bridge, 0)  # the bridges live in this (the GUI) thread
            if time.monotonic() > deadline:
                return not self._bridges
