"""Find LR in the window (issue 20, part 2): the button runs the range test in the background,
the dialog plots the curve with the suggestion, and taking it sets the form's learning rate."""

from __future__ import annotations

import math

import pytest
from PySide6.QtWidgets import QApplication

from cnnstudio.gui.training.lr_finder_dialog import rounded_lr
from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.gui.training.setup_panel import SetupPanel
from tests.helpers.training import make_block_folder

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    return make_block_folder(tmp_path_factory.mktemp("data") / "blocks", per_class=16)


@pytest.fixture
def panel(qtbot, state, monkeypatch, blocks):
    from cnnstudio.gui.training import lr_finder_dialog

    monkeypatch.setattr(lr_finder_dialog, "STEPS", 30)  # a short test on a busy machine; the flow is the same
    panel = SetupPanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
    panel._add_folder(str(blocks))  # as Open image folder… adds it: a tiny real dataset on disk
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData(str(blocks)))
    panel.input_size_spin.setValue(16)
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))
    panel.batch_spin.setValue(4)
    yield panel
    state.wait_for_background()
    QApplication.processEvents()


def test_find_lr_plots_the_curve_marks_the_suggestion_and_takes_it(panel, qtbot) -> None:
    panel.lr_spin.setValue(0.5)
    assert panel.find_lr_button.isEnabled()
    panel.find_lr_button.click()
    dialog = panel.lr_dialog
    assert dialog is not None and dialog.isVisible() and dialog.running  # a background job, not this thread
    qtbot.waitUntil(lambda: dialog.take_button.isEnabled(), timeout=50_000)
    result = dialog.result
    xs, ys = dialog.curve.getData()
    # Every finite step of the test is on the curve (it may stop early on a divergence: batches of 4
    # are noisy), against log10 of the learning rate.
    finite = [lr for lr, loss in zip(result.lrs, result.losses) if math.isfinite(loss)]
    assert len(xs) == len(finite) >= 2 and dialog.plot.getPlotItem().ctrl.logXCheck.isChecked()
    assert xs[0] == pytest.approx(math.log10(finite[0]))
    assert dialog.suggestion_line.isVisible()
    assert dialog.suggestion_line.value() == pytest.approx(math.log10(result.suggested_lr))
    assert f"{rounded_lr(result.suggested_lr):g}" in dialog.take_button.text()
    dialog.take_button.click()
    assert panel.lr_spin.value() == pytest.approx(rounded_lr(result.suggested_lr), rel=1e-3)
    qtbot.waitUntil(lambda: panel.lr_dialog is None, timeout=5_000)


def test_closing_the_dialog_cancels_the_test_and_keeps_the_lr(panel, qtbot, state) -> None:
    panel.lr_spin.setValue(0.5)
    panel.find_lr()
    dialog = panel.lr_dialog
    dialog.close_button.click()
    assert state.wait_for_background(deliver=True)
    assert panel.lr_spin.value() == 0.5


def test_rounded_lr_is_two_digits() -> None:
    assert rounded_lr(0.04531) == 0.045 and rounded_lr(3.16e-4) == 0.00032
