"""What each view shows and where it comes from, the README's essentials and the shortcuts.

Each tab gets a short "about this view" (its tab tooltip, and Help ▸ About this view, F1):
two or three sentences and the paper it comes from. Help ▸ Getting started repeats the
README's essentials; Help ▸ Keyboard shortcuts lists the window's own actions.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

if TYPE_CHECKING:
    from cnnstudio.gui.main_window import MainWindow

from cnnstudio.gui.about import ABOUT, GETTING_STARTED

__all__ = ["ABOUT", "GETTING_STARTED", "install_help", "shortcuts"]

def shortcuts(window: MainWindow) -> list[tuple[str, str]]:
    """(what, keys) for every action of the window that has a shortcut, menus included."""
    found: list[tuple[str, str]] = []
    seen: set[int] = set()
    actions = list(window.actions())
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        if menu is not None:
            actions.extend(menu.actions())
    for act in actions:
        if id(act) in seen or act.shortcut().isEmpty():
            continue
        seen.add(id(act))
        keys = act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        found.append((act.text().replace("&", ""), keys))
    return found


def _show(window: MainWindow, title: str, html: str) -> QMessageBox:
    box = QMessageBox(QMessageBox.Icon.Information, title, html, QMessageBox.StandardButton.Close, window)
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setWindowModality(Qt.WindowModality.NonModal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    window.help_box = box  # the last one shown (tests read it)
    return box


def about_current_view(window: MainWindow) -> QMessageBox:
    title = window.tabs.tabText(window.tabs.currentIndex())
    return _show(window, f"About the {title} view", f"<p>{escape(ABOUT.get(title, ''))}</p>")


def install_help(window: MainWindow) -> None:
    """The Help menu, and each tab's "about this view" as its tooltip."""
    for index in range(window.tabs.count()):
        text = ABOUT.get(window.tabs.tabText(index))
        if text:
            window.tabs.setTabToolTip(index, text)
    window.help_box = None
    menu = window.menuBar().addMenu("&Help")
    about = QAction("About this view", window)
    about.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
    about.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    about.triggered.connect(lambda: about_current_view(window))
    window.addAction(about)
    menu.addAction(about)
    start = QAction("Getting started", window)
    start.triggered.connect(lambda: _show(window, "Getting started", GETTING_STARTED))
    menu.addAction(start)
    keys = QAction("Keyboard shortcuts", window)

    def show_keys() -> None:
        rows = "".join(f"<tr><td>{escape(what)}</td><td>&nbsp;&nbsp;<b>{escape(key)}</b></td></tr>"
                       for what, key in shortcuts(window))
        _show(window, "Keyboard shortcuts", f"<table>{rows}</table>")

    keys.triggered.connect(show_keys)
    menu.addAction(keys)
    window.about_action, window.getting_started_action, window.shortcuts_action = about, start, keys
