"""Under torchrun, only rank 0 takes (and checks) a resumed run's lock (issue 22, item 5).

Every rank runs `train --resume RUN`; rank 0 may already hold the lock (a fit under way, or
the previous fit of a `--then` chain) when another rank starts: that rank must not refuse.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnstudio import cli
from cnnstudio.training.fit import distributed
from cnnstudio.training.store import runs
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import make_bundle, tiny_config

pytestmark = pytest.mark.skipif(runs.fcntl is None, reason="flock is POSIX")


class _ReachedSetup(Exception):
    """Raised instead of joining a process group: the command got past its checks."""


@pytest.fixture
def held_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    run_dir = tmp_path / "run"
    Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=make_bundle()).fit()

    def setup(_device: str, **_options: object) -> None:
        raise _ReachedSetup

    monkeypatch.setattr(distributed, "setup", setup)
    with runs.RunLock.acquire(run_dir):  # rank 0, already training the resumed run
        yield run_dir


def _as_rank(monkeypatch: pytest.MonkeyPatch, rank: int) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("LOCAL_RANK", str(rank))


def test_rank_one_does_not_race_rank_zero_for_the_run_lock(held_run: Path, monkeypatch, capsys) -> None:
    _as_rank(monkeypatch, 1)
    assert not distributed.is_main_process()
    with pytest.raises(_ReachedSetup):  # went on to join the group, as rank 0 expects
        cli.main(["train", "--resume", str(held_run), "--epochs", "2"])
    assert "in use" not in capsys.readouterr().err


def test_rank_zero_and_a_plain_process_still_refuse_a_run_in_use(held_run: Path, monkeypatch, capsys) -> None:
    _as_rank(monkeypatch, 0)
    assert distributed.is_main_process()
    assert cli.main(["train", "--resume", str(held_run), "--epochs", "2"]) == 2
    assert "is in use (by PID" in capsys.readouterr().err
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name)
    assert distributed.is_main_process()
    assert cli.main(["train", "--resume", str(held_run), "--epochs", "2"]) == 2
