"""Looks: the Fusion style, the calm stylesheet from ``resources/`` and the icons."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

__all__ = ["RESOURCES", "apply_style", "find_resources", "icon"]

log = logging.getLogger(__name__)

# An installed wheel carries them inside the package (setup.py maps resources/ to
# cnnstudio/gui/resources); a source checkout or an editable install has the project's
# top-level resources/ two folders above this package.
_PLACES = (
    Path(__file__).resolve().parent / "resources",
    Path(__file__).resolve().parents[2] / "resources",
)


def find_resources(places: tuple[Path, ...] = _PLACES) -> Path | None:
    """The first of ``places`` holding style.qss, or None (with a warning) when none does."""
    for place in places:
        if (place / "style.qss").is_file():
            return place
    log.warning(
        "cnnstudio's stylesheet and icons are missing (looked in %s); the app runs unstyled",
        ", ".join(str(place) for place in places),
    )
    return None


RESOURCES = find_resources()


def apply_style(app: QApplication) -> None:
    """Give the application the Fusion style and, when present, resources/style.qss."""
    app.setStyle("Fusion")
    if RESOURCES is not None:
        app.setStyleSheet((RESOURCES / "style.qss").read_text(encoding="utf-8"))


def icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg``, or an empty icon when it is missing (or for "")."""
    if not name or RESOURCES is None:
        return QIcon()
    path = RESOURCES / "icons" / f"{name}.svg"
    if not path.is_file():
        log.warning("cnnstudio's icon %s is missing", path)
        return QIcon()
    return QIcon(str(path))
