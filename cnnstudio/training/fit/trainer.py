"""The training loop: one `Trainer` per run, reporting only through callbacks.

The loop is a plain PyTorch loop tuned to keep the device busy: batches come from the
data package already on the device, metrics accumulate on the device and are read back
(`.tolist()`, one sync) only at the callbacks' throttle points and at epoch ends; on CUDA
it uses autocast (bf16 where supported, else fp16 with a GradScaler), channels_last and
cudnn.benchmark.

Control is cooperative and thread-safe: `request_stop()`, `pause()` and `resume()` set
`threading.Event`s that the loop checks between batches, so another thread (the app's
window) can steer a fit running on a worker thread. A stop is also checked between layers
(`interrupt.LayerInterrupt`): the batch in progress is discarded, so Stop acts within a
layer's time even when one batch takes minutes. A stop still saves `last.pt`.

Faults: a NaN/Inf loss raises `TrainingError` naming the epoch, batch and learning rate,
and leaves the last good checkpoint as it was. A CUDA out-of-memory error frees memory,
tells the callbacks (`on_notice`) and retries the epoch at half the batch size; at batch
size 1 it gives up with a `TrainingError`.
"""

from __future__ import annotations

import gc
import math
import random
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnstudio.choices import Schedule
from cnnstudio.errors import CheckpointError, CnnStudioError, TrainingError, describe
from cnnstudio.progress import CancelFn, ProgressFn
from cnnstudio.threads import use_torch_threads
from cnnstudio.training.config import TrainConfig
from cnnstudio.training.fit import preflight
from cnnstudio.training.fit.callbacks import STEP_HOOKS, Callback, CallbackList, CallbackStepHooks
from cnnstudio.training.fit.devices import resolve_device
from cnnstudio.training.fit.interrupt import Interrupted, LayerInterrupt
from cnnstudio.training.fit.optim import make_optimizer
from cnnstudio.training.fit.rng import exclusive_rng
from cnnstudio.training.fit.step import amp_dtype, autocast, make_scaler, train_step
from cnnstudio.training.fit.training_data import load_training_data
from cnnstudio.training.records import (STOPPED_BY_USER, BatchStats, EpochStats, FitPlan, FitResult, FitStart,
                                        StepInfo, improves_on)
from cnnstudio.training.store import new_run, runs
from cnnstudio.training.store.checkpoints import load_checkpoint, load_model_state

if TYPE_CHECKING:
    from cnnstudio.data.loaders import DatasetBundle

__all__ = ["Trainer", "build_trainer"]

T = TypeVar("T")

# Settings that define what is being trained; a resumed run must keep them.
_FIXED_ON_RESUME = ("arch", "arch_options", "dataset", "input_size", "val_fraction", "seed", "optimizer", "schedule",
                    "pretrained", "finetune")
# What last.pt must hold for an exact resume.
_RESUMABLE_KEYS = ("model", "optimizer", "scheduler", "scaler", "epoch", "global_step", "rng", "history",
                   "best_val_acc", "lr_drops", "batch_size")


