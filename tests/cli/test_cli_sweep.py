"""`cnnstudio sweep` (issue 13, part 3): runs one after another, the closing table and CSV, a failed
run that does not end the sweep, a stop that leaves it resumable, and a kill -9 at any moment."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnstudio.cli import main
from cnnstudio.training.store import runs
from cnnstudio.training.experiments.queue import TrainingQueue

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("one_default_thread")]


def tiny(blocks: Path, *more: str) -> list[str]:
    """A LeNet-5 sweep on the block folder that trains in a blink."""
    return ["sweep", "--arch", "lenet5", "-o", "activation=relu", "-o", "pool=max", "--dataset", str(blocks),
            "--input-size", "16", "--batch-size", "4", "--device", "cpu", *more]


def sweep_folder(runs_dir: Path) -> Path:
    (folder,) = [p for p in runs_dir.iterdir() if "_sweep-" in p.name]
    return folder


def test_a_sweep_trains_each_value_and_ends_with_the_table_and_csv(blocks, runs_dir, capsys) -> None:
    code = main(tiny(blocks, "--epochs", "1", "--vary", "lr=0.05,0.1"))
    out, err = capsys.readouterr()
    assert code == 0, err
    folder = sweep_folder(runs_dir)
    assert f"queue: {folder / 'queue.json'}" in err and "[1/2] lr=0.05" in err and "[2/2] lr=0.1" in err
    assert err.count("epoch 1/1") == 2  # the same console progress as train
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["run", "differs", "epochs", "top-1"]
    assert sorted(line.split()[1] for line in lines[2:4]) == ["lr=0.05", "lr=0.1"]
    assert sorted(line.split()[0] for line in lines[2:4]) == ["lr=0.05", "lr=0.1"]  # named by the sweep's labels
    assert lines[-1] == f"table: {folder / 'comparison.csv'}"
    with open(folder / "comparison.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["status"] for row in rows] == ["finished", "finished"]
    tops = [float(row["best_top1"]) for row in rows]
    assert tops == sorted(tops, reverse=True)  # best first
    queue = TrainingQueue.load(folder)
    assert [queue.status(item.id).state for item in queue.items] == ["done", "done"]
    listed = {str(run.path) for run in runs.list_runs(runs_dir)}  # normal runs, listed with the others
    assert listed == {item.run_dir for item in queue.items}


def test_a_failed_run_is_marked_with_its_reason_and_the_sweep_goes_on(blocks, runs_dir, capsys) -> None:
    code = main(tiny(blocks, "--epochs", "1", "--vary", "lr=1e12,0.05"))
    out, err = capsys.readouterr()
    assert code == 0, err
    queue = TrainingQueue.load(sweep_folder(runs_dir))
    first, second = (queue.status(item.id) for item in queue.items)
    assert first.state == "failed" and ("NaN" in first.reason or "Inf" in first.reason)
    assert second.state == "done" and second.epochs_done == 1
    assert "going on with the next run" in err and f"failed: lr=1e+12: {first.reason}" in err
    assert "[2/2] lr=0.05" in err


def test_a_stop_leaves_the_sweep_resumable_and_resume_trains_only_what_remains(blocks, runs_dir, capsys,
                                                                                monkeypatch) -> None:
    import cnnstudio.cli as cli

    real_fit, fits = cli._fit_with_ctrl_c_as_stop, []

    def stop_the_second(trainer):
        fits.append(trainer)
        if len(fits) == 2:
            trainer.request_stop()  # as Ctrl-C does, before its first batch
        return real_fit(trainer)

    monkeypatch.setattr(cli, "_fit_with_ctrl_c_as_stop", stop_the_second)
    assert main(tiny(blocks, "--epochs", "1", "--vary", "lr=0.05,0.1,0.2")) == 0
    _out, err = capsys.readouterr()
    folder = sweep_folder(runs_dir)
    assert f"sweep stopped; continue it with: cnnstudio sweep --resume {folder}" in err
    queue = TrainingQueue.load(folder)
    assert [queue.status(item.id).state for item in queue.items] == ["done", "stopped", "waiting"]
    first_run = Path(queue.items[0].run_dir)
    first_metrics = (first_run / "metrics.jsonl").read_bytes()

    monkeypatch.setattr(cli, "_fit_with_ctrl_c_as_stop", real_fit)
    assert main(["sweep", "--resume", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "[1/3]" not in err and "[2/3] lr=0.1 (resuming)" in err and "[3/3] lr=0.2" in err
    queue = TrainingQueue.load(folder)
    assert [queue.status(item.id).state for item in queue.items] == ["done", "done", "done"]
    assert (first_run / "metrics.jsonl").read_bytes() == first_metrics  # the done one was not trained again
    assert queue.items[1].run_dir == str(fits[1].run_dir)  # the stopped one went on in its own folder
    assert len([line for line in out.splitlines() if "finished" in line]) == 3


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--epochs", "1"], "sweep needs --vary"),
        (["--vary", "lrr=0.1,0.2"], "did you mean lr?"),
        (["--vary", "lr=0.1,-2"], "lr must be a number > 0"),
        (["--study"], "--study is the tricks CNN's own set of runs; leave out --vary, --all-on and -o"),
        (["--retry-failed", "--vary", "lr=0.1"], "--retry-failed goes with --resume"),
    ],
)
def test_bad_sweeps_are_one_line_and_make_no_folder(blocks, runs_dir, capsys, args, words) -> None:
    assert main(tiny(blocks, *args)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "Traceback" not in err[0]
    assert not runs_dir.exists() or not any("_sweep-" in p.name for p in runs_dir.iterdir())


def test_resume_takes_no_new_settings_and_a_damaged_queue_is_one_line(tmp_path, runs_dir, capsys) -> None:
    assert main(["sweep", "--study", "--arch", "lenet5"]) == 2
    assert "--study trains the tricks CNN; leave --arch out" in capsys.readouterr().err
    assert main(["sweep", "--resume", str(tmp_path), "--lr", "0.1", "--vary", "gap"]) == 2
    assert "leave out --lr, --vary" in capsys.readouterr().err
    (tmp_path / "queue.json").write_text('{"format": "cnnstudio-queue", "version": 1, "items": [{"id"')
    assert main(["sweep", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "queue.json" in err[0] and "not valid JSON" in err[0]


@pytest.mark.skipif(runs.fcntl is None, reason="the queue's lock is POSIX flock")
@pytest.mark.slow
def test_a_kill_9_at_any_moment_leaves_a_sweep_that_resumes_to_the_end(blocks, runs_dir, capsys) -> None:
    """The sweep is killed wherever it happens to be once its first run has begun; the resume
    then finishes every run, each in one folder, each with all its epochs."""
    epochs = 10
    env = dict(os.environ, CNNSTUDIO_RUNS=str(runs_dir), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "cnnstudio", *tiny(blocks, "--epochs", str(epochs),
                                                                       "--vary", "lr=0.05,0.1")],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            started = [p for p in runs_dir.glob("*_lenet5-*") if (p / "metrics.jsonl").is_file()]
            if started:
                break
            time.sleep(0.05)
        assert started, "the sweep never began training"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    folder = sweep_folder(runs_dir)
    killed = TrainingQueue.load(folder)  # readable whatever the moment
    states = [killed.status(item.id).state for item in killed.items]
    assert "running" not in states  # its writer is dead: never shown as running
    created = {item.run_dir: runs.open_run(item.run_dir).created for item in killed.items
               if item.run_dir and (Path(item.run_dir) / "last.pt").is_file()}

    assert main(["sweep", "--resume", str(folder)]) == 0
    capsys.readouterr()
    queue = TrainingQueue.load(folder)
    assert [queue.status(item.id).state for item in queue.items] == ["done", "done"], [queue.status(item.id) for item in queue.items]
    for item in queue.items:
        run = runs.open_run(item.run_dir)
        assert [s.epoch for s in run.history()] == list(range(1, epochs + 1))
        if item.run_dir in created:
            assert run.created == created[item.run_dir]  # resumed in its folder, not started over
    assert len(runs.list_runs(runs_dir)) == 2  # one run folder per item, no duplicates
    assert json.loads((folder / "queue.json").read_text())["format"] == "cnnstudio-queue"


def test_resuming_a_finished_sweep_says_so_and_shows_its_table(blocks, runs_dir, capsys) -> None:
    assert main(tiny(blocks, "--epochs", "1", "--vary", "lr=0.05,0.1")) == 0
    capsys.readouterr()
    folder = sweep_folder(runs_dir)
    assert main(["sweep", "--resume", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "all 2 runs have ended; their table follows" in err and "epoch 1/1" not in err  # nothing trained again
    assert out.splitlines()[0].split()[:2] == ["run", "differs"]
