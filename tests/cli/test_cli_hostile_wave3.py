"""The third wave's verbs under hostile input (an adversarial pass found these): outputs that
would replace a run's own files, a linked dynamics folder, damaged or hostile dynamics files,
names with escape codes, a queue naming a foreign run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.training import make_bundle, tiny_config

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnstudio", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO, env=env)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    from cnnstudio.training.fit.trainer import Trainer

    run = tmp_path_factory.mktemp("wave3") / "run"
    Trainer(tiny_config(epochs=1), run_dir=run, bundle=make_bundle()).fit()
    return run


def _copy(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy, symlinks=True)
    return copy


def test_an_output_never_replaces_a_runs_own_file(trained: Path, tmp_path: Path) -> None:
    run = _copy(trained, tmp_path)
    before = (run / "config.json").read_bytes()
    for args in (["dynamics", str(run), "--json", str(run / "config.json")],
                 ["summary", "lenet5", "--json", str(run / "metrics.jsonl")],
                 ["export", str(run), "--format", "pt2", "-o", str(run / "config")]):  # its sidecar: config.json
        out = _cli(*args)
        assert out.returncode == 2 and "is a file of the run" in out.stderr and "Traceback" not in out.stderr, args
    assert (run / "config.json").read_bytes() == before


def test_an_output_that_is_a_fifo_is_refused_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "net.svg"
    os.mkfifo(fifo)
    out = _cli("graph", "lenet5", "-o", str(fifo))
    assert out.returncode == 2 and "is a FIFO" in out.stderr
    assert fifo.is_fifo()


def test_a_linked_dynamics_folder_is_neither_written_nor_cleaned(trained: Path, tmp_path: Path) -> None:
    from cnnstudio.training.fit.trainer import Trainer

    run = _copy(trained, tmp_path)
    outside = tmp_path / "outside"
    shutil.move(str(run / "dynamics"), outside)
    (outside / ".notes.tmp").write_text("the user's")
    (outside / "s0000000100-0000000200.npz").write_text("the user's too")
    (run / "dynamics").symlink_to(outside)
    listing = sorted(p.name for p in outside.iterdir())
    notices: list[str] = []

    from cnnstudio.training.fit.callbacks import Callback

    class Notices(Callback):
        def on_notice(self, trainer, message) -> None:
            notices.append(message)

    Trainer(tiny_config(epochs=2), [Notices()], resume_from=run, bundle=make_bundle()).fit()
    assert sorted(p.name for p in outside.iterdir()) == listing  # nothing removed, nothing written there
    assert any("not the run's own folder" in n for n in notices)


def test_dynamics_names_from_the_file_are_printed_escaped_and_json_never_crashes(trained: Path, tmp_path: Path) -> None:
    run = _copy(trained, tmp_path)
    layers = run / "dynamics" / "layers.json"
    data = json.loads(layers.read_text())
    data["layers"][0]["name"] = "\x1b[2J\x1b[31mEVIL\x07\nfake line \udcff\ud800"
    data["layers"][0]["kind"] = "\x1b]0;title\x07"
    layers.write_text(json.dumps(data))
    out = _cli("dynamics", str(run), "--json", str(tmp_path / "d.json"))
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout and "\\x1b[2J" in out.stdout
    assert "fake line" in out.stdout and "\nfake line" not in out.stdout
    assert json.loads((tmp_path / "d.json").read_text())["layers"][0]["name"].startswith("\x1b[2J")


@pytest.mark.parametrize("content", [b"[" * 100_000 + b"]" * 100_000, b'{"layers": [1, 2, 3]}', b"\xff\xfe", b""])
def test_a_damaged_layers_file_is_said_to_be_damaged(trained: Path, tmp_path: Path, content: bytes) -> None:
    run = _copy(trained, tmp_path)
    (run / "dynamics" / "layers.json").write_bytes(content)
    out = _cli("dynamics", str(run))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "layers.json is damaged" in out.stderr and "--no-dynamics" not in out.stderr


def test_data_prints_class_folder_names_escaped(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "imgs"
    for name in ("cat\x1b[2J\x07", "dog"):
        (folder / name).mkdir(parents=True)
        for i in range(6):
            Image.new("L", (12, 12), 40 * i).save(folder / name / f"{i}.png")
    out = _cli("data", str(folder), "--json", str(tmp_path / "d.json"))
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout and "cat\\x1b[2J\\x07" in out.stdout
    assert json.loads((tmp_path / "d.json").read_text())["classes"][0] == "cat\x1b[2J\x07"


def test_a_queue_resumes_only_a_run_that_trains_what_its_item_asks(trained: Path, tmp_path: Path) -> None:
    from cnnstudio.training.experiments.queue import _same_training
    from cnnstudio.training.store.runs import open_run

    config = open_run(trained).config
    assert _same_training(trained, config.replace(epochs=5))
    assert not _same_training(trained, config.replace(lr=0.5))  # a foreign run: another recipe
    assert not _same_training(tmp_path, config)  # not a run at all
