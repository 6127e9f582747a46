"""The Runs tab lists run folders and opens, resumes or overlays the selected one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.gui.runs.runs_tab import RunsTab


def _write_run(root, *, val_accs=(0.5, 0.75), epochs: int = 3):
    """A real run folder written by the engine's RunWriter, with a real best.pt."""
    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.models.registry import build_model
    from cnnstudio.training.store.runs import RunWriter, new_run_dir
    from cnnstudio.training.records import EpochStats
    from cnnstudio.training.config import TrainConfig

    config = TrainConfig(arch="lenet5", dataset="mnist-sample", epochs=epochs, input_size=32)
    spec = DatasetSpec(name="mnist-sample", channels=1, classes=tuple("0123456789"),
                       mean=(0.13,), std=(0.31,), native_size=28)
    run_dir = new_run_dir(root, arch="lenet5", dataset="mnist-sample")
    writer = RunWriter(run_dir)
    writer.start(config, spec.to_dict())
    for epoch, acc in enumerate(val_accs, start=1):
        writer.append_metrics(EpochStats(epoch=epoch, epochs=epochs, train_loss=1.0 / epoch, train_acc=acc,
                                         val_loss=1.2 / epoch, val_acc=acc, val_top5=None, lr=0.01, seconds=1.0,
                                         images_per_s=100.0, is_best=True).to_row())
    model = build_model("lenet5", in_channels=1, num_classes=10)
    writer.save_best({"arch": "lenet5", "num_classes": 10, "model": model.state_dict(), "epoch": len(val_accs)})
    writer.finish("finished")
    return run_dir, model


@pytest.fixture
def make_tab(qtbot, state):
    def make(root):
        widget = RunsTab(state, TrainingSession(state), root=root)
        qtbot.addWidget(widget)
        return widget

    yield make
    state.wait_for_background()


def _cells(tab, row: int) -> dict[str, str]:
    """A shown row's cells by column title."""
    model = tab.table_view.model()
    return {model.headerData(column, Qt.Orientation.Horizontal): model.index(row, column).data()
            for column in range(model.columnCount())}


def test_no_runs_shows_what_to_do(make_tab, qtbot, tmp_path):
    tab = make_tab(tmp_path / "runs")
    qtbot.waitUntil(lambda: "0 runs" in tab.status_label.text(), timeout=10_000)
    assert tab.runs() == []
    assert not tab.content_panel.showing_content
    assert "first training" in tab.content_panel.empty.text() or "Press Start" in tab.content_panel.empty.text()


def test_a_run_folder_is_listed_with_its_facts(make_tab, qtbot, tmp_path):
    root = tmp_path / "runs"
    run_dir, _ = _write_run(root)
    (root / "not-a-run").mkdir()  # a stray folder is skipped, not an error
    tab = make_tab(root)
    qtbot.waitUntil(lambda: len(tab.runs()) == 1, timeout=10_000)
    assert tab.content_panel.showing_content
    cells = _cells(tab, 0)
    assert [cells[title] for title in ("Run", "Dataset", "Status", "Epochs", "Best top-1", "Images/s")] == [
        "lenet5", "mnist-sample", "finished", "2 / 3 epochs", "75.0 %", "100 img/s"]
    assert cells["Settings"].startswith("lenet5 32 px, batch 128")  # the run's key settings
    assert cells["Time"] == "0:02" and cells["What differs"] == "–"  # nothing to differ from
    assert len(cells["Date"]) == len("2026-01-01 12:00")
    # A second run appears after Refresh.
    _write_run(root, val_accs=(0.9,))
    tab.refresh()
    qtbot.waitUntil(lambda: len(tab.runs()) == 2, timeout=10_000)


def test_opening_a_run_sets_the_states_model_handle(make_tab, state, qtbot, tmp_path):
    run_dir, saved = _write_run(tmp_path / "runs")
    tab = make_tab(tmp_path / "runs")
    qtbot.waitUntil(lambda: len(tab.runs()) == 1, timeout=10_000)
    tab.select_run(run_dir)
    assert tab.open_button.isEnabled()
    with qtbot.waitSignal(state.model_changed, timeout=20_000):
        tab.open_selected()
    handle = state.model_handle
    assert handle.source == f"run {run_dir.name} · best weights (epoch 2)"  # says which weights are in use
    assert handle.run_dir == str(run_dir) and handle.config.arch == "lenet5"
    assert (handle.arch_name, handle.input_size, handle.in_channels) == ("lenet5", 32, 1)
    assert list(handle.spec.classes) == list("0123456789")
    assert not handle.model.training
    for name, tensor in saved.state_dict().items():
        assert torch.equal(handle.model.state_dict()[name], tensor), name


