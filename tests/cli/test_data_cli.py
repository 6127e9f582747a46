"""`cnnstudio data DATASET`: counts per split as the run splits them, a grid PNG, JSON, one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image

from tests.helpers.training import folder_config, make_block_folder

from cnnstudio.cli import main
from cnnstudio.training.fit.training_data import load_training_data


def test_json_counts_are_the_runs_split_and_the_grid_is_written(tmp_path: Path, capsys) -> None:
    folder = make_block_folder(tmp_path / "blocks", per_class=9)
    (folder / "left" / "extra.png").write_bytes(Image.new("L", (16, 16)).tobytes())  # no PNG: unusable
    out, grid = tmp_path / "d.json", tmp_path / "grid.png"
    code = main(["data", str(folder), "--val-fraction", "0.25", "--seed", "5", "--input-size", "16",
                 "--augment", "crop,flip", "-o", str(grid), "--json", str(out), "--per-class", "3"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "2 classes, " in printed and "1 files could not be used" in printed and "extra.png" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["classes"] == ["left", "right"]
    bundle = load_training_data(folder_config(folder, seed=5, augment=("crop", "flip")))
    assert data["counts"] == {"train": torch.bincount(bundle.train.labels).tolist(),
                              "val": torch.bincount(bundle.val.labels).tolist()}
    assert data["augment"] == ["crop", "flip"] and data["input_size"] == 16
    picture = Image.open(grid)
    assert picture.format == "PNG" and picture.width > 3 * 64


def test_refusals_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["data", "mnist-sample", "--augment", "blur"]) == 2
    assert "unknown augmentation 'blur'" in capsys.readouterr().err
    assert main(["data", "mnist-sample", "-o", str(tmp_path / "grid.jpg")]) == 2
    assert "ending in .png" in capsys.readouterr().err
    assert main(["data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnstudio: ") and err.count("\n") == 1
