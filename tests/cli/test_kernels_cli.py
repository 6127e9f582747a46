"""`cnnstudio kernels RUN`: one grid as PNG, the whole history as a GIF, clear one-line refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.training import make_bundle, tiny_config

from cnnstudio.cli import main
from cnnstudio.training.store.snapshots import list_snapshots
from cnnstudio.training.fit.trainer import Trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("kernels-cli") / "run"
    Trainer(tiny_config(epochs=2, batch_size=4), run_dir=run_dir, bundle=make_bundle(per_class=40)).fit()
    return run_dir


def test_a_png_of_one_epoch_and_a_gif_of_every_snapshot(run: Path, tmp_path: Path, capsys) -> None:
    assert main(["kernels", str(run), "--epoch", "1", "-o", str(tmp_path / "k.png")]) == 0
    assert "at epoch 1" in capsys.readouterr().out
    first = Image.open(tmp_path / "k.png")
    assert first.format == "PNG" and first.width > 16
    assert main(["kernels", str(run), "--all", "-o", str(tmp_path / "k.gif")]) == 0
    gif = Image.open(tmp_path / "k.gif")
    assert gif.format == "GIF" and gif.n_frames == len(list_snapshots(run))
    gif.seek(0)
    start = gif.convert("RGB").tobytes()
    gif.seek(gif.n_frames - 1)
    assert gif.convert("RGB").tobytes() != start  # the kernels changed over training


def test_bad_requests_are_one_line_each(run: Path, tmp_path: Path, capsys) -> None:
    assert main(["kernels", str(run), "--epoch", "9", "-o", str(tmp_path / "k.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "epoch 0–2" in err
    assert main(["kernels", str(run), "-o", str(tmp_path / "k.jpg")]) == 2
    assert ".png" in capsys.readouterr().err
    old = tmp_path / "old"
    shutil.copytree(run, old)
    shutil.rmtree(old / "history")  # a run from before the history
    assert main(["kernels", str(old), "-o", str(tmp_path / "k.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no history" in err and "--resume" in err