def test_resume_is_requested_with_the_run_folder_and_overlay_with_its_epochs(make_tab, qtbot, tmp_path):
    run_dir, _ = _write_run(tmp_path / "runs")
    tab = make_tab(tmp_path / "runs")
    qtbot.waitUntil(lambda: len(tab.runs()) == 1, timeout=10_000)
    tab.select_run(run_dir)
    with qtbot.waitSignal(tab.resume_requested, timeout=1_000) as resume:
        tab.resume_button.click()
    assert resume.args == [str(run_dir)]
    with qtbot.waitSignal(tab.overlay_requested, timeout=1_000) as overlay:
        tab.overlay_button.click()
    label, history = overlay.args
    assert label == run_dir.name
    assert [stats.val_acc for stats in history] == [0.5, 0.75]


def test_a_run_with_a_damaged_checkpoint_gives_a_message_and_keeps_the_model(make_tab, state, qtbot, tmp_path):
    run_dir, _ = _write_run(tmp_path / "runs")
    (run_dir / "best.pt").write_bytes(b"this is not a checkpoint")
    messages: list[tuple[str, str]] = []
    state.message.connect(lambda level, text: messages.append((level, text)))
    tab = make_tab(tmp_path / "runs")
    qtbot.waitUntil(lambda: len(tab.runs()) == 1, timeout=10_000)
    tab.select_run(run_dir)
    tab.open_selected()
    qtbot.waitUntil(lambda: any(level == "error" for level, _ in messages), timeout=20_000)
    assert state.model_handle is None
    assert "Could not open the run" in tab.status_label.text()


def test_a_damaged_run_is_listed_with_its_problem_beside_the_good_ones(make_tab, qtbot, tmp_path):
    root = tmp_path / "runs"
    good, _ = _write_run(root)
    bad = root / "zz"
    bad.mkdir()
    (bad / "config.json").write_text("[]")
    tab = make_tab(root)
    qtbot.waitUntil(lambda: len(tab.runs()) == 2, timeout=10_000)
    model = tab.table_view.model()
    rows = {model.index(r, 0).data(): [model.index(r, c).data() for c in range(model.columnCount())]
            for r in range(model.rowCount())}
    assert "zz" in rows and "unreadable" in rows["zz"]
    assert any("config.json" in str(cell) for cell in rows["zz"])  # what is wrong, in its row
    assert any("epochs" in str(cell) for cell in rows["lenet5"])  # the good run's progress
    tab.select_run(bad)
    assert not tab.open_button.isEnabled() and not tab.resume_button.isEnabled() and tab.reveal_button.isEnabled()
    tab.select_run(good)
    assert tab.open_button.isEnabled()


# ---------------------------------------------------------------------------- the compare view

def _history_runs(root):
    from tests.helpers.training import write_history_run

    return {
        "low": write_history_run(root / "low", val_accs=(0.05, 0.095, 0.09)),
        "mid": write_history_run(root / "mid", val_accs=(0.101, 0.06, 0.08), lr=0.1, seconds=2.0),
        "relu": write_history_run(root / "relu", val_accs=(0.3, 0.6, 0.9), arch_options={"activation": "relu"},
                                  status="stopped"),
    }


def _read(make_tab, qtbot, root):
    tab = make_tab(root)
    with qtbot.waitSignal(tab.runs_read, timeout=10_000):
        pass
    return tab


def _shown(tab, title: str) -> list[str]:
    return [_cells(tab, row)[title] for row in range(tab.table_view.model().rowCount())]


