"""Words that were wrong or contradicted each other (issue 23, item 23): each message says what is
really there — a folder, a device, a file system without sizes, a missing field — and never that a
previous file is intact when there was none."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.evaluation import CLASSES, train_run, write_blocks_folder

from cnnstudio.cli import main
from cnnstudio.errors import CheckpointError
from cnnstudio.files import atomic_write


def _one_line(capsys, *args: object) -> str:
    code = main([str(a) for a in args])
    _out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_writing_over_a_folder_says_it_is_a_folder_and_claims_no_previous_file(tmp_path: Path, capsys) -> None:
    with pytest.raises(CheckpointError) as caught:
        atomic_write(tmp_path, lambda handle: handle.write(b"x"))
    assert "it is a folder, not a file" in str(caught.value) and "intact" not in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_writing_over_a_fifo_says_so_and_leaves_it(tmp_path: Path) -> None:
    # (Never a real device here: code that renamed over it would replace /dev/null for the machine.)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="it is a FIFO, not a file"):
        atomic_write(fifo, lambda handle: handle.write(b"x"))
    assert fifo.is_fifo()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="Linux /proc")
def test_a_file_system_without_sizes_is_not_called_full(capsys) -> None:
    with pytest.raises(CheckpointError) as caught:
        atomic_write("/proc/x.png", lambda handle: handle.write(b"x"))
    text = str(caught.value)
    assert "free disk space" not in text and "does not take new files" in text


def test_needed_and_free_space_are_never_shown_as_the_same_number(tmp_path: Path, monkeypatch) -> None:
    import shutil as shutil_module
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil_module, "disk_usage", lambda _folder: usage(10**12, 0, 1024 * 1024 - 4096))
    with pytest.raises(CheckpointError) as caught:
        atomic_write(tmp_path / "m.onnx.json", lambda handle: handle.write(b"{}"), size_estimate=2)
    text = str(caught.value)
    needed, free = text.split("about ")[1].split(" needed, ")[0], text.split(" needed, ")[1].split(" free")[0]
    assert needed != free, text
    assert "intact" not in text  # there was no previous file


def _queue(tmp_path: Path, data: object) -> Path:
    folder = tmp_path / "sweep"
    folder.mkdir()
    (folder / "queue.json").write_text(json.dumps(data))
    return folder


@pytest.mark.parametrize(("items", "words"), [(None, "it has no list of items"), (5, "its items are int, not a list"),
                                              ([{"label": "x"}], "a field is missing: 'id'")])
def test_a_damaged_queue_file_says_what_is_wrong_in_words(tmp_path: Path, capsys, items, words) -> None:
    from cnnstudio.training.experiments import queue

    data = {"format": queue._FORMAT, "version": queue._VERSION}
    if items is not None:
        data["items"] = items
    line = _one_line(capsys, "sweep", "--resume", _queue(tmp_path, data))
    assert words in line and "'int' object" not in line


def test_a_huge_queue_file_is_not_called_a_run_file(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "sweep"
    folder.mkdir()
    with open(folder / "queue.json", "wb") as handle:
        handle.truncate(17 * 1024 * 1024)
    line = _one_line(capsys, "sweep", "--resume", folder)
    assert "too large" in line and "run file" not in line


def test_runs_and_compare_refuse_a_root_that_is_not_a_folder(tmp_path: Path, capsys) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert "--root" in _one_line(capsys, "runs", "--root", afile) and "is a file, not a folder" in \
        _one_line(capsys, "runs", "--root", afile)
    assert "is a file, not a folder" in _one_line(capsys, "compare", "--root", afile)
    assert main(["runs", "--root", str(tmp_path / "missing")]) == 0
    assert "(there is no such folder)" in capsys.readouterr().out


def test_summary_takes_an_image_folder_as_dataset(tmp_path: Path, capsys) -> None:
    folder = write_blocks_folder(tmp_path / "blocks", per_class=2)
    assert main(["summary", "lenet5", "--dataset", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "Total params" in out and f"{len(CLASSES)} classes" in err


def test_evaluate_on_a_folder_with_fewer_classes_names_the_folder(tmp_path: Path, capsys, one_thread) -> None:
    folder = write_blocks_folder(tmp_path / "blocks", per_class=6)
    run = train_run(tmp_path / "run", folder, epochs=1)
    fewer = tmp_path / "fewer"
    shutil.copytree(folder, fewer)
    shutil.rmtree(fewer / CLASSES[-1])
    line = _one_line(capsys, "evaluate", run, "--data", fewer)
    assert f"{fewer} lacks class '{CLASSES[-1]}'" in line
    assert Image  # the folder is real PNGs
