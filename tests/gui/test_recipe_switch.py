"""Switching the architecture shows its recipe; settings kept by hand are marked (issue 22, item 4)."""

from __future__ import annotations

from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.gui.training.setup_panel import SetupPanel
from cnnstudio.training.config import default_config


def _label(panel: SetupPanel, widget) -> str:
    return panel.label_of(widget).text()


def test_a_switch_brings_the_new_recipe_and_marks_what_the_user_kept(qtbot, state) -> None:
    panel = SetupPanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    panel.show()
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
    lenet, vgg = default_config("lenet5"), default_config("vgg11")
    assert panel.batch_spin.value() == lenet.batch_size and panel.kept_note.isHidden()
    panel.lr_spin.setValue(0.1)  # by hand, on LeNet

    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("vgg11"))
    # The untouched batch size follows VGG-11's recipe; the hand-set LR stays, visibly.
    assert panel.batch_spin.value() == vgg.batch_size
    assert panel.lr_spin.value() == 0.1
    assert _label(panel, panel.lr_spin).endswith("*") and not _label(panel, panel.batch_spin).endswith("*")
    assert panel.kept_note.isVisible() and "LR 0.1" in panel.kept_note.text() and str(vgg.lr) in panel.kept_note.text()
    assert panel.recipe_button.isVisible() and "VGG" in panel.recipe_button.text()
    assert str(vgg.lr) in panel.lr_spin.toolTip()

    panel.recipe_button.click()  # the way back
    assert panel.lr_spin.value() == vgg.lr and panel.config().batch_size == vgg.batch_size
    assert not _label(panel, panel.lr_spin).endswith("*") and panel.kept_note.isHidden()
    assert panel.recipe_button.isHidden()


def test_a_kept_setting_set_back_by_hand_loses_its_mark_and_stays_kept_over_switches(qtbot, state) -> None:
    panel = SetupPanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    panel.show()
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
    panel.batch_spin.setValue(32)
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("vgg11"))
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("alexnet"))  # still the user's, still marked
    assert panel.batch_spin.value() == 32 and _label(panel, panel.batch_spin).endswith("*")
    panel.batch_spin.setValue(default_config("alexnet").batch_size)
    assert not _label(panel, panel.batch_spin).endswith("*") and panel.kept_note.isHidden()
