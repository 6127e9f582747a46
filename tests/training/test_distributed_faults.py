"""A dead or frozen torchrun process (issue 23, items 11 and 19): the others wait at most the
collective timeout (--dist-timeout, not gloo's 30 minutes) and the run fails with one line as
its reason, never a gloo traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cnnstudio.cli import main
from cnnstudio.errors import TrainingError
from cnnstudio.training.fit import distributed
from cnnstudio.training.fit.distributed import collective_timeout, peer_failure, torchrun_command

HERE = Path(__file__).parent


@pytest.mark.parametrize("text, words", [
    ("[/__w/pytorch/third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:78] Timed out waiting 5000ms for recv "
     "operation to complete", "another process of this run stopped answering for 5 min (--dist-timeout)"),
    ("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:4242\nmore\nlines",
     "another process of this run stopped: Connection closed by peer [127.0.0.1]:4242 — the run ends at its last"),
])
def test_a_collective_failing_on_a_peer_is_one_line(text: str, words: str) -> None:
    lost = peer_failure(RuntimeError(text))
    assert isinstance(lost, TrainingError) and words in str(lost) and "\n" not in str(lost)
    assert peer_failure(RuntimeError("CUDA out of memory")) is None  # not a peer's fault: left as it is
    assert peer_failure(ValueError("gloo")) is None


def test_the_collective_timeout_is_minutes_from_the_flag_or_the_environment(monkeypatch, capsys) -> None:
    assert collective_timeout() == distributed.DEFAULT_TIMEOUT_MIN == 5.0
    monkeypatch.setenv("CNNSTUDIO_DIST_TIMEOUT", "0.5")
    assert collective_timeout() == 0.5 and collective_timeout("12") == 12.0
    for bad in ("0", "-1", "nan", "inf", "soon", "1441"):
        with pytest.raises(TrainingError, match="--dist-timeout must be minutes above 0"):
            collective_timeout(bad)
    assert main(["train", "--nproc", "2", "--dist-timeout", "nan", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--dist-timeout must be minutes above 0 and at most 1440 (a day); got 'nan'" in err and "\n" not in err


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_frozen_process_fails_the_run_in_one_line_after_the_timeout(tmp_path: Path) -> None:
    from tests.helpers.training import make_block_folder

    folder = make_block_folder(tmp_path / "blocks")
    run_dir, pid_file = tmp_path / "runs" / "ddp", tmp_path / "frozen.pid"
    command = torchrun_command(2, ["train", "--arch", "lenet5", "-o", "activation=relu", "--dataset", str(folder),
                                   "--input-size", "16", "--batch-size", "4", "--epochs", "50", "--device", "cpu",
                                   "--out", str(run_dir), "--dist-timeout", "0.1"])
    command[command.index("-m", 3):command.index("-m", 3) + 2] = [str(HERE / "dist_freeze.py")]
    env = dict(os.environ, FREEZE_RANK="1", PID_FILE=str(pid_file), CNNSTUDIO_RUNS=str(tmp_path / "runs"),
               OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(HERE.parents[1]), str(HERE),
                                                                 os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    started = time.monotonic()
    try:
        deadline = started + 180
        while time.monotonic() < deadline:
            meta = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").is_file() else {}
            if meta.get("status") == "failed":
                break
            time.sleep(0.2)
        waited = time.monotonic() - started
    finally:
        if pid_file.is_file():
            os.kill(int(pid_file.read_text()), signal.SIGKILL)  # the frozen rank, so torchrun ends now
        _, stderr = proc.communicate(timeout=60)
    assert meta.get("status") == "failed", stderr[-3000:]
    assert meta["reason"].startswith("another process of this run stopped answering for 0.1 min (--dist-timeout)")
    assert "\n" not in meta["reason"] and waited < 170
    rank0 = [line for line in stderr.splitlines() if "another process of this run stopped" in line]
    assert rank0 and not any("gloo" in line for line in rank0)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_nproc_ends_in_one_line_when_a_process_fails(tmp_path: Path, capsys, monkeypatch) -> None:
    """`train --nproc 2` where each process refuses the dataset: each says why, and the launcher
    adds one line instead of torchrun's ChildFailedError traceback."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    code = main(["train", "--nproc", "2", "--arch", "lenet5", "--dataset", str(tmp_path / "missing"), "--device", "cpu",
                 "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cnnstudio: training over 2 processes ended: process 0 exited with code 2" in err
    assert "ChildFailedError" not in err


def test_a_killed_process_is_named_by_its_signal() -> None:
    from types import SimpleNamespace

    line = distributed.launch_failure({1: SimpleNamespace(exitcode=-9), 0: SimpleNamespace(exitcode=-15)}, 2)
    assert line == ("training over 2 processes ended: process 0 was killed (SIGTERM); process 1 was killed (SIGKILL) "
                    "— each said why above")
