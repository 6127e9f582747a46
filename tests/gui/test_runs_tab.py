"""The Runs tab lists run folders and opens, resumes or overlays the selected one."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import Qt

from cnnstudio.gui.session import TrainingSession
from cnnstudio.gui.widgets.runs_tab import RunsTab


def _write_run(root, *, val_accs=(0.5, 0.75), epochs: int = 3):
    """A real run folder written by the engine's RunWriter, with a real best.pt."""
    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.models.registry import build_model
    from cnnstudio.training.runs import RunWriter, new_run_dir
    from cnnstudio.training.callbacks import EpochStats
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
