"""The Dynamics tab: a run's recording drawn, findings that lead to their layer and moment, a
second run on the same scales, the shared moment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.helpers.training import make_bundle, tiny_config


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    from cnnstudio.training.fit.trainer import Trainer

    root = tmp_path_factory.mktemp("dyn")
    bundle = make_bundle(per_class=24)
    # A plain sigmoid LeNet beside the usual ReLU one: the notes' comparison in miniature.
    Trainer(tiny_config(epochs=2, arch_options={"activation": "sigmoid", "pool": "max"}), run_dir=root / "sigmoid",
            bundle=bundle).fit()
    Trainer(tiny_config(epochs=2), run_dir=root / "relu", bundle=bundle).fit()
    return root / "sigmoid", root / "relu"


def test_a_run_is_drawn_with_its_findings_and_a_second_run_on_the_same_scale(qtbot, state, two_runs) -> None:
    from cnnstudio.gui.inspection.dynamics_tab import DynamicsTab

    sigmoid, relu = two_runs
    tab = DynamicsTab(state)
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.loaded, timeout=30_000):
        tab.show_run(str(sigmoid))
    record = tab.panels[0].record
    assert tab.panels[0].heat.image.shape == (len(record.layers), len(record))
    assert "sigmoid" in tab.caption.text() and "5 layers" in tab.caption.text()
    assert tab.findings.count() >= 1

    tab.beside_box.addItem("relu", str(relu))
    tab.beside_box.setCurrentIndex(tab.beside_box.count() - 1)
    tab.beside_box.activated.emit(tab.beside_box.currentIndex())
    qtbot.waitUntil(lambda: tab.panels[1].record is not None, timeout=30_000)
    assert tab.beside_shown
    # One colour scale for both: the bar's levels cover both runs' gradient norms.
    low, high = tab.colour_bar.levels()
    both = np.concatenate([np.log10(p.record.figures["grad_norm"][np.isfinite(p.record.figures["grad_norm"])])
                           for p in tab.panels])
    assert low <= np.percentile(both, 1) + 1e-6 and high >= np.percentile(both, 99) - 1e-6


def test_the_marker_follows_the_shared_moment_and_a_finding_moves_it(qtbot, state, two_runs) -> None:
    from cnnstudio.gui.inspection.dynamics_tab import DynamicsTab

    sigmoid, _relu = two_runs
    tab = DynamicsTab(state)
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.loaded, timeout=30_000):
        tab.show_run(str(sigmoid))
    record = tab.panels[0].record
    state.set_history_position(str(sigmoid), 1.0)  # the end of epoch 1, chosen on another tab
    column = tab.marker_column()
    assert record.epochs[column] == 1 and record.batches[column] == record.num_batches[column]

    item = next(tab.findings.item(i) for i in range(tab.findings.count())
                if tab.findings.item(i).data(Qt.ItemDataRole.UserRole) is not None)
    finding = item.data(Qt.ItemDataRole.UserRole)
    tab._on_finding_chosen(item)
    assert tab.selected_layer == finding.layer
    assert state.history_position[0] == str(sigmoid)
    assert record.steps[tab.marker_column()] == finding.step
