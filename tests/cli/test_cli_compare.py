"""`cnnstudio compare`: the runs side by side, best first, with a Δ column and a CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.helpers.training import write_history_run

from cnnstudio.cli import main


def _runs(root: Path) -> dict[str, Path]:
    return {
        "base": write_history_run(root / "base", val_accs=(0.5, 0.6), seconds=2.0),
        "relu": write_history_run(root / "relu", val_accs=(0.6, 0.9), arch_options={"activation": "relu"}),
        "fast": write_history_run(root / "fast", val_accs=(0.7, 0.65), lr=0.1, seconds=0.5),
    }


def test_compare_prints_the_table_best_first_and_writes_the_csv(tmp_path, capsys):
    _runs(tmp_path / "runs")
    out_csv = tmp_path / "table.csv"
    code = main(["compare", "--root", str(tmp_path / "runs"), "--csv", str(out_csv)])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["run", "differs"]
    body = lines[2:5]
    assert [line.split()[0] for line in body] == ["relu", "fast", "base"]  # by folder: 90, 70, 60 %
    # What sets each apart from the usual settings (tanh, lr 0.01): the plain run has none.
    assert body[0].split()[1:3] == ["activation=relu", "2/2"] and "90.0" in body[0]
    assert body[1].split()[1:3] == ["lr=0.1", "2/2"] and body[2].split()[1:3] == ["–", "2/2"]
    with out_csv.open(encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    assert [Path(r["path"]).name for r in records] == ["relu", "fast", "base"]
    assert float(records[0]["best_top1"]) == 0.9 and float(records[2]["train_seconds"]) == 4.0


def test_compare_named_runs_sorted_by_time_against_a_baseline(tmp_path, capsys):
    runs = _runs(tmp_path / "runs")
    code = main(["compare", "fast", str(runs["relu"]), "--root", str(tmp_path / "runs"), "--sort", "train_seconds",
                 "--baseline", "base"])
    out, _ = capsys.readouterr()
    assert code == 0
    header, _rule, *body = out.splitlines()
    assert "Δ top-1" in header
    # The baseline is added to the runs named; quickest first: fast 1 s, relu 2 s, base 4 s.
    assert [line.split()[1] for line in body] == ["lr=0.1", "activation=relu", "(baseline)"]
    assert body[2].split()[:3] == ["base", "(baseline)", "–"]  # nothing sets the baseline apart from itself
    assert [line.split()[-5] for line in body] == ["+10.0", "+30.0", "+0.0"]


def test_a_missing_run_is_one_sentence(tmp_path, capsys):
    _runs(tmp_path / "runs")
    code = main(["compare", "nope", "--root", str(tmp_path / "runs")])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "no run nope" in err and str(tmp_path / "runs") in err
    code = main(["compare", "--root", str(tmp_path / "empty")])
    out, _ = capsys.readouterr()
    assert code == 0 and out.startswith("no runs yet in")
