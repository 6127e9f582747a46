"""Runs side by side: the settings that differ, best figures, the table, CSV and TensorBoard's smoothing."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from tests.helpers.training import tiny_config

from cnnstudio.training.experiments.compare import RunCache, compare_rows, comparison_rows, differing_settings, format_table, run_curves, smooth_ema, sort_rows, write_csv
from cnnstudio.training.store.runs import list_runs, open_run
from cnnstudio.training.fit.trainer import Trainer


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    from tests.helpers.training import make_bundle

    root = tmp_path_factory.mktemp("runs")
    bundle = make_bundle()
    configs = {"base": tiny_config(epochs=2),
               "fast": tiny_config(epochs=2, lr=0.2),
               "avg": tiny_config(epochs=3, arch_options={"activation": "relu", "pool": "avg"})}
    for name, config in configs.items():
        Trainer(config, run_dir=root / name, bundle=bundle).fit()
    return {name: open_run(root / name) for name in configs}


def test_only_the_settings_that_differ_are_named(three_runs):
    configs = [run.config_dict for run in three_runs.values()]
    keys = differing_settings(configs)
    assert "lr" in keys
    assert "epochs" not in keys  # shown in its own column
    assert "seed" not in keys and "optimizer" not in keys  # equal everywhere
    # an option written by one run and left to its default by another is no difference
    assert differing_settings([{"arch_options": {}}, {"arch_options": {}}]) == []


def test_rows_hold_each_runs_best_figures_and_the_delta_to_a_baseline(three_runs):
    runs = list(three_runs.values())
    rows = comparison_rows(runs, baseline=three_runs["base"].path)
    by_name = {row.path.name: row for row in rows}
    base, fast = by_name["base"], by_name["fast"]
    history = three_runs["fast"].history()
    assert fast.best_top1 == pytest.approx(max(s.val_acc for s in history))
    assert fast.train_seconds == pytest.approx(sum(s.seconds for s in history))
    assert fast.epochs_done == 2 and by_name["avg"].epochs_done == 3
    assert base.delta_top1 == 0.0
    assert fast.delta_top1 == pytest.approx(fast.best_top1 - base.best_top1)
    assert fast.differs["lr"] == 0.2 and base.differs["lr"] == 0.05
    assert by_name["avg"].differs["pool"] == "avg" and base.differs["pool"] == "max"
    assert "activation" not in base.differs  # relu everywhere
    assert "lr=0.2" in fast.differs_text


def test_differences_are_named_again_among_the_rows_shown(three_runs):
    rows = {row.path.name: row for row in comparison_rows(list(three_runs.values()))}
    assert {"lr", "pool"} <= set(rows["base"].differs)
    pair = compare_rows([rows["base"], rows["fast"]], baseline=rows["base"].path)
    assert [list(row.differs) for row in pair] == [["lr"], ["lr"]]  # pool is max in both
    assert pair[1].delta_top1 == pytest.approx(rows["fast"].best_top1 - rows["base"].best_top1)
    assert compare_rows([rows["avg"]])[0].differs == {}  # one run differs from nothing
    # What sets each run apart: its departures from the value most runs share, or the baseline's.
    assert [row.distinct for row in compare_rows(list(rows.values()))] == [{}, {"lr": 0.2}, {"pool": "avg"}]
    against_fast = compare_rows(list(rows.values()), baseline=rows["fast"].path)
    assert [row.distinct_text for row in against_fast] == ["lr=0.05", "–", "pool=avg, lr=0.05"]  # arch options first
    tie = compare_rows([rows["base"], rows["fast"]])
    assert [row.distinct_text for row in tie] == ["lr=0.05", "lr=0.2"]  # a tie: each shows its own
    assert pair[0].distinct_text == "–"  # the baseline is the usual


def test_the_cache_reads_a_history_again_only_when_it_changed(three_runs, tmp_path):
    import shutil

    root = tmp_path / "runs"
    for name in ("base", "avg"):
        shutil.copytree(three_runs[name].path, root / name)
    cache = RunCache()
    rows, curves = cache.read_all(list_runs(root))
    assert cache.reads == 2 and set(curves) == {root / "base", root / "avg"}
    assert [row.path for row in rows] == [run.path for run in list_runs(root)]
    again_rows, again = cache.read_all(list_runs(root))
    assert cache.reads == 2 and all(again[path] is curves[path] for path in curves)  # nothing re-read
    assert again_rows == rows
    # One epoch row more in one run's history (as a training run appends): that run alone is read.
    metrics = root / "avg" / "metrics.jsonl"
    lines = metrics.read_text(encoding="utf-8").splitlines()
    metrics.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")  # and a run cut back reads as such
    _, after = cache.read_all(list_runs(root))
    assert cache.reads == 3 and after[root / "base"] is curves[root / "base"]
    assert len(after[root / "avg"].epoch) == 2
    with (root / "base" / "metrics.jsonl").open("ab") as handle:
        handle.write(b'{"epoch": 3, "train_lo')  # a writer killed mid-append: the cut line is no epoch
    _, cut = cache.read_all(list_runs(root))
    assert cache.reads == 4 and list(cut[root / "base"].epoch) == [1, 2]
    shutil.rmtree(root / "base")
    _, left = cache.read_all(list_runs(root))
    assert set(left) == {root / "avg"} and cache.reads == 4


def test_table_sorts_best_first_and_the_csv_round_trips(three_runs, tmp_path):
    rows = sort_rows(comparison_rows(list(three_runs.values())), "best_top1")
    tops = [row.best_top1 for row in rows]
    assert tops == sorted(tops, reverse=True)
    quickest = sort_rows(rows, "train_seconds")
    assert [r.train_seconds for r in quickest] == sorted(r.train_seconds for r in rows)
    text = format_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["run", "differs"] and len(lines) == 2 + len(rows)
    assert f"{rows[0].best_top1 * 100:.1f}" in lines[2]
    path = write_csv(rows, tmp_path / "compare.csv")
    with path.open(encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    assert [float(r["best_top1"]) for r in records] == pytest.approx(tops)
    assert records[0]["path"] == str(rows[0].path)
    assert not list(tmp_path.glob(".*.tmp"))  # the temp file became the CSV
    with pytest.raises(ValueError, match="choose from"):
        sort_rows(rows, "colour")


def test_unreadable_runs_are_left_out(three_runs, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    listed = list_runs(tmp_path) + list(three_runs.values())
    assert any(not run.readable for run in listed)
    assert len(comparison_rows(listed)) == len(three_runs)


def test_curves_have_cumulative_wall_time(three_runs):
    curves = run_curves(three_runs["avg"])
    history = three_runs["avg"].history()
    assert list(curves.epoch) == [1, 2, 3]
    assert curves.wall_s[-1] == pytest.approx(sum(s.seconds for s in history))
    assert np.all(np.diff(curves.wall_s) > 0)
    assert curves.series("val_acc")[0] == pytest.approx(history[0].val_acc)


def test_smoothing_is_tensorboards_debiased_ema():
    values = np.array([1.0, 3.0, 2.0, 5.0])
    w = 0.6
    expected, last = [], 0.0
    for n, x in enumerate(values, start=1):
        last = w * last + (1 - w) * x
        expected.append(last / (1 - w ** n))
    assert smooth_ema(values, w) == pytest.approx(expected)
    assert smooth_ema(values, w)[0] == 1.0  # debiased: the first point is the data's, not 0.4
    assert smooth_ema(values, 0.0) == pytest.approx(values)
    with_gap = smooth_ema([1.0, math.nan, 3.0], 0.5)
    assert math.isnan(with_gap[1]) and with_gap[2] == pytest.approx((0.25 + 1.5) / 0.75)
    with pytest.raises(ValueError, match="below 1"):
        smooth_ema(values, 1.0)


def test_a_switch_that_sets_other_options_compares_by_what_it_set() -> None:
    # The tricks CNN's all_tricks turns on BatchNorm, Leaky ReLU, GAP, dropout and multi-scale
    # blocks itself: beside the BatchNorm baseline it differs in those, not in "batch_norm=off".
    from types import SimpleNamespace

    from cnnstudio.training.experiments.compare import _resolved_config

    every = _resolved_config(SimpleNamespace(arch="tricks", config_dict={"arch_options": {"all_tricks": True}}))
    base = _resolved_config(SimpleNamespace(arch="tricks", config_dict={"arch_options": {"batch_norm": True}}))
    assert every["arch_options"]["batch_norm"] is True and every["arch_options"]["activation"] == "leaky_relu"
    assert differing_settings([base, every]) == ["activation", "gap", "dropout", "multiscale", "all_tricks"]
    # How a run was recorded is no difference between runs.
    assert differing_settings([{"history": True}, {"history": False}]) == []
