"""`cnnstudio sweep` follows the engine's one queue policy (issue 19, part 4): a stop pauses the saved
queue (as the window's Stop does), and `sweep --resume` says so and goes on; a sweep that ends has
nothing left and stays paused."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnstudio.cli import main
from cnnstudio.training.experiments.queue import TrainingQueue
from tests.helpers.training import make_block_folder

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def _sweep(blocks: Path, *more: str) -> list[str]:
    return ["sweep", "--arch", "lenet5", "-o", "activation=relu", "-o", "pool=max", "--dataset", str(blocks),
            "--input-size", "16", "--batch-size", "4", "--device", "cpu", "--epochs", "1", *more]


@pytest.mark.slow
def test_a_stop_pauses_the_saved_queue_and_resume_says_why_and_goes_on(tmp_path, runs_root, capsys,
                                                                      monkeypatch) -> None:
    import cnnstudio.cli as cli

    blocks = make_block_folder(tmp_path / "blocks")
    real_fit = cli._fit_with_ctrl_c_as_stop

    def stop(trainer):
        trainer.request_stop()  # as Ctrl-C does, before its first batch
        return real_fit(trainer)

    monkeypatch.setattr(cli, "_fit_with_ctrl_c_as_stop", stop)
    assert main(_sweep(blocks, "--vary", "lr=0.05,0.1")) == 0
    (folder,) = [p for p in runs_root.iterdir() if "_sweep-" in p.name]
    queue = TrainingQueue.load(folder)
    assert queue.paused and [queue.status(item.id).state for item in queue.items] == ["stopped", "waiting"]
    capsys.readouterr()

    monkeypatch.setattr(cli, "_fit_with_ctrl_c_as_stop", real_fit)
    assert main(["sweep", "--resume", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "queue: it was paused (a stop pauses it); resuming it" in err and "[1/2] lr=0.05 (resuming)" in err
    queue = TrainingQueue.load(folder)
    assert [queue.status(item.id).state for item in queue.items] == ["done", "done"]
    assert queue.paused and not queue.remaining()  # finished: nothing left, nothing starts by itself
