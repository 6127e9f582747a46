"""The window's Tricks study asks for the width, with the estimate beside it (issue 20, part 3)."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.gui.training.setup_panel import SetupPanel

pytestmark = pytest.mark.timeout(90)


@pytest.mark.slow  # two estimates of a 6 M-parameter net: seconds each on a busy CPU
def test_the_study_asks_for_the_width_with_its_estimate_and_queues_at_it(qtbot, state, blocks) -> None:
    panel = SetupPanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    panel._add_folder(str(blocks))
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData(str(blocks)))
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))
    panel.epochs_spin.setValue(1)
    panel.study_button.click()
    dialog = panel.study_dialog
    assert dialog.isVisible() and dialog.width() == 0.25  # the CPU-sized study is offered first
    assert dialog.baseline().arch_options == {"batch_norm": True, "width": 0.25}
    qtbot.waitUntil(lambda: "per epoch on CPU" in dialog.estimate_label.text(), timeout=60_000)
    assert "5.9 M parameters" in dialog.estimate_label.text() and "eight runs" in dialog.estimate_label.text()
    dialog.width_spin.setValue(0.5)  # a new estimate once the width settles
    assert dialog.estimate_label.text() == "…"
    qtbot.waitUntil(lambda: dialog.measured_width == 0.5, timeout=60_000)
    with qtbot.waitSignal(panel.study_requested, timeout=5_000):
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert panel.study_width == 0.5
    state.wait_for_background()
    QApplication.processEvents()
