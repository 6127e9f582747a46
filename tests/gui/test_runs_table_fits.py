"""The Runs table keeps its figures in view and a selected run's name whole (issue 22, item 11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.gui.runs.runs_tab import RunsTab
from tests.helpers.training import write_history_run


@pytest.fixture
def tab(qtbot, state, tmp_path):
    root = tmp_path / "runs"
    write_history_run(root / "lenet_plain", val_accs=(0.5, 0.6))
    write_history_run(root / "lenet_all", val_accs=(0.4, 0.7), lr=0.05,
                      arch_options={"activation": "relu", "pool": "max"})
    widget = RunsTab(state, TrainingSession(state), root=root)
    qtbot.addWidget(widget)
    widget.resize(990, 600)  # what a 1366-px screen leaves the tabs
    widget.show()
    qtbot.waitUntil(lambda: widget.table_view.model().rowCount() == 2, timeout=10_000)
    yield widget
    state.wait_for_background()


def _column(tab, title: str) -> int:
    model = tab.table_view.model()
    return next(c for c in range(model.columnCount()) if model.headerData(c, Qt.Orientation.Horizontal) == title)


def test_a_long_cell_leaves_time_and_speed_in_view(tab, qtbot) -> None:
    from cnnstudio.gui.runs import runs_tab

    header = tab.table_view.horizontalHeader()
    differs = _column(tab, "What differs")
    assert header.sectionSize(differs) <= runs_tab.MAX_COLUMN_WIDTH <= 200
    for title in ("Time", "Images/s"):
        column = _column(tab, title)
        assert header.sectionViewportPosition(column) + header.sectionSize(column) <= tab.table_view.viewport().width()


def test_selecting_a_run_keeps_its_name_whole(tab, qtbot) -> None:
    header = tab.table_view.horizontalHeader()
    tab.select_runs([Path(info.path) for info in tab.runs()])
    qtbot.wait(50)
    assert header.sectionSize(0) >= tab.table_view.sizeHintForColumn(0)
