"""The app's PyTorch threads: the GUI thread on one, background work on the default, teams gone after."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest
import torch

from cnnstudio.gui.state import GIL_SWITCH_INTERVAL_S
from cnnstudio.threads import default_threads


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_the_gui_thread_runs_torch_on_one_thread_and_jobs_on_the_default(state, qtbot):
    assert torch.get_num_threads() == 1  # set by mark_torch_ready, in this (the GUI) thread
    assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S)  # workers get the GIL back quickly
    seen = []
    state.run_in_background(lambda: (torch.get_num_threads(), threading.get_ident()), on_done=seen.append)
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    count, ident = seen[0]
    assert count == default_threads()
    assert ident != threading.get_ident()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through Linux's /proc")
def test_a_background_job_leaves_no_threads_behind(state, qtbot):
    # A pool thread that ran a multi-threaded op owns an OpenMP team until it exits; the
    # pool lets its threads go at once, so the team does not slow a later fit.
    torch.ones(10).tanh_()
    before = _os_threads()
    done = []
    state.run_in_background(lambda: torch.ones(4_000_000).tanh_().sum().item(), on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=10_000)
    qtbot.waitUntil(lambda: _os_threads() <= before, timeout=10_000)


def test_the_engine_import_leaves_the_collector_on_and_freezes_what_it_loaded(monkeypatch):
    import gc

    from cnnstudio.gui import state as state_module

    state_module.import_engine()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0  # the engine's long-lived objects are out of the collector's way
    # A failed import (a broken install) must not leave the collector off for the app's life.
    monkeypatch.setattr(state_module, "_ENGINE_MODULES", ("cnnstudio_no_such_module",))
    with pytest.raises(ModuleNotFoundError):
        state_module.import_engine()
    assert gc.isenabled()
