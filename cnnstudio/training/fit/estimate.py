"""How long a training will take and how much memory it will need, from measured steps.

`estimate_training(config)` builds the model, optimizer and data loaders exactly as the
trainer does, runs a few training steps on the chosen device and returns a
`TrainingEstimate`: seconds per step and per epoch, the total, the peak memory, and
whether that memory fits in what the machine has free ("≈ 1 h 50 min per epoch on CPU,
≈ 14 GB"). Nothing is written and no run folder is made.

How it measures:
- Time: a first, untimed step of 2 images pays the one-time costs; then the batch doubles
  (4, 8, 16, …) until a step takes `MIN_TIMED_S` or the full batch is reached (on CUDA
  each new shape runs once more before: the first pays for cuDNN's autotuning). The
  first step at each batch measures the memory; a step under `REPEAT_UNDER_S` is then
  repeated bare — without the memory probes, which cost a small net's step a measurable
  share — and the median of the repeats counts. A full batch that
  is reached, or predicted to take under `direct_budget_s`, is run as it is and timed;
  otherwise the step time is scaled from the last measured batch in proportion to the
  batch size (`extrapolated`) — exact when compute grows with the batch, as it does once
  a step takes that long. The validation pass is timed as one evaluation forward.
- Memory on CUDA: `torch.cuda.max_memory_allocated` around each step (what the tensors
  need; the caching allocator may reserve a little more).
- Memory on the CPU: the process's resident set size (RSS), sampled every 2 ms from
  `/proc/self/statm` by a helper thread while the step runs (elsewhere the growth of
  `resource.getrusage().ru_maxrss`). RSS is what the operating system has to find and
  what a task manager shows. When it is scaled to the full batch, the per-image growth is
  at least the bytes autograd saved for the backward pass per image (counted with
  `saved_tensors_hooks`): the allocator may keep freed memory, which would hide growth.
- Free memory: `MemAvailable` of `/proc/meminfo` (and a cgroup's `memory.max` when the
  process runs in a container); `torch.cuda.mem_get_info` for a GPU. Where the platform
  does not say (Windows, macOS), only the machine's total is compared.

Data loading is not timed: in-memory datasets are sliced on the device (no cost worth
counting); a streaming image folder also decodes files, so its epochs can be slower.
"""

from __future__ import annotations

import gc
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from cnnstudio.errors import Cancelled, CnnStudioError
from cnnstudio.progress import CancelFn, ProgressFn
from cnnstudio.training.config import TrainConfig
from cnnstudio.training.fit.interrupt import Interrupted, LayerInterrupt
from cnnstudio.training.fit.rng import exclusive_rng
from cnnstudio.training.fit.step import amp_dtype, make_scaler, train_step

__all__ = ["PlanEstimate", "TrainingEstimate", "estimate_plan", "estimate_training", "format_bytes", "format_duration",
           "memory_available"]

SMALL_BATCHES = (2, 4)  # the first steps (BatchNorm needs more than one image per batch in training mode)
MIN_TIMED_S = 0.3  # a step at least this long is timed well enough to scale
MAX_STEP_S = 4.0  # no step is doubled past this
GROWTH = 1.5  # a doubled batch taking this much longer shows the per-image part clearly
REPEAT_UNDER_S = 2.0  # steps shorter than this are repeated bare (see `timed`)
REPEAT_BUDGET_S = 0.3  # the repeats of a short step fill about this long
MAX_REPEATS = 9  # … but are never more than this many


