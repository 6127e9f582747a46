"""PyTorch's CPU threads in a process where several threads use it (the app).

PyTorch's CPU kernels run on GNU OpenMP (libgomp). Every thread that starts a
multi-threaded op gets its own team of OpenMP worker threads and keeps it until that
thread exits. Once the process holds more OpenMP-managed threads than it has cores,
libgomp stops spin-waiting at the end of each parallel region and sleeps on a futex
instead (its "throttled" spin count, 100, which no environment variable can raise).
Small networks run thousands of short parallel regions a second, so that costs a lot:
measured on 2 cores, LeNet-5 trained at about 13,000 images/s in a thread after the main
thread had run one multi-threaded op, and at 19,000 without.

So in the app:
- the GUI thread runs PyTorch single-threaded (`use_torch_threads(1)`): it only ever
  converts small tensors for display, and must not own a team;
- every other thread that computes sets its own count (`use_torch_threads()`) and exits
  when its work is done (the training `QThread` per fit, pool threads that do not linger),
  so its team goes with it.

PyTorch keeps one count per thread (OpenMP's) plus a process-wide one that threads copy
the first time they use PyTorch; hence each thread states its own count instead of relying
on what another thread set last.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

__all__ = ["default_threads", "single_threaded", "threads_for_work", "use_torch_threads"]


@functools.cache
def default_threads() -> int:
    """PyTorch's own intra-op thread count on this machine (honours OMP_NUM_THREADS).

    Read once, by the first caller; call it before anything sets a count (the app calls
    it right after importing torch).
    """
    import torch

    return torch.get_num_threads()


def use_torch_threads(count: int | None = None) -> int:
    """Make the calling thread run PyTorch's CPU ops on `count` threads (None: the default).

    Returns the count now in effect for this thread.
    """
    import torch

    wanted = count if count is not None else default_threads()
    if wanted < 1:
        raise ValueError(f"a thread count must be at least 1, got {wanted}")
    # A thread's first PyTorch call copies the process-wide count into the thread; make
    # that happen now, so it cannot later overwrite the count set here.
    torch.get_num_threads()
    torch.set_num_threads(wanted)
    return wanted


# Below this many multiply-adds per step, one thread beats a team: each op is too short to
# share, and a team's hand-offs dominate — badly once other processes hold the cores (measured
# on 2 busy cores: LeNet-5's ten class images for activation maximisation took 0.4 s on one
# thread and 2.4–14 s on two).
SMALL_WORK_MACS = 3e8


def threads_for_work(macs_per_step: float) -> int | None:
    """1 for work too small to share between threads, else None (the default count)."""
    return 1 if macs_per_step < SMALL_WORK_MACS else None


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run a few small ops on one thread inside a multi-threaded computation (a recorder's
    statistics between a fit's layers), then give the thread its count back. Measured on 2 busy
    cores: a histogram, a mean/std and a max over LeNet's first maps took 16.7 ms on the fit's
    team of two and 0.37 ms on one; the fit's next convolution is as fast as before."""
    import torch

    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