def test_the_table_sorts_figures_as_numbers_and_filters_by_settings(make_tab, qtbot, tmp_path):
    runs = _history_runs(tmp_path / "runs")
    tab = _read(make_tab, qtbot, tmp_path / "runs")
    column = list(_cells(tab, 0))
    best = column.index("Best top-1")
    tab.table_view.sortByColumn(best, Qt.SortOrder.AscendingOrder)
    assert _shown(tab, "Best top-1") == ["9.5 %", "10.1 %", "90.0 %"]  # as text, "10.1 %" would come first
    tab.table_view.sortByColumn(column.index("Time"), Qt.SortOrder.DescendingOrder)
    assert _shown(tab, "Time")[0] == "0:06"  # mid: 3 epochs of 2 s
    differs = dict(zip(_shown(tab, "Run"), _shown(tab, "What differs")))
    assert differs == {"lenet5-relu": "activation=relu", "lenet5": differs["lenet5"]}  # what sets it apart
    assert sorted(_shown(tab, "What differs")) == ["activation=relu", "lr=0.1", "–"]
    tab.filter_edit.setText("relu")
    assert _shown(tab, "Run") == ["lenet5-relu"]
    tab.filter_edit.setText("tanh")  # the two tanh runs: they differ in the learning rate alone
    assert sorted(_shown(tab, "What differs")) == ["lr=0.01", "lr=0.1"]
    tab.filter_edit.clear()
    tab.status_combo.setCurrentIndex(tab.status_combo.findData("stopped"))
    assert [entry.path for entry in tab.shown_entries()] == [runs["relu"]]
    tab.status_combo.setCurrentIndex(0)
    tab.set_baseline(runs["low"])
    deltas = dict(zip(_shown(tab, "Run"), _shown(tab, "Δ top-1")))
    assert deltas["lenet5-relu"] == "+80.5 pt" and not tab.table_view.isColumnHidden(column.index("Δ top-1"))


def test_selected_runs_are_overlaid_smoothed_and_by_training_time(make_tab, qtbot, tmp_path):
    from cnnstudio.training.experiments.compare import run_curves, smooth_ema
    from cnnstudio.training.store.runs import open_run

    runs = _history_runs(tmp_path / "runs")
    tab = _read(make_tab, qtbot, tmp_path / "runs")
    chart = tab.chart
    tab.select_runs([runs["low"], runs["relu"]])
    assert set(chart.runs()) == {runs["low"], runs["relu"]}
    plot = chart.plot_items["val_acc"]
    # a raw and a smoothed line per run, and its dot (empty: runs of several epochs are lines)
    assert len(plot.listDataItems()) == 6
    assert [len(dot.data) for dot in (chart._runs[Path(runs["relu"])].dots["val_acc"],)] == [0]
    raw_item, smooth_item = chart.curve(runs["relu"], "val_acc")
    expected = 100 * run_curves(open_run(runs["relu"])).val_acc
    chart.smoothing_slider.setValue(90)
    qtbot.waitUntil(lambda: smooth_item.getData()[1] is not None
                    and np.allclose(smooth_item.getData()[1], smooth_ema(expected, 0.9)), timeout=2_000)
    assert np.allclose(raw_item.getData()[1], expected)  # the raw line, faint behind
    assert chart.curve(runs["relu"], "val_acc") == (raw_item, smooth_item)  # the same items, new data
    chart.smoothing_slider.setValue(0)
    qtbot.waitUntil(lambda: np.allclose(smooth_item.getData()[1], expected), timeout=2_000)
    assert list(smooth_item.getData()[0]) == [1, 2, 3]
    chart.x_combo.setCurrentIndex(chart.x_combo.findData("time"))
    assert chart.x_unit == "s" and list(chart.curve(runs["low"], "val_loss")[1].getData()[0]) == [1.0, 2.0, 3.0]
    chart.series_boxes["train_loss"].setChecked(True)
    train = chart.curve(runs["relu"], "train_loss")[1].getData()[1]
    assert np.allclose(train, 2.0 - np.array([0.3, 0.6, 0.9]))
    assert tab.table_view.model().index(0, 0).data(Qt.ItemDataRole.DecorationRole) is not None or \
        tab.table_view.model().index(1, 0).data(Qt.ItemDataRole.DecorationRole) is not None  # a swatch per run drawn
    tab.select_run(runs["mid"])
    assert chart.runs() == [runs["mid"]] and len(plot.listDataItems()) == 3


