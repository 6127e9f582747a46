"""What a new user ran into on the command line (issue 11, items 1, 10, 11, 12)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cnnstudio.cli import build_parser, main
from cnnstudio.training.fit import estimate as estimate_module


def _blocks_folder(root: Path) -> Path:
    """Two classes of 16×16 images: trains in a blink."""
    for label, value in (("dark", 30), ("light", 220)):
        (root / label).mkdir(parents=True)
        for i in range(8):
            Image.new("L", (16, 16), value + i).save(root / label / f"{i}.png")
    return root


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CNNSTUDIO_DATA", str(tmp_path / "data"))
    return tmp_path


def test_summary_at_a_dataset_uses_the_training_input_size(env: Path, capsys) -> None:
    assert main(["summary", "vgg16", "--dataset", "cifar10", "-o", "batch_norm=true"]) == 0
    out = capsys.readouterr().out
    assert "Input shape: 3×32×32" in out and "Output shape: 10" in out
    assert main(["summary", "vgg16", "--dataset", "cifar10", "--paper-size"]) == 0
    assert "Input shape: 3×224×224" in capsys.readouterr().out
    assert main(["summary", "alexnet", "--dataset", "mnist"]) == 0
    assert "Input shape: 1×63×63" in capsys.readouterr().out


@pytest.mark.slow
def test_train_estimate_prints_time_and_memory_without_training(env: Path, capsys) -> None:
    folder = _blocks_folder(env / "blocks")
    assert main(["train", "--arch", "lenet5", "--dataset", str(folder), "--device", "cpu", "--epochs", "4",
                 "--estimate"]) == 0
    captured = capsys.readouterr()
    first = captured.out.splitlines()[0]
    # A tiny folder: "under 1 s per epoch on CPU (4 epochs under 1 s)", never "≈ < 1 s".
    assert re.match(r"estimate: (≈ \d|under 1 s).* per epoch on CPU \(4 epochs (≈ \d|under 1 s)", first), captured.out
    assert "< 1 s" not in first
    assert "input 32×32: blocks's 16×16 raised to the size lenet5 is designed for" in captured.err
    assert not (env / "runs").exists()  # nothing was trained, no run folder


@pytest.mark.slow
def test_train_warns_before_starting_when_memory_would_not_fit(env: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(estimate_module, "memory_available", lambda: (1_000, 2_000_000))
    folder = _blocks_folder(env / "blocks")
    out = env / "run"
    assert main(["train", "--arch", "lenet5", "--dataset", str(folder), "--device", "cpu", "--epochs", "1",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    warning = next(line for line in err.splitlines() if line.startswith("warning: "))
    assert "needs ≈" in warning and "smaller input size" in warning
    assert err.index(warning) < err.index("epoch 1/1")
    assert (out / "last.pt").exists()


def test_paper_size_trains_at_the_papers_input(env: Path) -> None:
    from cnnstudio.cli import train_config

    args = build_parser().parse_args(["train", "--arch", "vgg16", "--paper-size"])
    assert train_config(args).input_size == 224
    assert train_config(build_parser().parse_args(["train", "--arch", "vgg16"])).input_size is None  # the rule's


def test_every_train_option_says_what_it_does_and_its_default() -> None:
    parser = build_parser()
    train = next(a for a in parser._subparsers._group_actions if a.dest == "command").choices["train"]
    options = [a for a in train._actions if a.dest != "help"]
    assert len(options) > 20
    for action in options:
        assert action.help, action.option_strings
        assert "default" in action.help, action.option_strings
    text = train.format_help()
    assert "(default: 128; lenet5: 64)" in text and "(default: 0.01; lenet5: 0.03)" in text


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line, as after `| head -2`
    try:
        result = subprocess.run([sys.executable, "-m", "cnnstudio", "list"], stdout=write, stderr=subprocess.PIPE,
                                text=True, timeout=120)
    finally:
        os.close(write)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode == 141


def test_no_display_is_one_line_and_exit_2() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "cnnstudio"], capture_output=True, text=True, timeout=120, env=env)
    if not sys.platform.startswith("linux"):
        pytest.skip("the display check is for Linux")
    assert result.returncode == 2, result
    assert result.stderr.startswith("cnnstudio: no display:") and len(result.stderr.strip().splitlines()) == 1
    assert "set DISPLAY" in result.stderr and "command line" in result.stderr


@pytest.mark.slow
def test_classify_prints_the_out_of_distribution_note(env: Path, capsys) -> None:
    folder = _blocks_folder(env / "blocks")
    out = env / "run"
    assert main(["train", "--arch", "lenet5", "--dataset", str(folder), "--device", "cpu", "--epochs", "1",
                 "--out", str(out)]) == 0
    dot = env / "dot.png"
    Image.new("L", (1, 1), 90).save(dot)
    capsys.readouterr()
    assert main(["classify", str(out), str(dot), "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{dot}  (a 1×1 image is far too small")
    assert lines[1] == "  far from the training images: the scores below say little about it"
    assert len(lines) == 4