@dataclass(frozen=True)
class TrainingEstimate:
    """What one measured step says about a whole training (seconds and bytes)."""

    arch: str
    device: str  # "cpu", "cuda:0", …
    device_name: str  # "CPU", "cuda:0 (NVIDIA H200)"
    input_size: int
    batch_size: int
    batches_per_epoch: int
    epochs: int
    step_s: float  # one training step at `batch_size`
    epoch_s: float  # training batches and the validation pass
    total_s: float  # every epoch
    peak_bytes: int  # CPU: the process's RSS at its peak; CUDA: the tensors' peak on the device
    extra_bytes: int  # what the training adds to what is in use now (the peak minus the memory held before)
    available_bytes: int | None  # free for it now (None: the platform does not say)
    total_bytes: int | None  # the machine's (or the GPU's) memory
    measured_batch: int  # the largest batch actually run
    extrapolated: bool  # True when the full batch was not run: scaled from `measured_batch`
    memory_method: str  # how memory was measured, in words

    @property
    def fits(self) -> bool:
        """False when the training would need more memory than is free (or than the machine has)."""
        if self.available_bytes is not None:
            return self.extra_bytes <= self.available_bytes
        return self.total_bytes is None or self.peak_bytes <= self.total_bytes

    @property
    def warning(self) -> str | None:
        """A sentence when the memory would not fit, with what to change; None when it fits."""
        if self.fits:
            return None
        if self.available_bytes is not None:
            have = f"only {format_bytes(self.available_bytes)} is free"
            if self.total_bytes is not None:
                have += f" ({format_bytes(self.total_bytes)} in all)"
        else:
            have = f"the machine has {format_bytes(self.total_bytes or 0)}"
        where = "this GPU" if self.device.startswith("cuda") else "this machine"
        consequence = ("training would retry at smaller batches" if self.device.startswith("cuda")
                       else "the machine would swap or the training be killed")
        return (f"training {self.arch} needs ≈ {format_bytes(self.extra_bytes)} more memory but {have} on {where}: "
                f"{consequence} — use a smaller input size (now {self.input_size}×{self.input_size}) "
                f"or batch size (now {self.batch_size})")

    @property
    def sentence(self) -> str:
        """"≈ 1 h 50 min per epoch on CPU (10 epochs ≈ 18 h), ≈ 14 GB".

        The memory is what the training needs on top of what the process held before (the
        data, PyTorch itself), never the process's whole size: the app's own hundreds of MB
        would otherwise be counted as the fit's, and the window and the command line disagree.
        """
        total = f" ({self.epochs} epochs {_about(self.total_s)})" if self.epochs > 1 else ""
        return (f"{_about(self.epoch_s)} per epoch on {self.device_name}{total}, "
                f"≈ {format_bytes(self.extra_bytes)}")

    @property
    def details(self) -> str:
        """How the figures were obtained, in one line."""
        how = (f"scaled from a measured step of {self.measured_batch} images" if self.extrapolated
               else "measured")
        return (f"one step of {self.batch_size} images at {self.input_size}×{self.input_size}: "
                f"{format_duration(self.step_s, approx=False)} ({how}); {self.batches_per_epoch} batches per epoch; "
                f"memory: what the training adds to the process (its peak {format_bytes(self.peak_bytes)} in all), "
                f"from {self.memory_method}")


def _about(seconds: float) -> str:
    """"≈ 3 min 20 s", or "under 1 s" (never "≈ < 1 s")."""
    return "under 1 s" if seconds < 1 else f"≈ {format_duration(seconds)}"


def format_duration(seconds: float, *, approx: bool = True) -> str:
    """12 s, 3 min 20 s, 42 min, 1 h 50 min, 2 d 3 h (`approx=False`: 0.85 s under 10 s)."""
    if not math.isfinite(seconds):
        return "forever"
    if seconds < 10 and not approx:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    if seconds < 1:
        return "< 1 s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
    hours = round(seconds / 3600)
    return f"{hours // 24} d {hours % 24} h" if hours % 24 else f"{hours // 24} d"


def format_bytes(count: float) -> str:
    """350 MB, 1.4 GB, 14 GB (decimal units, as disks and most tools count)."""
    if count >= 1e9:
        return f"{count / 1e9:.1f} GB" if count < 1e10 else f"{count / 1e9:.0f} GB"
    if count >= 1e6:
        return f"{count / 1e6:.0f} MB"
    return f"{max(count, 0) / 1e3:.0f} kB"


# -- memory of this process and this machine --------------------------------------------


def _rss_now() -> int | None:
    """This process's resident set size in bytes (Linux), None elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _max_rss() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes; Linux: KiB


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
        return None if text == "max" else int(text)
    except (OSError, ValueError):
        return None


def memory_available() -> tuple[int | None, int | None]:
    """(bytes free for a new allocation now, the machine's total), each None when unknown."""
    available = total = None
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if line.split()[1:2]}
        available, total = info.get("MemAvailable"), info.get("MemTotal")
    except (OSError, ValueError, IndexError):
        try:
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            total = None
    limit = _read_int("/sys/fs/cgroup/memory.max")  # a container's limit (cgroup v2)
    if limit is not None and (total is None or limit < total):
        used = _read_int("/sys/fs/cgroup/memory.current") or 0
        total = limit
        available = max(0, limit - used) if available is None else min(available, max(0, limit - used))
    return available, total


class _PeakRSS:
    """The highest RSS seen while the block runs (a 2 ms sampling thread)."""

    def __init__(self) -> None:
        self.peak = 0
        self._done = threading.Event()

    def __enter__(self) -> _PeakRSS:
        self.peak = _rss_now() or 0
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.002):
            self.peak = max(self.peak, _rss_now() or 0)

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_now() or 0)


