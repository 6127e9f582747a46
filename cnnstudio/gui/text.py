"""User strings in widgets: shown as typed, never read as markup.

Qt reads a label's text (in its default ``AutoText`` format) and every tooltip as HTML as
soon as it looks like HTML, and pyqtgraph's legend entries always. Class names, file and
folder names, run names, paths and error messages are the user's: a class named
``<b>bold`` must not be drawn bold, nor ``R&D <img src=x>`` as a broken image. So labels
that show such strings are plain text (`plain`), a label or legend that is rich text on
purpose escapes what it inserts (`escape`), and tooltips go through `tooltip`.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as _GuiQt  # Qt::mightBeRichText lives in QtGui's namespace
from PySide6.QtWidgets import QLabel

__all__ = ["IMAGE_FILTER", "escape", "plain", "tooltip"]


def plain(label: QLabel) -> QLabel:
    """Make `label` show its text as typed (returns it, to wrap a constructor)."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def escape(text: str) -> str:
    """`text` as HTML that shows it as typed, for rich text that inserts a user string."""
    return html.escape(str(text), quote=False)


def tooltip(text: str) -> str:
    """A tooltip that shows `text` as typed.

    Qt has no plain-text tooltips: one that looks like HTML is rendered as HTML. Such a
    text is escaped inside a paragraph that keeps its spaces and line breaks; any other
    text is returned unchanged (Qt then shows it as plain text already).
    """
    text = str(text)
    if not _GuiQt.mightBeRichText(text):
        return text
    return f"<p style='white-space:pre'>{escape(text)}</p>"


def _image_filter() -> str:
    from cnnstudio.data.layout import IMAGE_EXTENSIONS

    return f"Images ({' '.join('*' + suffix for suffix in IMAGE_EXTENSIONS)});;All files (*)"


#: The open-image dialogs' filter: the file names a folder's scan reads (one list, data.layout's).
IMAGE_FILTER = _image_filter()
