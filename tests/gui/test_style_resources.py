"""style.py finds the stylesheet and icons in a checkout or a wheel, and says when they are missing."""

from __future__ import annotations

import logging

from cnnstudio.gui import style


def test_checkout_finds_its_resources():
    assert style.RESOURCES is not None
    assert (style.RESOURCES / "style.qss").is_file()
    assert not style.icon("start").isNull()


def test_installed_layout_is_looked_at_first(tmp_path):
    inside = tmp_path / "package" / "resources"
    inside.mkdir(parents=True)
    (inside / "style.qss").write_text("QWidget {}", encoding="utf-8")
    checkout = tmp_path / "resources"
    checkout.mkdir()
    (checkout / "style.qss").write_text("QWidget {}", encoding="utf-8")
    assert style.find_resources((inside, checkout)) == inside


def test_missing_resources_are_said(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="cnnstudio.gui.style"):
        assert style.find_resources((tmp_path / "nowhere",)) is None
    assert "stylesheet and icons are missing" in caplog.text


def test_no_icon_asked_is_no_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="cnnstudio.gui.style"):
        assert style.icon("").isNull()
    assert caplog.text == ""
