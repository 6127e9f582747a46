"""One user at a time of the process's random generators (torch's default one, NumPy's, Python's).

A fit seeds them and draws from them for its whole length (weight initialisation, dropout);
the estimate and the LR range test build and train models of their own and put the
generators back when they are done. Each is right alone. In one process with several
threads — the window runs a fit in its QThread and an estimate or an LR test in the pool —
two at once would interleave their draws, and one's restore would rewind the other's stream:
a fit would no longer follow from its seed (and a test of the LR finder failed at random).
Each holds `exclusive_rng()` for as long as it draws; in a process with one thread (the
command line, torchrun's ranks) it is never contended.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cnnstudio.errors import Cancelled
from cnnstudio.progress import CancelFn

__all__ = ["exclusive_rng", "rng_in_use"]

_LOCK = threading.RLock()  # re-entrant: a sweep's fits and a fit's own helpers run in one thread
POLL_S = 0.05  # how often a waiter asks whether it was cancelled


@contextmanager
def exclusive_rng(cancel: CancelFn | None = None) -> Iterator[None]:
    """Hold the random generators until the block ends, waiting for another user to finish.

    `cancel()` → True while waiting raises `Cancelled` (an estimate asked for while a
    training runs can be called off); without it the wait lasts until the other is done.
    """
    while not _LOCK.acquire(timeout=POLL_S):
        if cancel is not None and cancel():
            raise Cancelled("cancelled while waiting for another training in this process to finish")
    try:
        yield
    finally:
        _LOCK.release()


def rng_in_use() -> bool:
    """Whether another thread holds the generators now (for tests and status lines)."""
    if _LOCK.acquire(blocking=False):
        _LOCK.release()
        return False
    return True
