"""Augmentations that cannot apply are refused, those that change a digit's meaning are said
where they are chosen (issue 22, item 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnstudio.cli import build_parser, main
from cnnstudio.data.catalog import augmentation_warnings, mirroring_tta_warning
from cnnstudio.data.loaders import make_loader
from cnnstudio.errors import DatasetError
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import folder_config, make_block_folder, make_bundle


def test_pca_on_grey_images_is_refused_in_one_line() -> None:
    bundle = make_bundle()
    with pytest.raises(DatasetError) as caught:
        make_loader(bundle.train, bundle.spec, batch_size=8, input_size=16, in_channels=1, train=True,
                    augment=("pca",), device="cpu", seed=0)
    text = str(caught.value)
    assert "\n" not in text and "needs colour images" in text and "blocks is grey" in text and "leave out pca" in text
    colour = make_bundle(channels=3)  # colour images take it
    make_loader(colour.train, colour.spec, batch_size=8, input_size=16, in_channels=3, train=True,
                augment=("pca",), device="cpu", seed=0)


def test_the_cli_refuses_pca_on_a_grey_folder_and_leaves_no_run(tmp_path: Path, monkeypatch, capsys) -> None:
    runs = tmp_path / "runs"
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(runs))
    folder = make_block_folder(tmp_path / "blocks")
    code = main(["train", "--arch", "lenet5", "--dataset", str(folder), "--device", "cpu", "--epochs", "1",
                 "--input-size", "16", "--augment", "pca", "--batch-size", "4"])
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("cnnstudio:")]
    assert code == 2 and len(err) == 1 and err[0].startswith("cnnstudio: fancy-PCA colour jitter (pca) needs colour")
    assert not runs.exists() or not any(runs.iterdir())


def test_flip_on_grey_data_is_said_before_training(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    folder = make_block_folder(tmp_path / "blocks")
    assert main(["train", "--arch", "lenet5", "--dataset", str(folder), "--device", "cpu", "--epochs", "1",
                 "--input-size", "16", "--augment", "flip", "--batch-size", "4", "--estimate"]) == 0
    err = capsys.readouterr().err
    assert "warning: flip mirrors every other image, and a mirrored digit or letter" in err
    assert augmentation_warnings(("flip",), channels=3) == ()  # photos: nothing to say


def test_mirroring_test_time_views_are_said_for_grey_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CNNSTUDIO_RUNS", str(tmp_path / "runs"))
    folder = make_block_folder(tmp_path / "blocks")
    run = tmp_path / "run"
    Trainer(folder_config(folder, epochs=1), run_dir=run).fit()
    assert main(["evaluate", str(run), "--tta", "flip", "--device", "cpu"]) == 0
    assert "warning: test-time flip averages in mirror images" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--device", "cpu"]) == 0
    assert "warning" not in capsys.readouterr().err
    image = next(folder.rglob("*.png"))
    assert main(["classify", str(run), str(image), "--tencrop"]) == 0
    assert "warning: test-time tencrop averages in mirror images" in capsys.readouterr().err
    assert mirroring_tta_warning("multiscale", channels=1) is None and mirroring_tta_warning("flip", channels=3) is None


def test_the_help_says_it_where_the_options_are_chosen() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    helps = {name: {a.dest: a.help or "" for a in p._actions} for name, p in sub.choices.items()}
    assert "pca needs colour" in helps["train"]["augment"] and "digit" in helps["train"]["augment"]
    assert "mirror" in helps["evaluate"]["tta"] and "digits" in helps["evaluate"]["tta"]
    assert "mirror" in helps["classify"]["tencrop"]