def test_the_chart_and_the_table_export_as_shown(make_tab, qtbot, tmp_path):
    import csv

    from PIL import Image

    from cnnstudio.errors import CnnStudioError

    runs = _history_runs(tmp_path / "runs")
    tab = _read(make_tab, qtbot, tmp_path / "runs")
    tab.resize(900, 700)
    tab.show()
    tab.select_runs(list(runs.values()))
    png = tab.chart.export_png(tmp_path / "chart.png")
    with Image.open(png) as picture:
        assert picture.format == "PNG" and picture.width > 200 and picture.height > 100
        assert len(picture.convert("RGB").getcolors(maxcolors=1 << 16) or ()) > 10  # curves drawn, not a blank
    with pytest.raises(CnnStudioError, match="PNG"):
        tab.chart.export_png(tmp_path / "chart.jpg")
    tab.table_view.sortByColumn(list(_cells(tab, 0)).index("Best top-1"), Qt.SortOrder.DescendingOrder)
    tab.filter_edit.setText("lenet5")
    path = tab.export_csv(tmp_path / "table.csv")
    with path.open(encoding="utf-8") as handle:
        names = [Path(record["path"]).name for record in csv.DictReader(handle)]
    assert names == ["relu", "mid", "low"] == [entry.path.name for entry in tab.shown_entries()]


def test_histories_are_read_off_the_gui_thread_and_only_when_changed(make_tab, qtbot, tmp_path, monkeypatch):
    import threading

    from cnnstudio.training.records import EpochStats
    from cnnstudio.training.experiments.compare import RunCache
    from cnnstudio.training.store.runs import RunWriter

    threads: list[str] = []
    read = RunCache.read
    monkeypatch.setattr(RunCache, "read", lambda self, run: (threads.append(threading.current_thread().name),
                                                             read(self, run))[1])
    runs = _history_runs(tmp_path / "runs")
    tab = make_tab(tmp_path / "runs")
    assert tab.reading and "Reading" in tab.status_label.text() and tab.runs() == []
    qtbot.waitUntil(lambda: not tab.reading, timeout=10_000)
    assert len(threads) == 3 and threading.main_thread().name not in threads
    tab.select_runs(list(runs.values()))
    before = {path: tab.chart._runs[path].run.curves for path in runs.values()}
    writer = RunWriter(runs["mid"])  # one epoch more, as a training run appends it
    writer.append_metrics(EpochStats(epoch=4, epochs=4, train_loss=1.0, train_acc=0.5, val_loss=0.9, val_acc=0.5,
                                     val_top5=None, lr=0.1, seconds=2.0, images_per_s=500.0, is_best=True).to_row())
    writer.save_last({"epoch": 4})
    with qtbot.waitSignal(tab.runs_read, timeout=10_000):
        tab.refresh()
    assert tab._cache.reads == 4  # mid alone was read again
    after = {path: tab.chart._runs[path].run.curves for path in runs.values()}
    assert after[runs["low"]] is before[runs["low"]] and len(after[runs["mid"]].epoch) == 4
    assert set(tab.chart.runs()) == set(runs.values())  # the selection survived the refresh


def test_a_run_of_one_epoch_is_a_dot_not_an_invisible_line(make_tab, qtbot, tmp_path):
    # A one-epoch study run is a single point per series: a line cannot show it, a dot does.
    from tests.helpers.training import write_history_run

    root = tmp_path / "runs"
    one = write_history_run(root / "one", val_accs=(0.4,))
    three = write_history_run(root / "three", val_accs=(0.1, 0.2, 0.3))
    tab = _read(make_tab, qtbot, root)
    tab.select_runs([one, three])
    chart = tab.chart
    dot = chart._runs[Path(one)].dots["val_acc"]
    assert len(dot.data) == 1 and dot.data["x"][0] == 1.0 and dot.data["y"][0] == 40.0
    assert len(chart._runs[Path(three)].dots["val_acc"].data) == 0
    chart.smoothing_slider.setValue(90)  # smoothing a single point leaves it where it is
    assert dot.data["y"][0] == 40.0


def test_two_selected_runs_ask_for_their_dynamics_side_by_side(make_tab, qtbot, tmp_path):
    runs = _history_runs(tmp_path / "runs")
    tab = _read(make_tab, qtbot, tmp_path / "runs")
    tab.select_runs([runs["low"]])
    assert tab.dynamics_button.isEnabled()
    tab.select_runs([runs["low"], runs["relu"]])
    with qtbot.waitSignal(tab.dynamics_requested, timeout=5_000) as blocker:
        tab.dynamics_button.click()
    assert {Path(p) for p in blocker.args} == {Path(runs["low"]), Path(runs["relu"])}  # in the order shown
    tab.select_runs([runs["low"], runs["relu"], runs["mid"]])
    assert not tab.dynamics_button.isEnabled()  # two at most: one beside the other
