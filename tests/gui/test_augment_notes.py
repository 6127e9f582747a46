"""The form says what an augmentation does to the chosen data (issue 22, item 10)."""

from __future__ import annotations

from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.gui.training.setup_panel import SetupPanel


def test_pca_is_disabled_for_grey_data_and_flip_is_explained(qtbot, state) -> None:
    panel = SetupPanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    panel.show()
    pca, flip = panel._augment_boxes["pca"], panel._augment_boxes["flip"]
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("mnist-sample"))
    assert not pca.isEnabled() and not pca.isChecked() and "needs colour images" in pca.toolTip()
    assert "mirrored digit" in flip.toolTip()
    assert panel.augment_note.isHidden()
    flip.setChecked(True)
    assert panel.augment_note.isVisible() and "mirrored digit or letter" in panel.augment_note.text()
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("cifar10"))  # colour photos
    assert pca.isEnabled() and panel.augment_note.isHidden()
    pca.setChecked(True)
    assert panel.config().augment == ("flip", "pca")
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("mnist-sample"))
    assert panel.config().augment == ("flip",)  # never a choice the data cannot take


def test_the_evaluate_tab_says_mirror_views_hurt_digits(qtbot, state) -> None:
    from cnnstudio.gui.inspection.evaluate_tab import EvaluateTab

    tab = EvaluateTab(state)
    qtbot.addWidget(tab)
    assert "mirror images" in tab.tta_combo.toolTip() and "digits" in tab.tta_combo.toolTip()
