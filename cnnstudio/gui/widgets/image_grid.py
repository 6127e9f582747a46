"""Shared building blocks of the inspection tabs: an image view and an empty-state page.

`ImageView` shows one numpy image (grey H×W or colour H×W×3, floats in [0, 1]) in a
pyqtgraph `ViewBox` with the aspect ratio locked, so kernel and feature-map grids keep
square pixels whatever the window's shape. `EmptyState` is the calm text a tab shows
while it has nothing to show, saying what to do next. `StackedPanel` switches between
the two (plus a message page for errors) without each tab re-inventing it. `thumbnail_list`
and `thumbnail` are the captioned icon grids of the Evaluate and Features tabs.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QLabel, QListWidget, QStackedWidget, QWidget

__all__ = ["EmptyState", "ImageView", "StackedPanel", "thumbnail", "thumbnail_list"]

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


def thumbnail(image: np.ndarray, side: int) -> QPixmap:
    """uint8 H×W×C (grey or colour) → a pixmap fitting `side`×`side`, pixels kept sharp."""
    rgb = np.ascontiguousarray(np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image)
    h, w = rgb.shape[:2]
    qimage = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimage).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.FastTransformation)


def thumbnail_list(side: int, cell: QSize) -> QListWidget:
    """A grid of `side`-pixel icons with captions below, reflowing with the width (cells of `cell`)."""
    grid = QListWidget()
    grid.setViewMode(QListWidget.ViewMode.IconMode)
    grid.setIconSize(QSize(side, side))
    grid.setResizeMode(QListWidget.ResizeMode.Adjust)
    grid.setMovement(QListWidget.Movement.Static)
    grid.setWordWrap(True)
    grid.setGridSize(cell)
    return grid
