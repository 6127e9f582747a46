"""The dotted history line on the Training plots says what it is (issue 22, item 17)."""

from __future__ import annotations



def test_the_history_marker_has_a_label_and_a_tooltip(qtbot, state) -> None:
    from cnnstudio.gui.training.session import TrainingSession
    from cnnstudio.gui.training.training_tab import TrainingTab

    session = TrainingSession(state)
    tab = TrainingTab(state, session)
    qtbot.addWidget(tab)
    assert len(tab.history_markers) == 3
    for marker in tab.history_markers:
        assert "Kernels and Feature maps" in marker.toolTip() and "history slider" in marker.toolTip()
        marker.setVisible(True)  # as when the slider shows this run
        marker.setValue(2.5)
        assert marker.label is not None and marker.label.toPlainText() == "shown in Kernels · epoch 2.5"