class _Step(NamedTuple):
    """One measured training step: its batch, each phase's seconds, the peak memory."""

    batch: int
    forward: float
    backward: float
    optimizer: float
    peak: int

    @property
    def passes(self) -> float:
        """Forward and backward: the part that grows with the batch."""
        return self.forward + self.backward

    @property
    def seconds(self) -> float:
        return self.forward + self.backward + self.optimizer


class _SavedBytes:
    """Bytes autograd saves for the backward pass (parameters excluded), each storage once."""

    def __init__(self, model: nn.Module) -> None:
        self._params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self._seen: set[int] = set()
        self.bytes = 0

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in self._params and key not in self._seen:
            self._seen.add(key)
            self.bytes += storage.nbytes()
        return tensor

    def hooks(self) -> Any:
        return torch.autograd.graph.saved_tensors_hooks(self.pack, lambda tensor: tensor)


# -- the estimate ---------------------------------------------------------------------


def estimate_training(config: TrainConfig, *, bundle: Any = None,
                      progress: ProgressFn | None = None,
                      cancel: Callable[[], bool] | None = None,
                      direct_budget_s: float = 2.0) -> TrainingEstimate:
    """Measure a few training steps of `config` on its device; nothing is written.

    `bundle` is the loaded dataset (None: `load_training_data(config)`); `progress(done,
    total)` counts measured steps; `cancel()` → True aborts with `Cancelled` (checked
    between layers too, so a long step stops at once). The global RNG, the thread count
    and cuDNN's autotuning flag are left as they were.
    """
    from cnnstudio.threads import use_torch_threads
    from cnnstudio.training.fit.training_data import load_training_data
    from cnnstudio.training.fit.devices import resolve_device

    cfg = config.validate()
    device = resolve_device(cfg.device)
    threads_before = torch.get_num_threads()
    benchmark_before = torch.backends.cudnn.benchmark
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    try:
        use_torch_threads(cfg.num_threads)
        if bundle is None:
            bundle = load_training_data(cfg, cancel=cancel)
        # The generators are the process's: a fit in another thread must not see this one's draws.
        with exclusive_rng(cancel), torch.random.fork_rng(devices=cuda_devices):
            return _measure(cfg, bundle, device, progress=progress, cancel=cancel, direct_budget_s=direct_budget_s)
    finally:
        torch.set_num_threads(threads_before)
        torch.backends.cudnn.benchmark = benchmark_before
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _measure(cfg: TrainConfig, bundle: Any, device: torch.device, *, progress: ProgressFn | None,
             cancel: Callable[[], bool] | None, direct_budget_s: float) -> TrainingEstimate:
    from cnnstudio.data.loaders import make_loader
    from cnnstudio.models.registry import build_model, check_input_size, resolve_options
    from cnnstudio.training.input_size import config_input_size
    from cnnstudio.training.fit.optim import make_optimizer

    spec = bundle.spec
    options = resolve_options(cfg.arch, cfg.arch_options)
    input_size = config_input_size(cfg.replace(arch_options=options), fallback_native=spec.native_size).size
    check_input_size(cfg.arch, input_size, **options)
    cuda = device.type == "cuda"
    should_stop = cancel if cancel is not None else (lambda: False)

    if cuda:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        free, device_total = torch.cuda.mem_get_info(device)
        available, total = free, device_total
        method = "torch.cuda.max_memory_allocated"
    else:
        gc.collect()
        rss = _rss_now()
        before = rss if rss is not None else _max_rss()
        available, total = memory_available()
        method = ("the process's RSS, sampled from /proc/self/statm during the step" if rss is not None
                  else "the growth of the process's peak RSS (getrusage)")

    model = build_model(cfg.arch, in_channels=spec.channels, num_classes=len(spec.classes), **options)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    channels_last = cuda and cfg.channels_last
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    model.train()
    optimizer = make_optimizer(cfg, model)
    dtype = amp_dtype(device, cfg.amp)
    if dtype is not None:
        torch.backends.cudnn.benchmark = True  # as the trainer runs
    scaler = make_scaler(dtype)
    common = dict(input_size=input_size, in_channels=spec.channels, device=device, seed=cfg.seed)
    train_loader = make_loader(bundle.train, spec, batch_size=cfg.batch_size, train=True, augment=cfg.augment,
                               **common)
    val_loader = make_loader(bundle.val, spec, batch_size=cfg.batch_size, train=False, **common)
    batches = len(train_loader)
    val_images = len(bundle.val)
    x_full, y_full = next(iter(train_loader))  # the loaders hold the data as training would
    if channels_last:
        x_full = x_full.contiguous(memory_format=torch.channels_last)
    full = int(y_full.shape[0])
    interrupt = LayerInterrupt(model, should_stop)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    steps_done = 0
    planned = 3 + max(1, math.ceil(math.log2(max(full, 2) / 2)))  # about: the doublings, a repeat, the eval

    def tick(*, counts: bool = True) -> None:
        nonlocal steps_done
        steps_done += counts  # a bare repeat is part of its batch's measurement, not a step of its own
        if progress is not None and counts:
            progress(min(steps_done, planned), planned, "measuring a training step")
        if should_stop():
            raise Interrupted

    def step(n: int, saved: _SavedBytes | None = None, *, memory: bool = True) -> _Step:
        """One training step on the first `n` images: each phase's seconds and the peak memory.

        With `memory` off the step runs bare (no RSS sampler, no saved-tensor hooks, peak 0):
        on a small net both cost a measurable share of the step, so timing steps run bare.
        """
        x, y = x_full[:n], y_full[:n]
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        watch = _PeakRSS() if memory and not cuda else nullcontext()
        sync()
        started = time.perf_counter()
        phases = _PhaseClock(sync)
        with watch, (saved.hooks() if saved is not None and memory else nullcontext()):
            out = train_step(model, x, y, optimizer=optimizer, scaler=scaler, dtype=dtype, aux_weight=cfg.aux_weight,
                             hooks=phases)  # the fit's own step: forward (aux heads weighed as in training), backward, update
            sync()
        done = time.perf_counter()
        forward_done, backward_done = phases.forward_done, phases.backward_done
        if not memory:
            peak = 0
        elif cuda:
            peak = torch.cuda.max_memory_allocated(device)
        else:
            peak = max(watch.peak, _max_rss() if rss is None else 0)
        del out
        tick(counts=memory)
        return _Step(n, forward_done - started, backward_done - forward_done, done - backward_done, int(peak))

    def timed(n: int, saved: _SavedBytes | None = None) -> _Step:
        """A step's memory, and its time from bare repeats: the median of several for a short step.

        The first step at a shape measures the memory; a step under REPEAT_UNDER_S is then run
        bare `repeats` times, enough to fill about REPEAT_BUDGET_S (at most MAX_REPEATS): a
        single short step is at the mercy of a busy machine, the median of several is the pace
        a fit keeps.
        """
        first = step(n, saved)
        if first.seconds >= REPEAT_UNDER_S:
            return first
        repeats = max(1, min(MAX_REPEATS, math.ceil(REPEAT_BUDGET_S / max(first.seconds, 1e-6))))
        bare = sorted((step(n, memory=False) for _ in range(repeats)), key=lambda s: s.seconds)
        if repeats < 3:  # too few for a median: the faster counts
            chosen = min([first, *bare], key=lambda s: s.seconds)
        else:
            chosen = bare[len(bare) // 2]
        return chosen._replace(peak=first.peak)

    try:
        try:
            # The first step pays one-time costs (allocations, kernel selection, the
            # optimizer's state) and is not timed. Then the batch doubles until the time of
            # the forward and backward passes grows with it clearly enough to draw a line
            # through the last two points, or a step takes MAX_STEP_S, or the full batch is
            # reached. The optimizer's step does not depend on the batch: it is added as
            # measured, not scaled (over VGG's 134 M weights it is most of a small batch's time).
            batch = min(full, SMALL_BATCHES[0])
            warm = step(batch)
            points: list[_Step] = []
            saved: _SavedBytes | None = None
            while True:
                if cuda and points:
                    step(batch)  # cuDNN autotunes each new shape once
                # On a GPU the allocator's figures are exact (and autocast's weight copies
                # would look like saved activations there).
                saved = None if cuda else _SavedBytes(model)
                points.append(timed(batch, saved))
                last = points[-1]
                if batch == full:
                    break
                if len(points) > 1:
                    grows = last.passes >= GROWTH * points[-2].passes
                    if last.seconds >= MAX_STEP_S or (last.seconds >= MIN_TIMED_S and grows):
                        break
                batch = min(full, batch * 2)
            optimizer_s = min(p.optimizer for p in points)
            if len(points) > 1:
                a, b = points[-2], points[-1]
                passes_per_image = max(0.0, (b.passes - a.passes) / (b.batch - a.batch))
                forward_per_image = max(0.0, (b.forward - a.forward) / (b.batch - a.batch))
                base, forward_base, peak_base = (b.passes - passes_per_image * b.batch,
                                                 b.forward - forward_per_image * b.batch, a)
            else:  # the full batch at the first try
                base, forward_base, passes_per_image, forward_per_image = 0.0, 0.0, 0.0, 0.0
                peak_base = warm
            per_image = max(0.0, (last.peak - peak_base.peak) / max(last.batch - peak_base.batch, 1))
            if saved is not None:
                per_image = max(per_image, saved.bytes / last.batch)

            measured, extrapolated = last.batch, last.batch < full
            seconds, peak, forward_s = last.seconds, last.peak, last.forward
            if extrapolated:
                seconds = max(0.0, base) + passes_per_image * full + optimizer_s
                forward_s = max(0.0, forward_base) + forward_per_image * full
                peak = int(last.peak + per_image * (full - last.batch))
                if seconds <= direct_budget_s:  # cheap enough to run as it is
                    direct = timed(full)
                    seconds, peak, forward_s = direct.seconds, direct.peak, direct.forward
                    measured, extrapolated = full, False
            # Validation: a forward pass over each validation image, as timed in training
            # mode (no autograd in evaluation makes it a little faster: this errs long).
            eval_s = forward_s / full * val_images
            tick()
        except Interrupted:
            raise Cancelled("estimate cancelled") from None
        except torch.cuda.OutOfMemoryError:
            raise CnnStudioError(
                f"{cfg.arch} does not fit in {device} memory even for a few images at {input_size}×{input_size} — "
                "use a smaller input size or model, or the cpu"
            ) from None
    finally:
        interrupt.remove()
        del model, optimizer, train_loader, val_loader, x_full, y_full

    epoch_s = seconds * batches + eval_s
    epochs = cfg.epochs
    # At the least a training holds the weights, their gradients and the optimizer's state: a
    # floor under the measured growth, which on the CPU can read as nothing when the allocator
    # reuses memory freed earlier in the process.
    state_bytes = 3 * param_bytes
    device_name = "CPU" if device.type == "cpu" else str(device)
    if cuda:
        device_name = f"{device} ({torch.cuda.get_device_name(device)})"
    return TrainingEstimate(
        arch=cfg.arch, device=str(device), device_name=device_name, input_size=input_size,
        batch_size=full,  # the config's, or the whole training set when it is smaller
        batches_per_epoch=batches, epochs=epochs, step_s=seconds, epoch_s=epoch_s, total_s=epoch_s * epochs,
        peak_bytes=int(peak), extra_bytes=max(int(peak) - int(before), state_bytes), available_bytes=available,
        total_bytes=total, measured_batch=measured, extrapolated=extrapolated, memory_method=method,
    )


class _PhaseClock:
    """The estimate's observer of `train_step`: when the forward and the backward pass ended."""

    wants_gradients = False

    def __init__(self, sync: Callable[[], None]) -> None:
        self._sync = sync
        self.forward_done = self.backward_done = 0.0

    def after_forward(self) -> None:
        self._sync()
        self.forward_done = time.perf_counter()

    def after_backward(self) -> None:
        self._sync()
        self.backward_done = time.perf_counter()

    def before_optimizer_step(self) -> None:
        pass
@dataclass(frozen=True)
class PlanEstimate:
    """The estimates of several trainings run one after another (a queue, the tricks study)."""

    runs: tuple[TrainingEstimate, ...]

    @property
    def total_s(self) -> float:
        return sum(run.total_s for run in self.runs)

    @property
    def sentence(self) -> str:
        """"8 runs ≈ 1 h 20 min in all on CPU (the longest ≈ 14 min)"."""
        if not self.runs:
            return "nothing to train"
        devices = sorted({run.device_name for run in self.runs})
        longest = max(run.total_s for run in self.runs)
        return (f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''} {_about(self.total_s)} in all on "
                f"{', '.join(devices)} (the longest {_about(longest)})")


def estimate_plan(configs: list[TrainConfig] | tuple[TrainConfig, ...], *, download: bool = True,
                  progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> PlanEstimate:
    """Measure a few steps of each of `configs` (`estimate_training`), loading each dataset once;
    `progress(done, total)` counts the trainings measured."""
    from cnnstudio.training.fit.training_data import load_training_data

    bundles: dict[tuple[Any, ...], Any] = {}
    results: list[TrainingEstimate] = []
    for done, config in enumerate(configs):
        key = (config.dataset, config.data_root, config.seed, config.val_fraction, config.input_size,
               tuple(config.augment))
        if key not in bundles:
            bundles[key] = load_training_data(config, cancel=cancel, download=download)
        results.append(estimate_training(config, bundle=bundles[key], cancel=cancel))
        if progress is not None:
            progress(done + 1, len(configs), f"measured {config.arch}")
    return PlanEstimate(tuple(results))
