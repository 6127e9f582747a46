"""cnnstudio.threads: each thread states its own PyTorch thread count; one thread never owns another's team."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from cnnstudio.threads import default_threads, use_torch_threads


def _in_thread(fn):
    out = []
    worker = threading.Thread(target=lambda: out.append(fn()))
    worker.start()
    worker.join()
    return out[0]


def test_a_threads_count_is_its_own():
    main_before = torch.get_num_threads()

    def one_then_read() -> tuple[int, int]:
        return use_torch_threads(1), torch.get_num_threads()

    assert _in_thread(one_then_read) == (1, 1)
    # A thread started afterwards asks for the default and gets it, whatever the last thread set.
    assert _in_thread(lambda: (use_torch_threads(), torch.get_num_threads())) == (default_threads(),) * 2
    assert torch.get_num_threads() == main_before


def test_a_count_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        use_torch_threads(0)


@pytest.mark.slow
def test_the_default_honours_omp_num_threads():
    code = "from cnnstudio.threads import default_threads; print(default_threads())"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


_COUNT_OS_THREADS = """
import os, torch
from cnnstudio.threads import use_torch_threads
torch.ones(10).tanh_()  # PyTorch's own start-up threads, if any, exist before counting
before = len(os.listdir("/proc/self/task"))
use_torch_threads({count})
torch.ones(4_000_000).tanh_()  # large enough for PyTorch to split it across threads
print(len(os.listdir("/proc/self/task")) - before)
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through Linux's /proc")
@pytest.mark.parametrize(("count", "starts_threads"), [(1, False), (2, True)])
@pytest.mark.slow
def test_a_single_threaded_thread_starts_no_openmp_team(count, starts_threads):
    # The GUI thread runs PyTorch on one thread so that it never owns an OpenMP team: teams
    # beyond the core count slow the training thread (see cnnstudio.threads). The 2-thread
    # run is the control that shows the count would see a team.
    code = _COUNT_OS_THREADS.format(count=count)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (int(out.stdout.strip()) > 0) is starts_threads
