"""The top-k rows shared by the Classify tab's files and its drawing pad."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

from cnnstudio.gui.format import format_percent
from cnnstudio.gui.text import escape

__all__ = ["TOP_K", "TopKView"]

TOP_K = 5


class TopKView(QWidget):
    """The top-k classes as rows: class name, a probability bar, the percentage."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(10)
        self._grid.setVerticalSpacing(6)
        self._grid.setColumnStretch(1, 1)
        self._rows: list[tuple[QLabel, QProgressBar, QLabel]] = []
        self._values: list[tuple[str, float]] = []
        for row in range(TOP_K):
            name = QLabel()
            name.setTextFormat(Qt.TextFormat.RichText)  # the top class in bold; class names escaped
            name.setMinimumWidth(120)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(False)
            bar.setFixedHeight(14)
            percent = QLabel()
            percent.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            percent.setMinimumWidth(60)
            self._grid.addWidget(name, row, 0)
            self._grid.addWidget(bar, row, 1)
            self._grid.addWidget(percent, row, 2)
            self._rows.append((name, bar, percent))
        self.set_topk(())

    def set_topk(self, topk: tuple[tuple[str, float], ...] | list[tuple[str, float]]) -> None:
        """Show these (class name, probability) pairs, most likely first."""
        self._values = [(str(name), float(prob)) for name, prob in topk][:TOP_K]
        for index, (name_label, bar, percent) in enumerate(self._rows):
            visible = index < len(self._values)
            for widget in (name_label, bar, percent):
                widget.setVisible(visible)
            if visible:
                name, prob = self._values[index]
                name_label.setText(f"<b>{escape(name)}</b>" if index == 0 else escape(name))
                bar.setValue(round(prob * 1000))
                percent.setText(format_percent(prob))

    def rows(self) -> list[tuple[str, float]]:
        """The (class name, probability) pairs on screen, in display order."""
        return list(self._values)
