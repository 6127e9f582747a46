"""Hostile and stale state on the command line (issue 23): a queue that names someone's folder,
a queue the window left paused, a run killed before its first checkpoint, settings passed with
--resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstudio.cli import main
from cnnstudio.training import runs
from cnnstudio.training.queue import TrainingQueue, window_queue_dir
from training_helpers import folder_config, make_block_folder

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_block_folder(tmp_path_factory.mktemp("data") / "blocks")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnstudio import threads

    monkeypatch.setattr(threads, "default_threads", lambda: 1)


@pytest.fixture
def runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


def test_sweep_resume_never_touches_a_folder_its_queue_did_not_make(blocks, runs_root, tmp_path, capsys) -> None:
    queue = TrainingQueue.create(runs_root / "sweep", labelled=[("a", folder_config(blocks, epochs=1)),
                                                                ("b", folder_config(blocks, epochs=1, lr=0.1))])
    theirs = tmp_path / "home"
    theirs.mkdir()
    for name in ("run.json", "spec.json", "metrics.jsonl", "best.pt", "notes.txt"):
        (theirs / name).write_text(f"someone's {name}")
    data = json.loads(queue.path.read_text())
    data["items"][0]["run_dir"] = str(theirs)
    queue.path.write_text(json.dumps(data))
    assert main(["sweep", "--resume", str(queue.folder)]) == 0
    err = capsys.readouterr().err
    assert "failed: a: " in err and "nothing in it is touched — retry the item" in err
    assert sorted(p.name for p in theirs.iterdir()) == ["best.pt", "metrics.jsonl", "notes.txt", "run.json", "spec.json"]
    assert all(p.read_text() == f"someone's {p.name}" for p in theirs.iterdir())
    saved = TrainingQueue.load(queue.folder)
    assert [saved.status(item.id).state for item in saved.items] == ["failed", "done"]


def test_sweep_resume_of_the_windows_paused_queue_says_so_and_trains_it(blocks, runs_root, capsys) -> None:
    queue = TrainingQueue.create(window_queue_dir(), labelled=[("a", folder_config(blocks, epochs=1))])
    queue.set_paused(True)  # as the window leaves it when it closes mid-queue
    assert main(["sweep", "--resume", str(queue.folder)]) == 0
    err = capsys.readouterr().err
    assert "it was paused (the window pauses its queue when it closes); resuming it" in err
    saved = TrainingQueue.load(queue.folder)
    assert [saved.status(item.id).state for item in saved.items] == ["done"]


@pytest.mark.parametrize("paused", ["false", 0, None, [], "true"])
def test_a_paused_field_that_is_not_true_or_false_is_one_line(runs_root, capsys, paused, blocks) -> None:
    queue = TrainingQueue.create(runs_root / "sweep", labelled=[("a", folder_config(blocks, epochs=1))])
    data = json.loads(queue.path.read_text())
    data["paused"] = paused
    queue.path.write_text(json.dumps(data))
    assert main(["sweep", "--resume", str(queue.folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"is damaged ('paused' is {paused!r}, not true or false)" in err and "\n" not in err
    assert runs.list_runs(runs_root) == []
