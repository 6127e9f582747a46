"""Spin boxes and combo boxes inside a scrolling form take the wheel only when focused.

Scrolling a form must never edit it: a wheel turn over an unfocused spin box (Batch size
64 → 62 → 57 as the pointer crossed it) scrolls the form instead (the usual Qt remedy:
`Qt.StrongFocus`, so the wheel gives no focus, and the wheel passed on when unfocused).
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QScrollArea, QWidget

__all__ = ["WheelGuard"]


class WheelGuard(QObject):
    """Event filter for the editable fields of one scroll area's form."""

    def __init__(self, scroll: QScrollArea) -> None:
        super().__init__(scroll)
        self._scroll = scroll

    def guard(self, root: QWidget) -> None:
        """Guard `root` (when it is a field) and every spin box and combo box inside it."""
        fields = [*root.findChildren(QAbstractSpinBox), *root.findChildren(QComboBox)]
        if isinstance(root, (QAbstractSpinBox, QComboBox)):
            fields.append(root)
        for field in fields:
            field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            field.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            # The form scrolls as if the pointer were over empty space.
            QCoreApplication.sendEvent(self._scroll.verticalScrollBar(), event)
            return True
        return False
