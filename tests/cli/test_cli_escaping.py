"""Every name from the file system is printed escaped (issue 23, item 20): run folders, dataset
paths and class names holding terminal escape codes, a bell or a newline reach the terminal as
`\\x1b`, `\\x07`, `\\n` — they can neither clear the screen, set its title nor forge a line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers.evaluation import train_run, write_blocks_folder

from cnnstudio.cli import main
from cnnstudio.files import readable

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CLEAR, TITLE, FORGED = "a\x1b[2J", "b\x1b]0;pwned\x07", "c\nforged row"
CLASSES = (CLEAR, TITLE, FORGED, "d\u202ereversed", "e")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("escaping")
    folder = write_blocks_folder(root / "data\x1b[31m", classes=CLASSES, per_class=6)
    run = train_run(root / "runs" / "run\x1b]0;title\x07", folder, epochs=1)
    image = root / "img\x1b[2J.png"
    Image.open(next((folder / CLASSES[1]).iterdir())).save(image)
    return {"run": run, "root": root / "runs", "image": image}


def _clean(capsys, *args: object) -> tuple[int, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    text = out + err
    assert "Traceback" not in text
    for bad in ("\x1b", "\x07", "\u202e"):
        assert bad not in text, (bad, text)
    assert not any(line.startswith("forged") for line in text.splitlines()), text
    return code, text


def test_readable_escapes_what_a_terminal_acts_on_and_keeps_every_script() -> None:
    assert readable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert readable("\x1b]0;t\x07") == "\\x1b]0;t\\x07"
    assert readable("one\ntwo\rthree\tfour") == "one\\ntwo\\rthree\\tfour"
    assert readable("\x7f\x85\u2028\u202e") == "\\x7f\\x85\\u2028\\u202e"
    assert readable("caf\udce9") == "caf\\xe9"  # a byte that is not UTF-8
    assert readable("café 中文 😀 a b") == "café 中文 😀 a b"
    assert readable(readable("x\x1by\udcff")) == readable("x\x1by\udcff")


def test_runs_and_compare_escape_folder_and_dataset_names(world, capsys, tmp_path) -> None:
    code, text = _clean(capsys, "runs", "--root", world["root"])
    assert code == 0 and "run\\x1b]0;title\\x07" in text and "data\\x1b[31m" in text
    csv = tmp_path / "t.csv"
    code, text = _clean(capsys, "compare", "--root", world["root"], "--csv", csv)
    assert code == 0 and "run\\x1b]0;title\\x07" in text
    assert "\x1b" not in csv.read_text(encoding="utf-8")


def test_classify_evaluate_explain_neighbours_dream_escape_class_names(world, capsys, tmp_path) -> None:
    code, text = _clean(capsys, "classify", world["run"], world["image"])
    assert code == 0 and "img\\x1b[2J.png" in text
    out_json = tmp_path / "e.json"
    code, text = _clean(capsys, "evaluate", world["run"], "--json", out_json)
    assert code == 0 and "c\\nforged row" in text
    assert json.loads(out_json.read_text(encoding="utf-8"))["evaluation"]
    code, text = _clean(capsys, "explain", world["run"], world["image"], "-o", tmp_path / "x.png",
                        "--class", TITLE)
    assert code == 0 and "b\\x1b]0;pwned\\x07" in text
    code, text = _clean(capsys, "neighbours", world["run"], world["image"], "-k", "3", "-o", tmp_path / "n.png")
    assert code == 0 and "img\\x1b[2J.png" in text
    code, text = _clean(capsys, "dream", world["run"], "--class", "all", "--steps", "2", "-o", tmp_path / "d.png")
    assert code == 0 and "a\\x1b[2J" in text


def test_an_error_quoting_a_class_or_a_path_is_escaped_and_one_line(world, capsys, tmp_path) -> None:
    code, text = _clean(capsys, "explain", world["run"], world["image"], "-o", tmp_path / "x.png",
                        "--class", "zz\x1b[2J\nforged")
    assert code == 2 and len(text.strip().splitlines()) == 1
    code, text = _clean(capsys, "classify", world["root"] / "no\x1b[2Jrun", world["image"])
    assert code == 2 and len(text.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def latin1_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A dataset and class folder named in Latin-1 bytes (not UTF-8): kept as surrogate escapes."""
    import os

    root = tmp_path_factory.mktemp("latin1")
    folder = Path(os.fsdecode(bytes(root / "donn") + b"\xe9es"))
    write_blocks_folder(folder, classes=(os.fsdecode(b"caf\xe9"), "b", "c", "d", "e"), per_class=6)
    return {"run": train_run(root / "runs" / os.fsdecode(b"r\xe9"), folder, epochs=1), "root": root / "runs"}


def test_names_that_are_not_utf8_never_crash_the_csv_and_json_writers(latin1_world, capsys, tmp_path) -> None:
    """Issue 23, item 17: compare --csv, a sweep's comparison.csv (the same writer) and evaluate --json."""
    csv = tmp_path / "t.csv"
    code, _text = _clean(capsys, "compare", "--root", latin1_world["root"], "--csv", csv)
    assert code == 0 and "donn\\xe9es" in csv.read_text(encoding="utf-8")
    out_json = tmp_path / "e.json"
    code, text = _clean(capsys, "evaluate", latin1_world["run"], "--json", out_json)
    assert code == 0 and "caf\\xe9" in text
    payload = json.loads(out_json.read_text(encoding="utf-8"))
    assert payload["runs"] == [str(latin1_world["run"])]  # read back as the same (surrogate-escaped) name
    assert "caf\udce9" in payload["evaluation"]["classes"]


def test_a_refused_argument_is_quoted_escaped(capsys) -> None:
    code, text = _clean(capsys, "summary", "lenet5", "x\x1b[2J\nforged")  # "unrecognized arguments: …" as given
    assert code == 2 and "x\\x1b[2J\\nforged" in text and len(text.strip().splitlines()) == 1
