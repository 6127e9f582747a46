"""Shared building blocks of the inspection tabs: an image view and an empty-state page.

`ThumbnailList` is a wrapping grid of small images with captions drawn by Qt (readable at
any size, unlike text rendered into a picture). `ImageView` shows one numpy image (grey H×W or colour H×W×3, floats in [0, 1]) in a
pyqtgraph `ViewBox` with the aspect ratio locked, so kernel and feature-map grids keep
square pixels whatever the window's shape. `EmptyState` is the calm text a tab shows
while it has nothing to show, saying what to do next. `StackedPanel` switches between
the two (plus a message page for errors) without each tab re-inventing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QStackedWidget, QWidget

__all__ = ["EmptyState", "ImageView", "StackedPanel", "Thumbnail", "ThumbnailList"]

# Images arrive as numpy arrays indexed [row, column(, channel)], as numpy and PIL use them.
pg.setConfigOptions(imageAxisOrder="row-major")


class ImageView(pg.GraphicsView):
    """A zoomable view of one image with square pixels, top row at the top."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background=None)
        self._box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.setCentralItem(self._box)
        self._item = pg.ImageItem()
        # Smooth scaling would blur 3×3 and 5×5 kernels into mush; show the real pixels.
        self._item.setAutoDownsample(False)
        self._box.addItem(self._item)
        self._image: np.ndarray | None = None
        from cnnstudio.gui.widgets.colour_bar import ColourBar

        self.colour_bar = ColourBar(self)  # what black and white stand for, once a view says (`set_scale`)

    def set_scale(self, bottom: str, top: str, *, middle: str = "", title: str = "") -> None:
        """Label the grey levels of the image on show (a colour bar in the corner)."""
        self.colour_bar.set_scale(bottom, top, middle=middle, title=title)

    def resizeEvent(self, event: object) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        bar = getattr(self, "colour_bar", None)  # pyqtgraph resizes the view inside its own __init__
        if bar is not None:
            bar.place()

    @property
    def image(self) -> np.ndarray | None:
        """The array now on screen (None when cleared)."""
        return self._image

    def set_image(self, image: np.ndarray) -> None:
        """Show `image` (H×W grey or H×W×3 colour, floats in [0, 1]; NaN is transparent)."""
        image = np.asarray(image, dtype=np.float32)
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
            raise ValueError(f"expected an H×W or H×W×3 image, got shape {image.shape}")
        self._image = image
        # Levels are fixed: the engine already scaled the values into [0, 1].
        self._item.setImage(image, autoLevels=False, levels=(0.0, 1.0))
        self._box.autoRange(padding=0.02)

    def clear(self) -> None:
        """Show nothing."""
        self._image = None
        self._item.clear()
        self.colour_bar.clear_scale()


class EmptyState(QLabel):
    """Centred, muted text telling the user what to do next."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setTextFormat(Qt.TextFormat.PlainText)  # messages name the user's files and folders
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setObjectName("emptyState")


class StackedPanel(QStackedWidget):
    """A content widget that gives way to an empty-state text or a message when needed."""

    def __init__(self, content: QWidget, empty_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.content = content
        self.empty = EmptyState(empty_text)
        self.addWidget(self.empty)
        self.addWidget(content)

    def show_content(self) -> None:
        """Show the content widget."""
        self.setCurrentWidget(self.content)

    def show_empty(self, text: str | None = None) -> None:
        """Show the empty state, optionally with a different text (a message, an error)."""
        if text is not None:
            self.empty.setText(text)
        self.setCurrentWidget(self.empty)

    @property
    def showing_content(self) -> bool:
        """Whether the content (not the empty text) is on screen."""
        return self.currentWidget() is self.content



Thumbnail = tuple[Any, np.ndarray, str]  # (data kept on the item, uint8 H×W×3 or H×W×1 image, caption)


class ThumbnailList(QListWidget):
    """Small images in rows that wrap with the width, each with its caption under it.

    `set_thumbnails([(data, image, caption), …], highlight=0)` replaces them; `data` is kept
    on each item (`item_data(row)`), and the `highlight`-th thumbnail gets a red frame (the
    image the others are compared with).
    """

    HIGHLIGHT = QColor(220, 40, 40)

    def __init__(self, size: int = 64, *, caption_lines: int = 2, one_row: bool = False,
                 parent: QWidget | None = None) -> None:
        """`one_row`: a single row that scrolls sideways (a strip) instead of rows that wrap."""
        super().__init__(parent)
        self._size = size
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(size, size))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setWordWrap(True)
        if one_row:
            self.setFlow(QListWidget.Flow.LeftToRight)
            self.setWrapping(False)
        line = self.fontMetrics().height()
        self.setGridSize(QSize(size + (16 if one_row else 40), size + 8 + line * caption_lines))

    def set_thumbnails(self, thumbs: Sequence[Thumbnail], *, highlight: int | None = None) -> None:
        self.clear()
        for row, (data, image, caption) in enumerate(thumbs):
            item = QListWidgetItem(QIcon(self.pixmap(image, framed=row == highlight)), caption)
            item.setData(Qt.ItemDataRole.UserRole, data)
            item.setToolTip(caption.replace("\n", " · "))
            self.addItem(item)

    def item_data(self, row: int) -> Any:
        return self.item(row).data(Qt.ItemDataRole.UserRole)

    def pixmap(self, image: np.ndarray, *, framed: bool = False) -> QPixmap:
        """A uint8 H×W×C image (C = 1 or 3) scaled to the thumbnail size with square pixels."""
        image = np.ascontiguousarray(np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[..., :3])
        h, w = image.shape[:2]
        qimage = QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        pixmap = QPixmap.fromImage(qimage).scaled(self._size, self._size, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.FastTransformation)
        if framed:
            painter = QPainter(pixmap)
            painter.setPen(QPen(self.HIGHLIGHT, 4))
            painter.drawRect(pixmap.rect().adjusted(2, 2, -2, -2))
            painter.end()
        return pixmap
