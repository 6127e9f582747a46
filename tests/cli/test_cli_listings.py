"""`runs` and `list` as tables a person can read, and sweep's hint for another net's option
(issue 22, item 19)."""

from __future__ import annotations

from pathlib import Path

from cnnstudio.cli import main
from tests.helpers.training import write_history_run


def test_runs_has_a_header_aligned_columns_and_no_full_paths(tmp_path: Path, capsys) -> None:
    root = tmp_path / "runs"
    write_history_run(root / "short", val_accs=(0.5, 0.6))
    write_history_run(root / "a_much_longer_run_name_than_the_other", val_accs=(0.7,), lr=0.05)
    assert main(["runs", "--root", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"2 runs in {root}"
    header, rows = lines[1], lines[2:]
    assert header.split()[:4] == ["run", "variant", "dataset", "status"]
    for word in ("variant", "dataset", "status", "settings"):
        column = header.index(word)
        assert all(row[column - 2:column] == "  " and row[column] != " " for row in rows), word
    assert all(str(root) not in row for row in rows)  # the root once, above
    assert {row.split()[0] for row in rows} == {"short", "a_much_longer_run_name_than_the_other"}


def test_list_keeps_its_columns_for_long_names(capsys) -> None:
    assert main(["list"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    starts = {len(line) - len(line[2:].split(" ", 1)[1].lstrip()) for line in lines}
    assert len(starts) == 1, starts  # googlenet-torchvision and PATH included


def test_sweeping_another_nets_option_says_so(capsys) -> None:
    assert main(["sweep", "--arch", "lenet5", "--vary", "batchnorm=on,off", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "lenet5 has no batch_norm option (it is an option of vgg11" in err and "sync_batch_norm" not in err
    assert main(["sweep", "--arch", "vgg11", "--vary", "batchnorm=on,off", "--epochs", "1"]) == 2
    assert "did you mean batch_norm?" in capsys.readouterr().err
