"""The run lock is the folder, not a path in it (issue 23, items 6 and 8): deleting or replacing
`RUN/.lock` lets no second writer in, and a run nobody holds is never "running", whatever PID
its run.json names."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cnnstudio.training.store import runs
from tests.helpers.training import write_history_run

pytestmark = pytest.mark.skipif(runs.fcntl is None, reason="the run lock is POSIX flock")


@pytest.mark.parametrize("tamper", ["delete", "replace", "fifo"])
def test_tampering_with_the_lock_file_admits_no_second_writer(tmp_path: Path, tamper: str) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with runs.RunLock.acquire(run):
        lock = run / runs.LOCK_FILE
        lock.unlink()
        if tamper == "replace":
            lock.write_text("1 elsewhere\n")
        elif tamper == "fifo":
            os.mkfifo(lock)
        with pytest.raises(runs.RunInUseError, match="is in use"):
            runs.RunLock.acquire(run, wait_s=0.1)
        assert runs.run_in_use(run) is True
    with runs.RunLock.acquire(run, wait_s=0.1):  # released: the next writer gets in
        pass
    assert runs.run_in_use(run) is False


@pytest.mark.parametrize("pid", [1, "self"])
def test_a_running_run_that_nobody_locks_is_interrupted_whatever_its_pid(tmp_path: Path, pid) -> None:
    run = write_history_run(tmp_path / "run", val_accs=[0.5])
    meta = json.loads((run / "run.json").read_text())
    meta.update(status="running", pid=os.getpid() if pid == "self" else pid)  # both alive: PIDs are reused
    (run / "run.json").write_text(json.dumps(meta))
    (run / runs.LOCK_FILE).unlink(missing_ok=True)
    assert runs.open_run(run).status == "interrupted"
    with runs.RunLock.acquire(run):
        assert runs.open_run(run).status == "running"


@pytest.mark.parametrize("plant", ["link", "fifo"])
def test_metrics_are_never_appended_through_a_link_or_into_a_fifo(tmp_path: Path, plant: str) -> None:
    from cnnstudio.errors import CheckpointError

    run = write_history_run(tmp_path / "run", val_accs=[0.5])
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (run / "metrics.jsonl").unlink()
    if plant == "link":
        (run / "metrics.jsonl").symlink_to(victim)
    else:
        os.mkfifo(run / "metrics.jsonl")
    with pytest.raises(CheckpointError, match="could not append to"):
        runs.RunWriter(run).append_metrics({"epoch": 2})
    assert victim.read_text() == "precious\n"
