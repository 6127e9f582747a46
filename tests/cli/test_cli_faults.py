"""The command line on hostile input (issue 15): one line on stderr, exit 2, never a traceback.

Run in-process (`cli.main`) for speed; `test_cli.py` covers the real subprocess."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cnnstudio.cli import main
from cnnstudio.training.store import runs
from cnnstudio.training.fit.trainer import Trainer

from tests.helpers.training import make_bundle, tiny_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("good") / "run"
    Trainer(tiny_config(epochs=1), run_dir=run_dir, bundle=make_bundle()).fit()
    return run_dir


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(capsys, *args: str) -> str:
    code, _out, err = _run(capsys, *args)
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_runs_lists_every_readable_run_and_one_line_per_damaged_one(tmp_path: Path, good_run: Path, capsys) -> None:
    root = tmp_path / "runs"
    shutil.copytree(good_run, root / "ok")
    for name, content in (("zz", b"[]"), ("deep", b"[" * 100_000), ("nulls", b"null")):
        shutil.copytree(good_run, root / name)
        (root / name / "config.json").write_bytes(content)
    (root / "not-a-run").mkdir()
    code, out, err = _run(capsys, "runs", "--root", str(root))
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    # The root once, a header, then one row per run folder by its name (the empty folder is no run).
    assert lines[0] == f"4 runs in {root}" and lines[1].split()[:3] == ["run", "variant", "dataset"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {"ok", "zz", "deep", "nulls"}
    assert "unreadable: config.json is not a training config" in rows["zz"]
    assert "unreadable: config.json nests more than 16 levels" in rows["deep"]
    # The readable run's row: status, progress of its checkpoint, best accuracy, key settings.
    assert rows["ok"].split()[1:7] == ["lenet5-relu-maxpool", "blocks", "finished", "1", "/", "1"]
    assert rows["ok"].endswith("lenet5-relu-maxpool 16 px, batch 8, sgd lr 0.05, constant, wd 0, augment none")


def test_runs_shows_no_nan_and_notes_a_damaged_history(tmp_path: Path, good_run: Path, capsys) -> None:
    shutil.copytree(good_run, tmp_path / "runs" / "r")
    metrics = tmp_path / "runs" / "r" / "metrics.jsonl"
    row = json.loads(metrics.read_text().splitlines()[0])
    row["val_acc"] = float("nan")
    metrics.write_text(json.dumps(row) + "\n" + '{"epoch": "two"}\n')
    code, out, _ = _run(capsys, "runs", "--root", str(tmp_path / "runs"))
    assert code == 0 and "nan %" not in out.lower()
    row = next(line for line in out.splitlines() if line.startswith("r "))
    assert re.search(r"epochs?\s+–\s", row)  # no best accuracy: a dash, never nan
    assert "note: " in out and "line 2: epoch must be a whole number" in out


@pytest.mark.parametrize(("damage", "words"), [
    ({"input_size": 100_000}, "config.json: input_size must be a whole number from 1 to 2,048; got 100000"),
    ({"input_size": -3}, "config.json: input_size"),
    ({"arch_options": {"num_classes": -3}}, "config.json: arch_options.num_classes is not an option of lenet5"),
    ({"epochs": "five"}, "config.json: epochs"),
])
def test_classify_and_resume_with_a_damaged_run_are_one_line(tmp_path: Path, good_run: Path, capsys,
                                                             damage: dict, words: str) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(good_run, run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    config.update(damage)
    (run_dir / "config.json").write_text(json.dumps(config))
    image = tmp_path / "x.png"
    from PIL import Image

    Image.new("L", (16, 16)).save(image)
    assert words in _one_line_error(capsys, "classify", str(run_dir), str(image))
    assert words in _one_line_error(capsys, "train", "--resume", str(run_dir), "--epochs", "3")


def test_classify_with_a_fifo_spec_does_not_hang(tmp_path: Path, good_run: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(good_run, run_dir)
    (run_dir / "spec.json").unlink()
    import os

    os.mkfifo(run_dir / "spec.json")
    line = _one_line_error(capsys, "classify", str(run_dir), str(tmp_path / "missing.png"))
    assert "spec.json is not a regular file (it is a FIFO)" in line


@pytest.mark.parametrize(("make_out", "words"), [
    (lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt", "is a file, not a folder"),
    (lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt" / "run", "a part of this path is a file"),
    (lambda tmp: tmp / ("n" * 300), "the name is too long for the file system"),
], ids=["a-file", "under-a-file", "too-long"])
def test_train_with_a_bad_out_is_refused_before_loading_data(tmp_path: Path, capsys, monkeypatch, make_out,
                                                             words: str) -> None:
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    import cnnstudio.training.fit.trainer as trainer

    monkeypatch.setattr(trainer, "load_training_data", lambda *a, **k: pytest.fail("the data was loaded"))
    out = make_out(tmp_path)
    assert words in _one_line_error(capsys, "train", "--arch", "lenet5", "--out", str(out), "--epochs", "1")


def test_an_unwritable_runs_folder_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "file" / "runs"))
    line = _one_line_error(capsys, "train", "--arch", "lenet5", "--epochs", "1")
    assert line.startswith("cnnstudio: cannot create the runs folder")


def test_an_input_size_that_cannot_fit_is_refused_and_no_run_is_made(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    from cnnstudio.training.fit import preflight

    monkeypatch.setattr(preflight, "device_memory", lambda _d: 16 * 10**9)
    line = _one_line_error(capsys, "train", "--arch", "vgg16", "--dataset", "mnist-sample", "--input-size", "2048",
                           "--device", "cpu")
    assert "input size 2048 is too large for vgg16" in line and "cpu has 16 GB" in line
    assert not any((tmp_path / "runs").glob("*/config.json"))
    line = _one_line_error(capsys, "train", "--arch", "lenet5", "--input-size", "100000")
    assert "input_size must be a whole number from 1 to 2,048; got 100000" in line


def test_summary_refuses_a_zero_size_input(capsys) -> None:
    assert "channels and sizes must be at least 1" in _one_line_error(capsys, "summary", "lenet5", "--input", "1,0,0")


def test_a_resume_of_a_run_in_use_is_one_line_naming_the_pid(tmp_path: Path, good_run: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(good_run, run_dir)
    code = ("import time; from cnnstudio.training.store.runs import RunLock; "
            f"lock = RunLock.acquire({str(run_dir)!r}); print('locked', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        line = _one_line_error(capsys, "train", "--resume", str(run_dir), "--epochs", "2")
        assert f"is in use (by PID {proc.pid})" in line
        code_, out, _ = _run(capsys, "runs", "--root", str(tmp_path))
        assert "  running  " in out or "  finished  " in out
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


@pytest.mark.slow
def test_skipped_files_reach_the_user_and_the_run(tmp_path: Path, capsys, monkeypatch) -> None:
    from PIL import Image

    data = tmp_path / "data"
    for name in ("a", "b"):
        (data / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (16, 16), 60 * i).save(data / name / f"{i}.png")
    (data / "a" / "broken.png").write_bytes(b"\x89PNG not really")
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    code, out, err = _run(capsys, "train", "--arch", "lenet5", "--dataset", str(data), "--epochs", "1",
                          "--input-size", "16", "--batch-size", "4", "--device", "cpu", "--out", str(tmp_path / "run"))
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note: ") and "skipped 1 unusable files" in line]
    assert len(notes) == 1 and "a/broken.png" in notes[0]
    info = runs.open_run(tmp_path / "run")
    assert info.skipped_files == 1 and "a/broken.png" in info.scan_summary
    assert json.loads((tmp_path / "run" / "run.json").read_text())["scan"]["skipped_count"] == 1
    code, out, _ = _run(capsys, "runs", "--root", str(tmp_path))
    assert "(1 unusable files skipped)" in out
