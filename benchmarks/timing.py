"""Shared pieces of the benchmark: clocks that respect CUDA, percentiles, the machine, figures.

Every section returns `Figure`s (one table row each) and a dict of raw numbers for the
JSON file; `run.py` prints and saves them.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Figure", "Section", "in_fresh_thread", "machine_info", "percentile", "sync", "time_calls", "median"]


@dataclass
class Figure:
    """One row of the table: what was measured, its value, the target and whether it was met."""

    key: str  # "a.ratio"
    label: str  # what a person reads
    value: float | None
    unit: str = ""
    target: str = ""  # "≥ 0.95", empty when the figure has no target
    met: bool | None = None  # None: no target, or not measured
    detail: str = ""  # the side-by-side numbers behind a ratio

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready values."""
        return asdict(self)


@dataclass
class Section:
    """A section's outcome: its rows, the raw measurements, and notes (diagnoses, skips)."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def sync(device: Any) -> None:
    """Wait for queued device work before a clock is read (CUDA kernels run asynchronously)."""
    import torch

    if getattr(device, "type", str(device)).startswith("cuda"):
        torch.cuda.synchronize(device)


def in_fresh_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `fn(*args, **kwargs)` in a new thread with PyTorch's default thread count; its result or error.

    The benchmark's own PyTorch work runs this way, never in the main thread, which is the
    app's GUI thread: a thread that runs a multi-threaded op keeps an OpenMP team until it
    exits, and a team beyond the core count slows every later fit (see cnnstudio.threads).
    """
    import threading

    from cnnstudio.threads import use_torch_threads

    outcome: dict[str, Any] = {}

    def body() -> None:
        try:
            use_torch_threads()
            outcome["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=body, name=f"bench-{getattr(fn, '__name__', 'work')}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def time_calls(fn: Callable[[], Any], *, repeats: int, warmup: int = 1, device: Any = "cpu") -> list[float]:
    """Seconds of each of `repeats` calls of `fn` after `warmup` untimed ones (device synchronised)."""
    for _ in range(warmup):
        fn()
    sync(device)
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - started)
    return out


def median(values: Sequence[float]) -> float:
    """The median (NaN for no values, so a missing measurement never looks like zero)."""
    return statistics.median(values) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: Any) -> dict[str, Any]:
    """The machine the figures come from: CPU, cores, memory, library versions, device."""
    import PySide6
    import torch
    import torchvision

    from cnnstudio.threads import default_threads

    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": default_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "pyside6": PySide6.__version__,
        "device": str(device),
    }
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gb"] = round(pages * page_size / 1e9, 1)
    except (ValueError, OSError, AttributeError):
        pass
    if getattr(device, "type", "") == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["bf16"] = torch.cuda.is_bf16_supported()
    return info
