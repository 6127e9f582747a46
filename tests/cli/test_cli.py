"""The command line, run as a user runs it: a subprocess, its output and its exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def run_cli(*args: str, tmp_path: Path, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CNNSTUDIO_RUNS=str(tmp_path / "runs"), CNNSTUDIO_DATA=str(tmp_path / "data"))
    return subprocess.run([sys.executable, "-m", "cnnstudio", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.slow
def test_summary_vgg16_ends_with_the_papers_total(tmp_path: Path) -> None:
    result = run_cli("summary", "vgg16", "--num-classes", "1000", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "Total params: 138,357,544"


@pytest.mark.slow
def test_summary_without_a_dataset_is_the_papers_own_net(tmp_path: Path) -> None:
    # LeNet-5 read grey 32×32 digits into 10 classes: its famous ~60 k parameters, not an
    # RGB, 1000-class variant of 146 k; VGG-16 is the ILSVRC net without any option.
    result = run_cli("summary", "lenet5", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Input shape: 1×32×32" in result.stdout and "Output shape: 10" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "Total params: 61,706"
    result = run_cli("summary", "vgg16", tmp_path=tmp_path)
    assert result.stdout.strip().splitlines()[-1] == "Total params: 138,357,544"


@pytest.mark.slow
def test_summary_takes_the_dataset_shape(tmp_path: Path) -> None:
    result = run_cli("summary", "lenet5", "--dataset", "mnist-sample", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Input shape: 1×32×32" in result.stdout
    assert "Output shape: 10" in result.stdout


def test_list_names_every_architecture_and_dataset(tmp_path: Path) -> None:
    result = run_cli("list", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("lenet5", "alexnet", "alexnet-2gpu", "vgg11", "vgg11-lrn", "vgg13", "vgg16-1x1", "vgg16",
                 "vgg19", "googlenet", "tricks", "mnist-sample", "mnist", "fashion-mnist", "cifar10", "cifar100"):
        assert f"  {name} " in result.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("summary", "vgg17"), ("vgg17", "vgg16")),
        (("summary", "vgg16", "--input", "3,16,16"), ("at least", "32")),
        (("summary", "vgg16", "--input", "3,x"), ("--input",)),
        (("summary", "vgg16", "-o", "nonsense=1"), ("nonsense",)),
        (("train", "--arch", "lenet5", "--dataset", "no-such-set"), ("no-such-set",)),
        (("train", "--arch", "lenet5", "--epochs", "0"), ("epochs",)),
        (("classify", "/no/such/run", "x.png"), ("/no/such/run",)),
        (("frobnicate",), ("frobnicate",)),
    ],
)
@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], words: tuple[str, ...]) -> None:
    assert_one_line_error(run_cli(*args, tmp_path=tmp_path), *words)


@pytest.mark.slow
def test_train_then_classify_good_and_bad_images(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli("train", "--arch", "lenet5", "--dataset", "mnist-sample", "--epochs", "1", "--device", "cpu",
                     "--out", str(out), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out)
    assert "epoch 1/1" in result.stderr

    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 13:16] = 255  # a thick vertical stroke, a "1" in MNIST's white-on-black
    good = tmp_path / "one.png"
    Image.fromarray(digit).save(good)
    bad = tmp_path / "notes.jpg"
    bad.write_text("<html>not an image</html>")

    result = run_cli("classify", str(out), str(good), str(bad), "--top", "3", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(bad) in result.stderr and len(result.stderr.strip().splitlines()) == 1
    lines = result.stdout.strip().splitlines()
    assert lines[0] == str(good)
    probs = [float(line.split()[-1]) for line in lines[1:]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6

    # The same "1" drawn black on white, as in a paint program: inverted for this MNIST
    # model and given the same answer, unless --no-invert keeps it as it is.
    drawn = tmp_path / "one_drawn.png"
    Image.fromarray(255 - digit).save(drawn)
    result = run_cli("classify", str(out), str(drawn), "--top", "3", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"{drawn}  (colours inverted to match the training images: light on dark)"
    assert result.stdout.splitlines()[1:] == lines[1:]
    result = run_cli("classify", str(out), str(drawn), "--top", "3", "--no-invert", tmp_path=tmp_path)
    # Kept black on white, it is still classified, and said to be unlike the training images.
    assert result.stdout.splitlines()[0].startswith(f"{drawn}  (its background (100% bright) is not the dark ground")
    assert result.stdout.splitlines()[1].startswith("  far from the training images")
    assert result.stdout.splitlines()[2:] != lines[1:]

    result = run_cli("runs", "--root", str(tmp_path), tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.name in result.stdout and "lenet5" in result.stdout  # by name under the root it names once


def test_offline_download_is_one_line_naming_the_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    import urllib.error
    import urllib.request

    from cnnstudio.cli import main

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("CNNSTUDIO_DATA", str(tmp_path / "data"))
    code = main(["train", "--arch", "lenet5", "--dataset", "fashion-mnist", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("cnnstudio: ") and str(tmp_path / "data") in last
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # nothing half-made is left as a run


def test_train_options_reach_the_config_over_the_architectures_recipe() -> None:
    from cnnstudio.cli import build_parser, train_config
    from cnnstudio.training.config import default_config

    args = build_parser().parse_args(["train", "--arch", "lenet5", "--compile", "--no-amp", "--lr", "0.1"])
    config = train_config(args)
    assert config.compile is True and config.amp is False and config.lr == 0.1
    recipe = default_config("lenet5")
    assert config.batch_size == recipe.batch_size  # not given: the quick-start recipe's
    plain = train_config(build_parser().parse_args(["train", "--arch", "lenet5"]))
    assert plain.compile is False and plain.amp == recipe.amp
