"""One writer per run (issue 15 #5), and what a kill leaves (issue 15 #4, issue 11 #2).

The lock is an OS lock the kernel drops when its holder dies, so these tests use real
processes: a holder that is alive, one killed with SIGKILL, and a training killed in the
middle of writing last.pt.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cnnstudio.training.store import runs
from cnnstudio.training.fit.callbacks import Callback
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import make_bundle, tiny_config

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(runs.fcntl is None, reason="flock is POSIX")]
REPO = Path(__file__).resolve().parents[2]


def _holder(run_dir: Path) -> subprocess.Popen[str]:
    """Another process that takes the run's lock, says so, and sleeps."""
    code = ("import sys, time; from cnnstudio.training.store.runs import RunLock; "
            f"lock = RunLock.acquire({str(run_dir)!r}); print('locked', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.slow
def test_a_second_writer_is_refused_naming_the_pid_and_the_lock_dies_with_its_holder(tmp_path: Path, bundle) -> None:
    run_dir = tmp_path / "run"
    Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=bundle).fit()
    proc = _holder(run_dir)
    try:
        with pytest.raises(runs.RunInUseError, match=rf"^the run .*run is in use \(by PID {proc.pid}\) — wait"):
            Trainer(tiny_config(epochs=2), resume_from=run_dir, bundle=bundle).fit()
        assert runs.run_in_use(run_dir) is True
        assert [row["epoch"] for row in runs.open_run(run_dir).metrics()] == [1]  # nothing was written
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert runs.run_in_use(run_dir) is False  # the kernel released it
    assert Trainer(tiny_config(epochs=2), resume_from=run_dir, bundle=bundle).fit().epochs_done == 2


@pytest.mark.slow
def test_two_fits_of_one_run_in_one_process_exclude_each_other(tmp_path: Path, bundle) -> None:
    run_dir = tmp_path / "run"
    Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=bundle).fit()
    started = threading.Event()

    class PauseAtFirstBatch(Callback):
        def on_batch_end(self, trainer, stats) -> None:
            if not started.is_set():
                trainer.pause()
                started.set()

    first = Trainer(tiny_config(epochs=3), [PauseAtFirstBatch()], resume_from=run_dir, bundle=bundle)
    worker = threading.Thread(target=first.fit)
    worker.start()
    try:
        assert started.wait(30)
        assert runs.open_run(run_dir).status == "running"  # alive: not "interrupted"
        with pytest.raises(runs.RunInUseError, match=f"in use \\(by PID {os.getpid()}\\)"):
            Trainer(tiny_config(epochs=3), resume_from=run_dir, bundle=bundle).fit()
        with pytest.raises(runs.RunInUseError):
            runs.check_not_in_use(run_dir)
    finally:
        first.request_stop()
        worker.join(30)
    rows = [row["epoch"] for row in runs.open_run(run_dir).metrics()]
    assert rows == [1] and runs.open_run(run_dir).status == "stopped"


_KILLED_IN_SAVE = """
import sys, time
from pathlib import Path
from tests.helpers.training import make_bundle, tiny_config
import cnnstudio.training.store.checkpoints as checkpoints
from cnnstudio.training.fit.trainer import Trainer

real = checkpoints.atomic_write
saves = []

def slow_second_last_pt(path, write, **kwargs):
    saves.append(Path(path).name)
    if saves.count("last.pt") == 2:  # epoch 2's checkpoint: write part of it, then hang until killed
        def half(handle):
            handle.write(b"PK\\x03\\x04" + bytes(4096))
            handle.flush()
            print("SAVING", flush=True)
            time.sleep(600)
        return real(path, half, **kwargs)
    return real(path, write, **kwargs)

checkpoints.atomic_write = slow_second_last_pt
Trainer(tiny_config(epochs=3), run_dir=sys.argv[1], bundle=make_bundle()).fit()
"""


@pytest.mark.slow
def test_kill_9_during_a_save_loses_nothing_saved_and_the_resume_cleans_up(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_IN_SAVE, str(run_dir)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "SAVING", proc.stderr.read() if proc.poll() is not None else line
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    leftovers = sorted(p.name for p in run_dir.glob(".last.pt.*.tmp"))
    assert len(leftovers) == 1
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"  # what the dead writer left
    info = runs.open_run(run_dir)
    # Epoch 2 reached the log but not last.pt: the listing shows the checkpoint's epoch 1.
    assert (info.status, info.epochs_done, len(info.metrics())) == ("interrupted", 1, 1)
    assert len(runs._read_metrics(run_dir / "metrics.jsonl")[0]) == 2

    result = Trainer(tiny_config(epochs=3), resume_from=run_dir, bundle=make_bundle()).fit()
    assert result.epochs_done == 3
    assert not list(run_dir.glob(".*.tmp"))
    info = runs.open_run(run_dir)
    assert info.status == "finished" and [row["epoch"] for row in info.metrics()] == [1, 2, 3]


@pytest.mark.slow
def test_a_sigterm_stops_the_command_line_training_like_ctrl_c(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = dict(os.environ, CNNSTUDIO_RUNS=str(tmp_path / "runs"))
    proc = subprocess.Popen([sys.executable, "-m", "cnnstudio", "train", "--arch", "lenet5", "--dataset",
                             "mnist-sample", "--epochs", "50", "--device", "cpu", "--out", str(out)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if line.startswith("run folder:"):
                break
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "the run is saved (SIGTERM again to abort)" in stderr
    assert stderr.count("stopped by the user") == 1  # said once, with where the checkpoint stands
    assert f"resume with: cnnstudio train --resume {out}" in stderr
    assert stdout.strip() == str(out)
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "stopped" and meta["pid"] == proc.pid
    info = runs.open_run(out)
    assert info.status == "stopped" and (out / "last.pt").exists()
    assert info.progress_text.startswith("stopped in epoch 1 at batch ") or info.epochs_done >= 1


@pytest.mark.slow
def test_a_sigterm_before_training_says_so_instead_of_vanishing(tmp_path: Path) -> None:
    # During the pre-training estimate (VGG-11's measured steps take seconds on a CPU) no fit's
    # stop handler is in place yet: the command unwinds like Ctrl-C and says it was terminated.
    env = dict(os.environ, CNNSTUDIO_RUNS=str(tmp_path / "runs"))
    proc = subprocess.Popen([sys.executable, "-m", "cnnstudio", "train", "--arch", "vgg11", "--dataset",
                             "mnist-sample", "--epochs", "1", "--device", "cpu", "--estimate"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if line.startswith("input "):  # printed just before the estimate's steps
                break
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert "cnnstudio: terminated (SIGTERM)" in stderr and "Traceback" not in stderr
    assert "estimate:" not in stdout
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # an estimate makes no run
