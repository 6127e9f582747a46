"""The window fits a 1366×768 laptop, never grows unasked, and gives the form the room (issue 22, item 7)."""

from __future__ import annotations

from PySide6.QtCore import QRect, QSettings
from PySide6.QtWidgets import QLabel


class _Laptop:
    """A stand-in for a 1366×768 screen (the offscreen platform's own is 800×600)."""

    def availableGeometry(self) -> QRect:  # noqa: N802 (Qt's name)
        return QRect(0, 0, 1366, 768)


def test_the_window_needs_no_more_than_a_laptop_screen_and_tab_content_does_not_grow_it(window, qtbot) -> None:
    least = window.minimumSizeHint()
    assert least.width() <= 1366 - 40 and least.height() <= 768 - 60, least
    # A tab's content asking for more room (a long caption, a row of controls) is laid out
    # in what the tab has; the window's own least size stays.
    window.evaluate_tab.layout().addWidget(QLabel("a very long caption " * 30))
    window.tabs.setCurrentWidget(window.evaluate_tab)
    qtbot.wait(50)
    assert window.minimumSizeHint().width() == least.width()


def test_a_grown_saved_size_is_fitted_to_the_screen_on_the_next_launch(window, qtbot, monkeypatch) -> None:
    window.resize(1408, 916)
    window.save_settings()
    assert QSettings().value("window/geometry") is not None
    monkeypatch.setattr(window, "screen", lambda: _Laptop())
    window._restore_settings()
    frame = window.frameGeometry()
    assert frame.width() <= 1366 and frame.height() <= 768
    assert QRect(0, 0, 1366, 768).contains(frame)


def test_the_form_gets_the_height_and_the_queue_collapses(window) -> None:
    window.resize(1366, 740)
    form, queue = window.left_splitter.sizes()
    assert form > 2 * queue
    assert window.left_splitter.isCollapsible(1) and not window.left_splitter.isCollapsible(0)
