"""Each view explains itself, and a Help menu gives the essentials and the shortcuts (issue 22, item 22)."""

from __future__ import annotations

from cnnstudio.gui.help import ABOUT
from cnnstudio.gui.main_window import TAB_TITLES


def test_every_view_has_a_short_about_naming_its_source(window) -> None:
    assert set(ABOUT) == set(TAB_TITLES)
    for index, title in enumerate(TAB_TITLES):
        text = window.tabs.tabToolTip(index)
        assert text == ABOUT[title]
        assert 2 <= text.count(". ") - text.count("al. ") + 1 <= 3  # two or three sentences
    assert "Grad-CAM" in ABOUT["Evaluate"] and "Selvaraju" in ABOUT["Evaluate"]
    assert "activation maximisation" in ABOUT["Features"] and "Olah" in ABOUT["Features"]
    assert "smoothed" in ABOUT["Training"] and "dotted red line" in ABOUT["Training"]
    assert "TensorBoard" in ABOUT["Runs"]


def test_the_help_menu_shows_the_current_views_about_the_essentials_and_the_shortcuts(window, qtbot) -> None:
    menus = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert menus[-1] == "Help"
    window.tabs.setCurrentWidget(window.evaluate_tab)
    window.about_action.trigger()
    assert window.help_box.windowTitle() == "About the Evaluate view" and "Grad-CAM" in window.help_box.text()
    window.getting_started_action.trigger()
    assert "Open image folder" in window.help_box.text() and "Start" in window.help_box.text()
    window.shortcuts_action.trigger()
    text = window.help_box.text()
    for name in ("Start training", "Pause / resume", "Stop", "About this view", "Training"):
        assert name in text
    assert "Ctrl+Return" in text.replace("Ctrl+Enter", "Ctrl+Return") or "Return" in text
    window.help_box.close()
