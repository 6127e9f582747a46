"""Looks: the Fusion style, the calm stylesheet from ``resources/`` and the icons."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

__all__ = ["RESOURCES", "apply_style", "icon"]

# resources/ sits beside the package in the source tree (the project's top-level layout).
RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def apply_style(app: QApplication) -> None:
    """Give the application the Fusion style and, when present, resources/style.qss."""
    app.setStyle("Fusion")
    qss = RESOURCES / "style.qss"
    if qss.is_file():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))


def icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg``, or an empty icon when it is missing."""
    path = RESOURCES / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
