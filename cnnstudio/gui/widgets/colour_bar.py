"""A small colour bar over an image view: what black, grey and white (or a colour map) stand for."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QLinearGradient, QPainter, QPen
from PySide6.QtWidgets import QWidget

__all__ = ["ColourBar"]


class ColourBar(QWidget):
    """A vertical gradient with its top, middle and bottom labelled (`set_scale`), drawn over the
    top-right corner of its parent view; hidden until a scale is set."""

    BAR_W = 12

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.top_text = self.middle_text = self.bottom_text = self.title = ""
        self._colours: tuple[QColor, ...] = (QColor("black"), QColor("white"))
        self.hide()

    def set_scale(self, bottom: str, top: str, *, middle: str = "", title: str = "",
                  colours: tuple[str, ...] = ("black", "white")) -> None:
        """Label the gradient (`colours` from bottom to top) and show it."""
        self.bottom_text, self.top_text, self.middle_text, self.title = bottom, top, middle, title
        self._colours = tuple(QColor(c) for c in colours)
        self.setToolTip(f"{title}: {bottom} … {top}" if title else f"{bottom} … {top}")
        metrics = self.fontMetrics()
        width = self.BAR_W + 8 + max(metrics.horizontalAdvance(t) for t in (top, middle, bottom, " "))
        self.resize(max(width, metrics.horizontalAdvance(title) + 8), 6 * metrics.lineSpacing())
        self.place()
        self.show()
        self.raise_()
        self.update()

    def clear_scale(self) -> None:
        self.hide()

    def place(self) -> None:
        """Keep to the parent's top-right corner."""
        parent = self.parentWidget()
        if parent is not None:
            self.move(max(0, parent.width() - self.width() - 6), 6)

    def paintEvent(self, _event: object) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        metrics = self.fontMetrics()
        line = metrics.lineSpacing()
        painter.fillRect(self.rect(), QColor(255, 255, 255, 210))
        painter.setPen(QColor("#333333"))
        if self.title:
            painter.drawText(4, metrics.ascent() + 2, self.title)
        top = line + 4 if self.title else 4
        bar = QRectF(4, top, self.BAR_W, self.height() - top - 4)
        gradient = QLinearGradient(bar.bottomLeft(), bar.topLeft())
        for i, colour in enumerate(self._colours):
            gradient.setColorAt(i / max(len(self._colours) - 1, 1), colour)
        painter.fillRect(bar, gradient)
        painter.setPen(QPen(QColor("#777777")))
        painter.drawRect(bar)
        painter.setPen(QColor("#222222"))
        x = int(bar.right()) + 4
        painter.drawText(x, int(bar.top()) + metrics.ascent(), self.top_text)
        if self.middle_text:
            painter.drawText(x, int(bar.center().y()) + metrics.ascent() // 2, self.middle_text)
        painter.drawText(x, int(bar.bottom()), self.bottom_text)
        painter.end()
