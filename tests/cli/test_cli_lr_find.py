"""`cnnstudio lr-find` (issue 20, part 2): the suggestion printed, --json's shape, the -o plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstudio.cli import main

pytestmark = pytest.mark.timeout(60)


def tiny(blocks: Path, *more: str) -> list[str]:
    return ["lr-find", "--arch", "lenet5", "-o", "activation=relu", "--dataset", str(blocks), "--input-size", "16",
            "--batch-size", "4", "--device", "cpu", "--steps", "30", *more]


@pytest.mark.slow
def test_lr_find_prints_the_suggestion_and_writes_json_and_the_plot(blocks, tmp_path, capsys) -> None:
    from PIL import Image

    out, picture = tmp_path / "lr.json", tmp_path / "lr.png"
    assert main(tiny(blocks, "--json", str(out), "-o", str(picture))) == 0
    text = capsys.readouterr().out
    assert "suggested lr:" in text and "min/10:" in text
    data = json.loads(out.read_text())
    assert len(data["lr"]) == len(data["loss"]) <= 30 and data["arch"] == "lenet5"
    assert data["lr"][0] == pytest.approx(1e-7) and data["lr"][0] < data["suggested_lr"] < 10
    assert f"{data['suggested_lr']:.3g}" in text
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.size == (720, 440)


@pytest.mark.parametrize(("more", "words"), [
    (["-o", "a.png", "-o", "b.png"], "one plot file"),
    (["--start-lr", "1", "--end-lr", "0.1"], "LR range must grow"),
    (["-o", "lr.jpg"], "is not KEY=VALUE"),
])
def test_bad_lr_find_requests_are_one_line(blocks, capsys, more, words) -> None:
    assert main(tiny(blocks, *more)) == 2
    assert words in capsys.readouterr().err
