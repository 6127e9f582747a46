"""`cnnstudio dream` as a user types it: the grid PNG written, what the net thinks printed, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.evaluation import CLASSES, train_run, write_blocks_folder

from cnnstudio.cli import main
from cnnstudio.cli_inspect import parse_channels
from cnnstudio.errors import CnnStudioError

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-dream")
    return train_run(root / "run", write_blocks_folder(root / "blocks"), epochs=1)


def _run(capsys, *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_dream_of_a_layers_channels_writes_a_4x4_grid(run, capsys, tmp_path):
    grid = tmp_path / "grid.png"
    code, out, err = _run(capsys, "dream", run, "--layer", "c3", "--channels", "0-15", "-o", grid, "--steps", "4",
                          "--tile", "32")
    assert code == 0, err
    with Image.open(grid) as img:
        assert img.format == "PNG" and img.mode == "RGB"
        assert img.width == 4 * (32 + 8) + 8 and img.height > 4 * 32
    lines = out.splitlines()
    assert "16 channel(s) of features.c3" in lines[0] and "4 steps in pixel space" in lines[0]
    assert sum(line.startswith("  channel ") for line in lines) == 16
    assert "mean output" in lines[1] and "the net calls it" in lines[1]


def test_dream_of_classes_prints_the_nets_probability_for_each(run, capsys, tmp_path):
    out_png = tmp_path / "classes.png"
    code, out, err = _run(capsys, "dream", run, "--class", "all", "-o", out_png, "--steps", "4", "--tile", "24",
                          "--param", "fourier", "--which", "last")
    assert code == 0, err
    with Image.open(out_png) as img:
        assert img.width == len(CLASSES) * (24 + 8) + 8
    rows = [line for line in out.splitlines() if line.startswith("  ")]
    assert [row.split(":")[0].strip() for row in rows] == list(CLASSES)
    assert all("p = " in row for row in rows)
    code, out, err = _run(capsys, "dream", run, "--class", f"{CLASSES[2]},{CLASSES[0]}", "-o", out_png, "--steps", "2")
    assert code == 0, err
    assert [row.split(":")[0].strip() for row in out.splitlines() if row.startswith("  ")] == [CLASSES[2], CLASSES[0]]


@pytest.mark.parametrize("args, words", [
    (("--layer", "conv9"), ("no conv layer 'conv9'", "features.c1")),
    (("--class", "zebra"), ("no class 'zebra'",)),
    (("--layer", "c1", "--channels", "0-6"), ("6 channels", "no channel 6")),
    (("--layer", "c1", "--class", "all"), ("not both",)),
    ((), ("--layer NAME",)),
    (("--channels", "0-3"), ("--channels needs --layer",)),
    (("--layer", "c1", "--channels", "a-b"), ("0-15",)),
])
def test_dream_refuses_bad_input_in_one_line(run, capsys, tmp_path, args, words):
    code, _out, err = _run(capsys, "dream", run, *args, "-o", tmp_path / "x.png", "--steps", "1")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    assert not (tmp_path / "x.png").exists()


def test_channel_lists_and_ranges_parse():
    assert parse_channels("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11]
    with pytest.raises(CnnStudioError):
        parse_channels("5-2")