def _rng_state() -> dict[str, Any]:
    """Every RNG the loop draws from, as weights_only-loadable tensors."""
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": torch.tensor(py_internal, dtype=torch.int64),
        "python_version": py_version,
        "python_gauss": py_gauss,
        "numpy": torch.from_numpy(np_keys.astype(np.int64)),
        "numpy_kind": np_kind,
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_gauss": float(np_gauss),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    random.setstate((state["python_version"], tuple(int(v) for v in state["python"].tolist()), state["python_gauss"]))
    np.random.set_state((state["numpy_kind"], state["numpy"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_gauss"]))


def _cpu_state(state: Any) -> Any:
    """A (nested) state dict with every tensor copied to the CPU, so checkpoints open anywhere."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: _cpu_state(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_cpu_state(v) for v in state)
    return state



def _checked_partial(partial: Any, path: Path) -> dict[str, Any] | None:
    """last.pt's mid-epoch state, checked like any other input (None: stopped between epochs)."""
    if not partial:
        return None

    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    ok = isinstance(partial, dict) and all(whole(partial.get(k)) for k in ("epoch", "batch", "batches", "batch_size"))
    if ok and partial.get("train") is None:
        totals = partial.get("totals")
        ok = (isinstance(totals, list) and len(totals) == 4 and all(isinstance(v, float) for v in totals)
              and whole(partial.get("seen")) and isinstance(partial.get("elapsed"), float)
              and isinstance(partial.get("has_aux"), bool))
    elif ok:
        ok = isinstance(partial["train"], dict) and isinstance(partial["train"].get("loss"), float)
    if not ok or partial["batch"] > partial["batches"]:
        raise CheckpointError(f"{path}: its mid-epoch state is damaged — resume is not possible; "
                              "its weights can still be used for classifying")
    return partial


def _scan_record(report: Any) -> dict[str, Any] | None:
    """A folder scan's report as run.json stores it (None for the catalog's datasets)."""
    if report is None:
        return None
    return {"used": int(report.used), "skipped_count": int(report.skipped_count),
            "skipped": [[str(path), str(reason)] for path, reason in report.skipped]}


class Trainer:
    """Trains one model on one dataset as a `TrainConfig` says, writing a run folder.

    `run_dir` is the run's own folder (created if missing; it must not already hold a
    run); None makes a new one under `runs.default_runs_dir()`. `resume_from` is a run
    folder to continue in: its last.pt restores model, optimizer, scheduler, AMP scaler,
    epoch and RNG states, and `config.epochs` is the new total. `bundle` is an already
    loaded `DatasetBundle` (the app scans folders with a progress bar first); None loads
    `config.dataset`.
    """

    def __init__(self, config: TrainConfig, callbacks: Iterable[Callback] = (), *,
                 run_dir: str | Path | None = None, resume_from: str | Path | None = None,
                 bundle: Any = None) -> None:
        self.config = config.validate()
        self.callbacks = CallbackList(callbacks)
        if run_dir is not None and resume_from is not None and Path(run_dir) != Path(resume_from):
            raise CnnStudioError("a resumed run continues in its own folder; give resume_from only")
        self._run_dir_arg = Path(resume_from or run_dir) if (resume_from or run_dir) else None
        self._resume = resume_from is not None
        self._bundle = bundle
        self.model: nn.Module | None = None
        self.spec: Any = None
        self.run_dir: Path | None = None
        self.device: torch.device | None = None
        self.history: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        # Held while the weights change (a whole step, hooks included); snapshot_model and the
        # recorders take it too. Re-entrant: a recorder called inside a step takes it again.
        self.model_lock = threading.RLock()
        self._dist: Any = None  # a distributed.DistContext under torchrun (set by fit)
        self._main = True  # the process that writes the run folder
        self._interrupt: LayerInterrupt | None = None
        self._run_lock: runs.RunLock | None = None  # the run folder's OS lock, held for the whole fit
        self._made_dir = False  # this fit created its run folder (a refused start takes it away)
        self._started = False  # the run folder has been written: from here on a failure is the run's
        self._has_val = True
        self._resume_partial: dict[str, Any] | None = None  # where a mid-epoch stop left the epoch
        self._partial: dict[str, Any] | None = None  # where this fit stopped mid-epoch
        # What observers read (set by the setup): the unwrapped model (never DDP's wrapper nor
        # compiled: hooks go on it), the loaded data, where a resume starts.
        self.bare_model: nn.Module | None = None
        self.bundle: Any = None
        self.resume_point: tuple[int, int] | None = None  # (epochs done, batches done in the next), resuming
        self.global_step = 0
        self.batch_size = self.config.batch_size

    # -- control from any thread -------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the fit to stop at its next layer (also releases a pause); it still saves last.pt.

        The batch in progress is discarded (its optimizer step never runs), so a stop acts
        within one layer's time even when one batch takes minutes.
        """
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Hold the fit before its next batch until `resume()` or `request_stop()`."""
        self._running.clear()

    def resume(self) -> None:
        """Let a paused fit continue."""
        self._running.set()

    @property
    def paused(self) -> bool:
        """True while a pause is requested."""
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        """True once `request_stop()` was called."""
        return self._stop.is_set()

    def snapshot_model(self) -> nn.Module:
        """A CPU, eval-mode copy of the current weights, for classifying or feature maps mid-training.

        Taken between batches, so it never sees half an optimizer step, and built on the
        `meta` device first so a GPU run needs no second copy of the weights on the GPU.
        """
        from cnnstudio.models.registry import build_model

        if self.model is None or self.spec is None:
            raise TrainingError("there is no model yet: training has not started")
        with self.model_lock:
            state = _cpu_state(self.model.state_dict())
        with torch.device("meta"):
            clone = build_model(self.config.arch, in_channels=self.spec.channels, num_classes=len(self.spec.classes),
                                **self.config.arch_options)
        clone.load_state_dict(state, assign=True)
        return clone.eval()

    # -- the fit -----------------------------------------------------------------------

    def fit(self) -> FitResult:
        """Train to `config.epochs` (or until stopped); returns how it ended, raises what ended it badly.

        The fit holds the process's random generators from its seed to its end (`fit.rng`): an
        estimate or an LR test started meanwhile in another thread waits for it, and a fit
        started during one waits until it is done (a Stop ends the wait).
        """
        with ExitStack() as held:
            self._hold_rng = held.enter_context
            return self._fit()

    def _fit(self) -> FitResult:
        writer: runs.RunWriter | None = None
        threads_before = torch.get_num_threads()
        try:
            writer = self._setup()
            self.callbacks.on_fit_start(self, self._fit_start())
            result = self._loop(writer)
        except BaseException as exc:
            lost = None
            if self._dist is not None:  # a dead or frozen peer: one line, not gloo's traceback
                from cnnstudio.training.fit.distributed import peer_failure

                lost = peer_failure(exc)
            if writer is not None:
                try:
                    writer.finish("failed", describe(lost or exc))
                except CheckpointError:
                    pass  # the original failure is what the user needs to see
            elif not self._started and not self._resume and self.run_dir is not None:
                # A refused start leaves no half-made run folder behind.
                new_run.discard_new_run_dir(self.run_dir, made=self._made_dir)
            self._release_run_lock()
            self.callbacks.on_exception(self, lost or exc)
            if lost is not None:
                raise lost from None
            raise
        finally:
            # Streaming loaders keep worker processes alive; a finished fit must not.
            self._train_loader = self._val_loader = None
            torch.set_num_threads(threads_before)  # the thread budget is this fit's, not the process's
            if self._interrupt is not None:
                self._interrupt.remove()  # the model outlives the fit without the stop hooks
                self._interrupt = None
        try:
            writer.finish("stopped" if result.stopped_early else "finished", result.reason)
        finally:
            self._release_run_lock()
        self.callbacks.on_fit_end(self, result)
        return result

    def _release_run_lock(self) -> None:
        if self._run_lock is not None:
            self._run_lock.release()
            self._run_lock = None

    # -- setup -------------------------------------------------------------------------

    def _setup(self) -> runs.RunWriter:
        from cnnstudio.models.registry import build_model, check_input_size, resolve_options
        from cnnstudio.training.input_size import config_input_size

        from cnnstudio.training.fit import distributed

        cfg = self.config
        # Under torchrun: one process of several (training/distributed.py); None otherwise.
        self._dist = distributed.setup(cfg.device)
        self._main = self._dist is None or self._dist.is_main
        for observer in self._observers():
            self.callbacks.append(observer)
        self.callbacks.set_main_process(self._main)
        self.device = self._dist.device if self._dist is not None else resolve_device(cfg.device)
        preflight.check_input_fits(cfg, device=self.device, channels=self._bundle.spec.channels if self._bundle else None)
        # This thread states its own count: in the app, the GUI thread runs PyTorch on one.
        use_torch_threads(cfg.num_threads)
        checkpoint = None
        if self._resume:
            assert self._run_dir_arg is not None
            if self._main:
                if not self._run_dir_arg.is_dir():
                    raise CheckpointError(f"no run folder at {self._run_dir_arg}")
                self._run_lock = runs.RunLock.acquire(self._run_dir_arg)  # before reading what another writer may change
            # Rank 0 reads it and hands it on: the other machines need no copy of the run folder.
            checkpoint = self._load_resume_checkpoint(self._run_dir_arg) if self._main else None
            if self._dist is not None:
                checkpoint = self._dist.broadcast(checkpoint)
        else:
            if self._run_dir_arg is not None:
                if self._main:
                    self._made_dir = new_run.prepare_run_dir(self._run_dir_arg)  # refuses a run or a non-empty folder
                    self._run_lock = runs.RunLock.acquire(self._run_dir_arg)
                self.run_dir = self._run_dir_arg
        # The process's random generators, held from here to the fit's end (`fit.rng`); taken after
        # the run lock, so that a second fit of the same run is refused at once, not queued.
        self._hold_rng(exclusive_rng(cancel=self._stop.is_set))
        if not self._resume:
            torch.manual_seed(cfg.seed)
            random.seed(cfg.seed)
            np.random.seed(cfg.seed)

        bundle = self._bundle or load_training_data(cfg)
        self.spec = bundle.spec
        self._has_val = len(bundle.val) > 0
        if not self._has_val:
            if cfg.schedule == Schedule.PLATEAU:
                raise CnnStudioError(
                    "the validation split is empty (every class has fewer than 2 images), and the plateau schedule "
                    "needs a validation accuracy — add images, give a val/ folder, or choose another schedule"
                )
            self.callbacks.on_notice(self, "the validation split is empty (every class has fewer than 2 images): training without "
                         "validation — best.pt holds the last epoch's weights")
        report = getattr(bundle, "scan_report", None)
        if report is not None and report.skipped_count:
            self.callbacks.on_notice(self, report.summary())
        # The dataset's size raised to the architecture's minimum unless one was asked for;
        # a bundle outside the catalog (no folder, no name) tells its own size.
        input_size = config_input_size(cfg, fallback_native=self.spec.native_size).size
        check_input_size(cfg.arch, input_size, **cfg.arch_options)
        # The run folder records the resolved settings, so it rebuilds the same model later.
        cfg = self.config = cfg.replace(input_size=input_size, arch_options=resolve_options(cfg.arch, cfg.arch_options))

        model = build_model(cfg.arch, in_channels=self.spec.channels, num_classes=len(self.spec.classes),
                            **cfg.arch_options)
        if checkpoint is None:
            self._initialise(model)
            cfg = self.config  # it now records where pretrained weights came from
        else:
            self._check_resume_matches(checkpoint)
            load_model_state(model, checkpoint, arch=cfg.arch, path=self._run_dir_arg / runs.LAST_CHECKPOINT)
        cuda = self.device.type == "cuda"
        self._channels_last = cuda and cfg.channels_last
        model.to(self.device, memory_format=torch.channels_last if self._channels_last else torch.preserve_format)
        trained: nn.Module = model
        if self._dist is not None:  # checkpoints keep the bare model: no "module." prefixes
            model, trained = self._dist.wrap(model, sync_batch_norm=cfg.sync_batch_norm)
        self.model = model
        self.bare_model = model  # never DDP's wrapper nor compiled: the observers' hooks go on it
        self._forward = torch.compile(trained) if cfg.compile else trained
        # Validation runs the bare model: DDP would sync buffers at each forward, which
        # needs every rank to take part, and ranks may hold different numbers of batches.
        self._eval_forward = self._forward if self._dist is None else (torch.compile(model) if cfg.compile else model)
        # The stop flag is checked between layers, so Stop acts inside a long batch. Not under
        # torchrun (ranks must agree on every batch) nor compiled (the graph would bake it in).
        if not cfg.compile and self._dist is None:
            self._interrupt = LayerInterrupt(model, self._stop.is_set)
        if cuda:
            torch.backends.cudnn.benchmark = True
        self._amp_dtype = amp_dtype(self.device, cfg.amp)
        self._scaler = make_scaler(self._amp_dtype)
        self._optimizer = self._make_optimizer(model)
        self._scheduler = self._make_scheduler(self._optimizer)
        self.bundle = bundle
        self.batch_size = cfg.batch_size
        self._start_epoch = 0
        self.global_step = 0
        self._lr_drops = 0
        self._best_val_acc: float | None = None
        self.history = []

        if checkpoint is not None:
            self._optimizer.load_state_dict(checkpoint["optimizer"])
            if self._scheduler is not None:
                self._scheduler.load_state_dict(checkpoint["scheduler"])
            if isinstance(self._scheduler, torch.optim.lr_scheduler.LambdaLR):
                # Cosine: the next epoch's LR on the (possibly longer) new horizon.
                for group, base, factor in zip(self._optimizer.param_groups, self._scheduler.base_lrs,
                                               self._scheduler.lr_lambdas):
                    group["lr"] = base * factor(self._scheduler.last_epoch)
            if checkpoint["scaler"]:
                self._scaler.load_state_dict(checkpoint["scaler"])
            self._start_epoch = int(checkpoint["epoch"])
            self.global_step = int(checkpoint["global_step"])
            self._lr_drops = int(checkpoint["lr_drops"])
            self._best_val_acc = checkpoint["best_val_acc"]
            if checkpoint["config"].get("batch_size") == cfg.batch_size:
                self.batch_size = int(checkpoint["batch_size"])  # keeps an out-of-memory reduction
            self.history = list(checkpoint["history"])
            _set_rng_state(checkpoint["rng"])
            self._resume_partial = _checked_partial(checkpoint.get("partial"), self._run_dir_arg / runs.LAST_CHECKPOINT)
            if self._resume_partial:
                p = self._resume_partial
                done = "its training batches" if p.get("train") else f"batch {p['batch']}/{p['batches']}"
                self.callbacks.on_notice(self, f"resuming inside epoch {p['epoch']} after {done}: the batches before are drawn "
                             "again but not trained on, so the run goes on exactly as if never stopped")
            self.run_dir = self._run_dir_arg
        elif self.run_dir is None:
            # Created only now, so a dataset or model that fails to load leaves no empty run behind.
            if self._main:
                self.run_dir = runs.new_run_dir(arch=cfg.arch, dataset=cfg.dataset, options=cfg.arch_options)
                self._made_dir = True
                self._run_lock = runs.RunLock.acquire(self.run_dir)
            if self._dist is not None:
                self.run_dir = Path(self._dist.broadcast(str(self.run_dir)))

        # Rank 0 writes the folder (its RunWriter removes temp files a kill during a save left).
        writer = runs.RunWriter(self.run_dir) if self._main else distributed.NullRunWriter(self.run_dir)
        self._make_loaders()
        writer.start(cfg, self.spec.to_dict(), resumed=checkpoint is not None, scan=_scan_record(report))
        if checkpoint is not None:
            writer.rewrite_metrics(self.history)  # last.pt's own history: later or damaged lines go
        self._started = True
        if checkpoint is not None:
            self.resume_point = (self._start_epoch, int(self._resume_partial["batch"]) if self._resume_partial else 0)
        return writer

    def _observers(self) -> list[Callback]:
        """The run's own recorders, as the config asks (observers: their failures never end the fit)."""
        from cnnstudio.training.fit.dynamics import DynamicsRecorder
        from cnnstudio.training.fit.snapshot_writer import SnapshotRecorder

        return (([SnapshotRecorder()] if self.config.history else [])
                + ([DynamicsRecorder()] if self.config.dynamics else []))

    @property
    def current_lr(self) -> float:
        """The learning rate of the optimizer's first parameter group now."""
        return self._lr()

    @property
    def batches_per_epoch(self) -> int:
        """Training batches in one epoch at the current batch size."""
        return len(self._train_loader)

    def _initialise(self, model: nn.Module) -> None:
        from cnnstudio.models.init import init_vgg_from_a, init_weights

        cfg = self.config
        init_weights(model, cfg.init)
        if (cfg.pretrained is not None or cfg.pretrained_weights is not None) and self._main:
            # Other ranks get rank 0's weights when DDP wraps the model.
            from cnnstudio.training.weights.finetune import load_backbone

            self.config = cfg.replace(weights_source=load_backbone(model, cfg, self.spec))
        if cfg.init_from_run is not None:
            source = runs.open_run(cfg.init_from_run)
            weights = load_checkpoint(source.checkpoint_path("best"), map_location="cpu")
            init_vgg_from_a(model, weights["model"])  # refuses anything but a config-A VGG, in words

    def _load_resume_checkpoint(self, run_dir: Path) -> dict[str, Any]:
        path = run_dir / runs.LAST_CHECKPOINT
        runs.open_run(run_dir)  # a clear message when it is not a run folder at all
        checkpoint = load_checkpoint(path, map_location="cpu")
        missing = [key for key in _RESUMABLE_KEYS if key not in checkpoint]
        if missing:
            raise CheckpointError(
                f"cannot resume from {path}: it lacks the {', '.join(missing)} state — "
                "start a new run (its weights can still be used for classifying)"
            )
        return checkpoint

    def _check_resume_matches(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("config") or {}
        for key in _FIXED_ON_RESUME:
            if key in saved and saved[key] != getattr(self.config, key):
                raise CnnStudioError(
                    f"cannot resume {self._run_dir_arg}: it was trained with {key}={saved[key]!r}, "
                    f"not {getattr(self.config, key)!r} — resume with the run's own settings"
                )
        saved_classes = (checkpoint.get("spec") or {}).get("classes")
        if saved_classes is not None and list(saved_classes) != list(self.spec.classes):
            raise CnnStudioError(
                f"cannot resume {self._run_dir_arg}: the dataset's classes changed since the run started "
                f"({len(saved_classes)} then, {len(self.spec.classes)} now) — the model's outputs would be mislabelled"
            )
        done = int(checkpoint["epoch"])
        if self.config.epochs <= done:
            raise CnnStudioError(
                f"{self._run_dir_arg} has already trained {done} epoch(s); ask for more than {done} epochs to resume"
            )

    def _make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        return make_optimizer(self.config, model)

    def _make_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        cfg = self.config
        if cfg.schedule == Schedule.STEP:
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)
        if cfg.schedule == Schedule.COSINE:
            # Closed form over the *current* total, so a resumed run given more epochs stretches
            # the curve instead of replaying the old horizon (CosineAnnealingLR stores T_max).
            return torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda epoch: 0.5 * (1.0 + math.cos(math.pi * min(epoch, self.config.epochs) / self.config.epochs))
            )
        if cfg.schedule == Schedule.PLATEAU:
            return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=cfg.gamma,
                                                              patience=cfg.plateau_patience)
        return None

    def _make_loaders(self) -> None:
        from cnnstudio.data.loaders import make_loader

        cfg, bundle = self.config, self.bundle
        common = dict(input_size=cfg.input_size, in_channels=self.spec.channels, device=self.device, seed=cfg.seed)
        if self._dist is not None:
            if self.batch_size % self._dist.world_size:
                raise CnnStudioError(f"batch_size {self.batch_size} does not split over {self._dist.world_size} "
                                     f"processes: use a multiple of {self._dist.world_size} (it is the global batch)")
            common.update(rank=self._dist.rank, world_size=self._dist.world_size)
        self._train_loader = make_loader(bundle.train, self.spec, batch_size=self.batch_size, train=True,
                                         augment=cfg.augment, **common)
        self._val_loader = make_loader(bundle.val, self.spec, batch_size=self.batch_size, train=False, **common)

    def _fit_start(self) -> FitStart:
        assert self.model is not None and self.device is not None and self.run_dir is not None
        device = str(self.device)
        if self.device.type == "cuda":
            device += f" ({torch.cuda.get_device_name(self.device)})"
        return FitStart(
            arch=self.config.arch,
            epochs=self.config.epochs,
            start_epoch=self._start_epoch,
            batches_per_epoch=len(self._train_loader),
            batch_size=self.batch_size,
            input_size=int(self.config.input_size or 0),
            device=device,
            precision=str(self._amp_dtype or torch.float32).removeprefix("torch."),
            num_params=sum(p.numel() for p in self.model.parameters()),
            spec=self.spec,
            run_dir=str(self.run_dir),
        )

    # -- the loop ----------------------------------------------------------------------

    def _loop(self, writer: runs.RunWriter) -> FitResult:
        cfg = self.config
        reason, stopped_early = "finished", False
        epoch = self._start_epoch
        for epoch in range(self._start_epoch + 1, cfg.epochs + 1):
            lr = self._lr()
            started = time.monotonic()
            resumed = self._take_resume_partial(epoch)
            if resumed is not None:  # the epoch's time before the stop is its time too
                started -= float(resumed.get("elapsed") or 0.0)
            if resumed is not None and resumed.get("train") is not None:
                train = resumed["train"]  # stopped during validation: the training pass was complete
            else:
                # An out-of-memory retry starts the epoch over, at the new batch size.
                attempts = iter([resumed])
                train = self._with_oom_retry(lambda: self._train_epoch(epoch, next(attempts, None)))
            val = None if train is None else self._with_oom_retry(self._validate)
            if train is None or val is None:
                # Stopped mid-epoch: last.pt holds the partly trained weights and where the epoch
                # stood (batch, running totals, RNG), so a resume continues exactly from there.
                if train is not None:
                    self._partial = {"epoch": epoch, "batch": len(self._train_loader),
                                     "batches": len(self._train_loader), "batch_size": self.batch_size,
                                     "train": train, "elapsed": time.monotonic() - started}
                writer.save_last(self._checkpoint(epochs_done=epoch - 1))
                epoch -= 1
                reason, stopped_early = STOPPED_BY_USER, True
                break
            self._partial = None
            val_acc = val["val_acc"]
            if self._has_val:
                is_best = improves_on(val_acc, self._best_val_acc)
                if is_best:
                    self._best_val_acc = val_acc
            else:
                is_best = True  # nothing to rank on: best.pt is the last epoch's weights
            plateau_exhausted = self._step_scheduler(val_acc)
            seconds = time.monotonic() - started
            stats = EpochStats(
                epoch=epoch, epochs=cfg.epochs, train_loss=train["loss"], train_acc=train["acc"],
                val_loss=val["val_loss"], val_acc=val_acc, val_top5=val["val_top5"], lr=lr, seconds=seconds,
                images_per_s=train["images_per_s"], is_best=is_best,
                aux_losses=tuple(train[k] for k in ("aux1", "aux2") if train[k] is not None),
            )
            row = stats.to_row(batch_size=self.batch_size)
            for key in ("val_loss", "val_acc"):
                if not math.isfinite(row[key]):
                    row[key] = None  # no validation: null in the log, never a NaN to rank or print
            self.history.append(row)
            # Before last.pt: a kill between the two redoes this epoch on resume, whose recorders write it again.
            self.callbacks.on_epoch_validated(self, stats)
            writer.append_metrics(row)
            writer.save_last(self._checkpoint(epochs_done=epoch))
            if is_best:
                writer.save_best(self._checkpoint(epochs_done=epoch, weights_only=True))
            self.callbacks.on_epoch_end(self, stats)
            if plateau_exhausted:
                reason = (f"validation accuracy stopped improving after {self._lr_drops} learning-rate drops "
                          f"(max_lr_drops)")
                stopped_early = True
                break
            if self._stop_everywhere():
                reason, stopped_early = STOPPED_BY_USER, True
                break
        return FitResult(run_dir=str(self.run_dir), epochs_done=epoch, best_val_acc=self._best_val_acc,
                         stopped_early=stopped_early, reason=reason)

    def _stop_everywhere(self) -> bool:
        """Whether to stop now; distributed, every rank agrees (a stop asked of one stops all at once)."""
        return self._stop.is_set() if self._dist is None else self._dist.any(self._stop.is_set())

    def _take_resume_partial(self, epoch: int) -> dict[str, Any] | None:
        """The saved state of a mid-epoch stop, if it belongs to `epoch` and this batch size (used once)."""
        partial, self._resume_partial = self._resume_partial, None
        if not partial or int(partial.get("epoch", 0)) != epoch:
            return None
        if int(partial.get("batch_size", 0)) != self.batch_size:
            self.callbacks.on_notice(self, f"the batch size changed since the stop (was {partial.get('batch_size')}): "
                         f"epoch {epoch} starts over from its first batch, with the weights as they were saved")
            return None
        return partial

    def _lr(self) -> float:
        return float(self._optimizer.param_groups[0]["lr"])

    def _step_scheduler(self, val_acc: float) -> bool:
        """Advance the LR schedule after an epoch; True when a plateau comes after the last allowed drop."""
        scheduler = self._scheduler
        if scheduler is None:
            return False
        if not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            with warnings.catch_warnings():
                # A resume that lands after an epoch's training (stopped in validation) steps the
                # schedule before this process's first optimizer step: correct here, not a misuse.
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
                scheduler.step()
            return False
        before = [group["lr"] for group in self._optimizer.param_groups]
        scheduler.step(val_acc)
        if self._lr() >= before[0]:
            return False
        limit = self.config.max_lr_drops
        if limit is not None and self._lr_drops >= limit:
            # One drop too many: undo it (the run ends with the LR it trained with) and stop.
            for group, lr in zip(self._optimizer.param_groups, before):
                group["lr"] = lr
            return True
        self._lr_drops += 1
        return False

    def _with_oom_retry(self, run: Callable[[], T]) -> T:
        """Run an epoch phase; on CUDA out-of-memory halve the batch size and run it again."""
        while True:
            try:
                return run()
            except torch.cuda.OutOfMemoryError:
                if self._dist is not None:  # the other ranks cannot retry in step with this one
                    raise TrainingError(f"out of {self.device} memory at batch size {self.batch_size} — "
                                        "use a smaller --batch-size (it is the global batch)") from None
                pass  # memory is freed below: until this block ends, the traceback holds the failed step's tensors
            gc.collect()
            if self.device is not None and self.device.type == "cuda":
                torch.cuda.empty_cache()
            if self.batch_size == 1:
                raise TrainingError(
                    f"{self.config.arch} does not fit in {self.device} memory even one image at a time at "
                    f"{self.config.input_size}×{self.config.input_size} — use a smaller input size or model, or the cpu"
                )
            self.batch_size = max(1, self.batch_size // 2)
            self.callbacks.on_notice(self, f"out of {self.device} memory: retrying the epoch at batch size {self.batch_size}")
            self._optimizer.zero_grad(set_to_none=True)
            self._make_loaders()

    def _wait_if_paused(self) -> float:
        """Block while paused; returns the seconds spent waiting."""
        if self._running.is_set():
            return 0.0
        started = time.monotonic()
        self._running.wait()
        return time.monotonic() - started

    def _train_epoch(self, epoch: int, resumed: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """One pass over the training set; None when stopped before its end (`self._partial` then
        says where). `resumed` is a mid-epoch stop's state: its batches are drawn again (so every
        random draw after them is the same) but not trained on, and its running totals carried on."""
        assert self.model is not None and self.device is not None
        model, cfg = self.model, self.config
        loader = self._train_loader
        loader.epoch = epoch - 1  # the loaders draw one seeded stream per epoch: resumes and retries replay it
        num_batches = len(loader)
        model.train()
        # Each batch's figures stay on the device as 0-d tensors, read back in one transfer at
        # the throttle points: no per-batch sync on a GPU, and the fewest ops per step (on a
        # CPU each small op costs as much as a few % of a LeNet step).
        pending: list[torch.Tensor] = []  # per batch: [loss, correct] or [loss, correct, aux1, aux2]
        pending_sizes: list[int] = []
        totals = [0.0, 0.0, 0.0, 0.0]
        seen = window_seen = 0
        has_aux = False
        paused_s = 0.0
        skip = 0
        if resumed is not None:
            skip = int(resumed["batch"])
            totals = [float(v) for v in resumed["totals"]]
            seen, has_aux = int(resumed["seen"]), bool(resumed["has_aux"])
        started = last_report = time.monotonic() - (float(resumed["elapsed"]) if resumed is not None else 0.0)
        # The step hooks run only when an observer listens: an unobserved step costs nothing extra.
        observed = any(self.callbacks.listens(hook) for hook in STEP_HOOKS)
        hooks = CallbackStepHooks(self, self._optimizer) if observed else None
        def stopped_before(batch: int) -> None:
            # last.pt will hold where the epoch stood (batches done, running totals), so a
            # resume continues exactly from here: this batch is drawn again and trained then.
            for i, value in enumerate(self._fold_pending(pending, pending_sizes, epoch, batch)):
                totals[i] += value
            self._partial = {"epoch": epoch, "batch": batch - 1, "batches": num_batches,
                             "batch_size": self.batch_size, "totals": totals, "seen": seen,
                             "has_aux": has_aux, "elapsed": time.monotonic() - started - paused_s, "train": None}

        for batch, (x, y) in enumerate(loader, 1):
            if batch <= skip:
                continue  # trained before the stop; drawn again only to replay the loader's random stream
            paused_s += self._wait_if_paused()
            if self._stop_everywhere():
                stopped_before(batch)
                return None
            if self._channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            step = StepInfo(epoch, batch, num_batches, self.global_step + 1) if observed else None
            with self.model_lock:
                try:
                    if step is not None:
                        self.callbacks.on_train_batch_start(self, step)
                        hooks.step = step
                    out = train_step(self._forward, x, y, optimizer=self._optimizer, scaler=self._scaler,
                                     dtype=self._amp_dtype, aux_weight=cfg.aux_weight, hooks=hooks)
                except Interrupted:  # stopped between two layers: this batch never reaches the weights
                    self._optimizer.zero_grad(set_to_none=True)
                    stopped_before(batch)
                    return None
                self.global_step += 1
                if step is not None:
                    self.callbacks.on_train_batch_end(self, step, out)
            has_aux = has_aux or out.aux is not None
            n = int(y.shape[0])
            with torch.no_grad():
                figures = torch.stack([out.main.float(), (out.logits.argmax(1) == y).sum().float()])
                pending.append(figures if out.aux is None else torch.cat([figures, out.aux]))
            pending_sizes.append(n)
            seen += n
            window_seen += n
            now = time.monotonic()
            # The first batch is always reported: a slow network shows its speed and time left
            # after one batch instead of "–" until the throttle interval has passed.
            if batch == 1 or batch == num_batches or now - last_report >= cfg.progress_interval:
                window = self._fold_pending(pending, pending_sizes, epoch, batch + 1)
                for i in range(4):
                    totals[i] += window[i]
                now = time.monotonic()
                elapsed = max(now - started - paused_s, 1e-9)
                self.callbacks.on_batch_end(self, BatchStats(
                    epoch=epoch, batch=batch, num_batches=num_batches,
                    loss=window[0] / window_seen, accuracy=window[1] / window_seen, lr=self._lr(),
                    images_per_s=seen / elapsed, elapsed_s=elapsed,
                    eta_s=elapsed / batch * (num_batches - batch),
                    aux_losses=(window[2] / window_seen, window[3] / window_seen) if has_aux else (),
                ))
                window_seen = 0
                last_report = now
        elapsed = max(time.monotonic() - started - paused_s, 1e-9)
        if self._dist is not None:  # the epoch's figures over every rank's images
            *totals, seen = self._dist.sum([*totals, seen]).tolist()
        seen = max(seen, 1)
        return {
            "loss": totals[0] / seen,
            "acc": totals[1] / seen,
            "aux1": totals[2] / seen if has_aux else None,
            "aux2": totals[3] / seen if has_aux else None,
            "images_per_s": seen / elapsed,
        }

    def _fold_pending(self, pending: list[torch.Tensor], sizes: list[int], epoch: int, next_batch: int) -> list[float]:
        """Read back the batches' figures kept on the device (one sync), check them, and sum them:
        [loss × n, correct, aux1 × n, aux2 × n]. Empties both lists."""
        window = [0.0, 0.0, 0.0, 0.0]
        if not pending:
            return window
        rows = torch.stack(pending).tolist()  # the one sync point
        first = next_batch - len(rows)
        for offset, (row, size) in enumerate(zip(rows, sizes)):
            bad = next((v for i, v in enumerate(row) if i != 1 and not math.isfinite(v)), None)
            if bad is not None:
                kind = "NaN" if math.isnan(bad) else "infinite"
                raise TrainingError(
                    f"loss became {kind} at epoch {epoch}, batch {first + offset} — "
                    f"try a lower learning rate (now {self._lr():g})"
                )
            window[0] += row[0] * size
            window[1] += row[1]
            if len(row) == 4:
                window[2] += row[2] * size
                window[3] += row[3] * size
        pending.clear()
        sizes.clear()
        return window

    def _validate(self) -> dict[str, Any] | None:
        """Loss, top-1 and top-5 accuracy on the validation set; None when stopped before its end."""
        assert self.model is not None and self.device is not None
        model, device = self.model, self.device
        model.eval()
        num_classes = len(self.spec.classes)
        if not self._has_val:
            return {"val_loss": math.nan, "val_acc": math.nan, "val_top5": None}
        sums = torch.zeros(3, dtype=torch.float32, device=device)  # loss, top-1, top-5
        seen = 0
        with torch.inference_mode():
            for x, y in self._val_loader:
                self._wait_if_paused()
                # Distributed ranks finish validation (short) and see a stop at the next batch.
                if self._stop.is_set() and self._dist is None:
                    return None
                if y.numel() == 0:
                    continue
                if self._channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                try:
                    with autocast(self._amp_dtype):
                        logits = self._eval_forward(x)
                except Interrupted:
                    return None
                logits = logits.float()
                top = logits.topk(min(5, num_classes), dim=1).indices
                hits = top == y.unsqueeze(1)
                sums += torch.stack([
                    F.cross_entropy(logits, y, reduction="sum"),
                    hits[:, 0].sum().float(),
                    hits.any(dim=1).sum().float(),
                ])
                seen += int(y.shape[0])
        if self._dist is not None:  # every image counted once, on the rank that evaluated it
            loss, top1, top5, seen = self._dist.sum([*sums.tolist(), seen]).tolist()
        else:
            loss, top1, top5 = sums.tolist()
        seen = max(seen, 1)
        return {"val_loss": loss / seen, "val_acc": top1 / seen, "val_top5": top5 / seen if num_classes >= 5 else None}

    def _checkpoint(self, *, epochs_done: int, weights_only: bool = False) -> dict[str, Any]:
        """The payload of last.pt (everything to resume) or best.pt (weights and run facts only)."""
        assert self.model is not None
        if not self._main:
            return {}  # only rank 0 writes checkpoints
        with self.model_lock:
            payload: dict[str, Any] = {
                "arch": self.config.arch,
                "num_classes": len(self.spec.classes),
                "model": _cpu_state(self.model.state_dict()),
                "epoch": epochs_done,
                "config": self.config.to_dict(),
                "spec": self.spec.to_dict(),
                "best_val_acc": self._best_val_acc,
            }
            if not weights_only:
                payload.update(
                    optimizer=_cpu_state(self._optimizer.state_dict()),
                    scheduler=self._scheduler.state_dict() if self._scheduler is not None else {},
                    scaler=self._scaler.state_dict(),
                    global_step=self.global_step,
                    rng=_rng_state(),
                    history=list(self.history),
                    lr_drops=self._lr_drops,
                    batch_size=self.batch_size,
                    partial=self._partial or {},
                )
        return payload


def build_trainer(plan: FitPlan, callbacks: Iterable[Any] = (), *, bundle: DatasetBundle | None = None,
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                  on_loaded: Callable[[DatasetBundle], None] | None = None) -> Trainer:
    """Load the data of `plan` (unless `bundle` is given: already loaded for it), then the `Trainer`
    that runs it — a new run in `plan.run_dir`, or the run there resumed from its last.pt. The one
    place a `FitPlan` becomes a trainer: the CLI's train and sweep and the window's worker call it.

    `on_loaded` sees the bundle between the two (the window shows the dataset; a sweep keeps it
    for the next variant)."""
    config = plan.config.validate()
    if bundle is None:
        bundle = load_training_data(config, progress=progress, cancel=cancel)
    if on_loaded is not None:
        on_loaded(bundle)
    where = {"resume_from": plan.run_dir} if plan.resume else {"run_dir": plan.run_dir}
    return Trainer(config, callbacks=callbacks, bundle=bundle, **where)
