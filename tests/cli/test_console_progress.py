"""The command line's progress view: a bar per epoch on a terminal, a line per epoch in a log."""

from __future__ import annotations

import io
import re
from pathlib import Path

from tests.helpers.training import tiny_config

from cnnstudio.cli import ConsoleProgress
from cnnstudio.training.fit.trainer import Trainer


def test_console_progress_prints_one_line_per_epoch(run_dir: Path, bundle) -> None:
    stream = io.StringIO()
    Trainer(tiny_config(epochs=2), [ConsoleProgress(stream)], run_dir=run_dir, bundle=bundle).fit()
    lines = stream.getvalue().splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 2
    pattern = (r"^epoch 2/2  train loss \d+\.\d\d acc \d+\.\d %  val loss \d+\.\d\d acc \d+\.\d % "
               r"\(top-5 \d+\.\d %\)  \d+\.\d s  [\d,]+ img/s")
    assert re.match(pattern, epoch_lines[1]), epoch_lines[1]
    assert "\r" not in stream.getvalue()  # no bar in a non-terminal stream


def test_console_progress_bar_redraws_in_place(run_dir: Path, bundle) -> None:
    stream = io.StringIO()
    Trainer(tiny_config(epochs=1), [ConsoleProgress(stream, bar=True)], run_dir=run_dir, bundle=bundle).fit()
    assert re.search(r"\repoch 1/1 \[#+\] 7/7  loss \d\.\d{3} acc", stream.getvalue())


def test_console_progress_shows_each_loading_step_once_in_a_log() -> None:
    stream = io.StringIO()
    console = ConsoleProgress(stream, bar=False)
    for done in range(0, 101, 10):
        console.loading(done, 100, "downloading t10k-images-idx3-ubyte.gz")
    console.loading(1, 1, "checking t10k-images-idx3-ubyte.gz")
    assert stream.getvalue().splitlines() == ["downloading t10k-images-idx3-ubyte.gz",
                                              "checking t10k-images-idx3-ubyte.gz"]
