"""The suite's guard against real modal dialogs, which would hang it offscreen."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox


def test_a_modal_dialog_is_answered_cancelled_and_recorded(no_modal_dialog, qtbot):
    assert QFileDialog.getExistingDirectory(None, "pick") == ""
    assert QFileDialog.getSaveFileName(None, "save") == ("", "")
    box = QMessageBox(QMessageBox.Icon.Warning, "cnnstudio", "text")
    qtbot.addWidget(box)
    assert box.exec() == 0  # rejected, at once
    assert no_modal_dialog == ["QFileDialog.getExistingDirectory", "QFileDialog.getSaveFileName", "QMessageBox.exec"]
    no_modal_dialog.clear()  # recorded as expected: this test does not fail at teardown
