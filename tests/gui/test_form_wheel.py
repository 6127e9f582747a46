"""Scrolling the setup form never edits it (issue 22, item 3)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QComboBox, QDoubleSpinBox, QScrollArea

from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.gui.training.setup_panel import SetupPanel


def _wheel(widget, steps: int = -3) -> None:
    """Turn the mouse wheel over the middle of `widget` (negative: towards the user)."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_form_past_unfocused_fields_and_edits_a_focused_one(qtbot, state) -> None:
    panel = SetupPanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    panel.resize(360, 300)  # short: the form scrolls
    panel.show()
    qtbot.waitExposed(panel)
    panel.arch_combo.setCurrentIndex(max(0, panel.arch_combo.findData("tricks")))  # a net with option fields
    panel.setFocus()
    fields = [panel.batch_spin, panel.lr_spin, panel.optimizer_combo, panel.arch_combo,
              *[w for w in panel.option_widgets.values() if isinstance(w, (QComboBox, QDoubleSpinBox))]]
    before = [f.value() if hasattr(f, "value") else f.currentIndex() for f in fields]
    scroll = panel.findChild(QScrollArea).verticalScrollBar()
    assert scroll.maximum() > 0
    for field in fields:
        _wheel(field)
    after = [f.value() if hasattr(f, "value") else f.currentIndex() for f in fields]
    assert after == before  # nothing edited ...
    assert scroll.value() > 0  # ... the form scrolled instead
    assert all(f.focusPolicy() == Qt.FocusPolicy.StrongFocus for f in fields)

    panel.batch_spin.setFocus()
    qtbot.waitUntil(panel.batch_spin.hasFocus)
    value = panel.batch_spin.value()
    _wheel(panel.batch_spin, steps=1)
    assert panel.batch_spin.value() == value + 1  # a focused field takes the wheel
