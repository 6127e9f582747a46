"""Hostile and stale state on the command line (issue 23): a queue that names someone's folder,
a queue the window left paused, a run killed before its first checkpoint, settings passed with
--resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstudio.cli import main
from cnnstudio.training.store import runs
from cnnstudio.training.experiments.queue import TrainingQueue, window_queue_dir
from tests.helpers.training import folder_config

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("one_default_thread")]


def test_sweep_resume_never_touches_a_folder_its_queue_did_not_make(blocks, runs_dir, tmp_path, capsys) -> None:
    queue = TrainingQueue.create(runs_dir / "sweep", labelled=[("a", folder_config(blocks, epochs=1)),
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


def test_sweep_resume_of_the_windows_paused_queue_says_so_and_trains_it(blocks, runs_dir, capsys) -> None:
    queue = TrainingQueue.create(window_queue_dir(), labelled=[("a", folder_config(blocks, epochs=1))])
    queue.set_paused(True)  # as the window leaves it when it closes mid-queue
    assert main(["sweep", "--resume", str(queue.folder)]) == 0
    err = capsys.readouterr().err
    assert "it was paused (the window pauses its queue when it closes); resuming it" in err
    saved = TrainingQueue.load(queue.folder)
    assert [saved.status(item.id).state for item in saved.items] == ["done"]


@pytest.mark.parametrize("paused", ["false", 0, None, [], "true"])
def test_a_paused_field_that_is_not_true_or_false_is_one_line(runs_dir, capsys, paused, blocks) -> None:
    queue = TrainingQueue.create(runs_dir / "sweep", labelled=[("a", folder_config(blocks, epochs=1))])
    data = json.loads(queue.path.read_text())
    data["paused"] = paused
    queue.path.write_text(json.dumps(data))
    assert main(["sweep", "--resume", str(queue.folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"is damaged ('paused' is {paused!r}, not true or false)" in err and "\n" not in err
    assert runs.list_runs(runs_dir) == []


def _unstarted_run(runs_dir: Path, blocks: Path) -> Path:
    """A run the trainer made and was killed in before its first checkpoint (config.json, run.json
    "running", no last.pt)."""
    from tests.helpers.training import make_bundle

    run = runs.new_run_dir(runs_dir, arch="lenet5", dataset=str(blocks))
    runs.RunWriter(run).start(folder_config(blocks, epochs=1), make_bundle().spec.to_dict())
    return run


def test_train_resume_of_a_run_killed_before_its_first_checkpoint_starts_it_again_in_place(blocks, runs_dir,
                                                                                            capsys) -> None:
    run = _unstarted_run(runs_dir, blocks)
    assert main(["train", "--resume", str(run)]) == 0
    err = capsys.readouterr().err
    assert "was stopped before its first checkpoint (nothing was trained): it starts again in its folder" in err
    info = runs.open_run(run)
    assert info.status == "finished" and [s.epoch for s in info.history()] == [1]
    assert runs.list_runs(runs_dir) == [info]


@pytest.mark.parametrize("case", ["not ours", "results without last.pt", "someone's file in it"])
def test_train_resume_without_last_pt_that_is_not_a_fresh_run_of_ours_deletes_nothing(blocks, runs_dir, capsys,
                                                                                       case: str) -> None:
    from cnnstudio.training.store.new_run import OWNER_FILE

    run = _unstarted_run(runs_dir, blocks)
    if case == "not ours":
        (run / OWNER_FILE).unlink()  # a run of an older cnnstudio, or someone's folder
        words = "is not a run folder cnnstudio made, so nothing in it is touched"
    elif case == "results without last.pt":
        (run / "best.pt").write_bytes(b"their best")
        words = "holds results (best.pt, its metrics) but its last.pt is missing, so it cannot be resumed"
    else:
        (run / "notes.txt").write_text("mine")
        words = "also holds files that are not the run's (notes.txt), so it is not cleared"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no last.pt to resume from: " in err and words in err and "--init-from" in err and "\n" not in err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_train_resume_of_a_finished_run_is_refused_before_the_data_and_the_estimate(blocks, runs_dir, capsys,
                                                                                     monkeypatch) -> None:
    assert main(["train", "--arch", "lenet5", "-o", "activation=relu", "--dataset", str(blocks), "--input-size", "16",
                 "--batch-size", "4", "--epochs", "1", "--device", "cpu", "--out", str(runs_dir / "done")]) == 0
    capsys.readouterr()
    from cnnstudio.training.fit import trainer

    monkeypatch.setattr(trainer, "load_training_data", lambda *a, **k: pytest.fail("the data was loaded"))
    assert main(["train", "--resume", str(runs_dir / "done")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("has already trained 1 epoch(s); ask for more than 1 epochs to resume (--epochs N, the new total)")
    assert "estimate" not in err.lower() and "\n" not in err


@pytest.mark.parametrize("flags", [["--batch-size", "16"], ["--lr", "0.1"], ["-o", "activation=tanh"],
                                   ["--device", "cpu", "--seed", "3"], ["--out", "elsewhere"], ["--no-history"]])
def test_settings_flags_with_train_resume_are_refused_in_words(blocks, runs_dir, capsys, flags) -> None:
    run = _unstarted_run(runs_dir, blocks)
    assert main(["train", "--resume", str(run), "--epochs", "3", *flags]) == 2
    err = capsys.readouterr().err.strip()
    named = [flag for flag in flags if flag.startswith("-")]
    shown = {"-o": "--option"}
    assert err.startswith("error: --resume continues the run with its own settings; leave out ") or \
        "--resume continues the run with its own settings; leave out " in err
    assert all(shown.get(flag, flag) in err for flag in named) and "only --epochs, the new total, may be given" in err
    assert not (run / "last.pt").exists()
