"""`dream -o` for one class writes the image itself, which classify reads back as that class
(issue 22, item 15)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.helpers.evaluation import CLASSES, train_run, write_blocks_folder  # noqa: E402

from cnnstudio.cli import main  # noqa: E402
from cnnstudio.training.store.runs import open_run  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-dream-one")
    return train_run(root / "run", write_blocks_folder(root / "blocks"), epochs=2)


def test_one_class_is_written_as_the_image_itself_and_classifies_as_that_class(run, capsys, tmp_path):
    target = CLASSES[1]
    out_png = tmp_path / "dreamt.png"
    assert main(["dream", str(run), "--class", target, "-o", str(out_png), "--steps", "96"]) == 0
    out = capsys.readouterr().out
    assert f"image: {out_png}" in out
    size = open_run(run).config.input_size
    spec_channels = open_run(run).spec.channels
    with Image.open(out_png) as img:
        assert img.size == (size, size)  # the model's own size, no caption, no border
        assert img.mode == ("L" if spec_channels == 1 else "RGB")
    line = next(line for line in out.splitlines() if line.startswith(f"  {target}:"))
    assert "the net calls it" not in line  # the dream is its class to the net ...
    assert main(["classify", str(run), str(out_png), "--top", "1", "--no-invert"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].split()[0] == target  # ... and read back from the file, still its class


def test_several_classes_still_make_a_captioned_grid(run, capsys, tmp_path):
    out_png = tmp_path / "grid.png"
    assert main(["dream", str(run), "--class", f"{CLASSES[0]},{CLASSES[1]}", "-o", str(out_png), "--steps", "2",
                 "--tile", "24"]) == 0
    assert f"grid: {out_png}" in capsys.readouterr().out
    with Image.open(out_png) as img:
        assert img.width == 2 * (24 + 8) + 8
