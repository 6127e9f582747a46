"""No network for a dataset download: one clear message naming the folder, with Retry."""

from __future__ import annotations

import urllib.error
import urllib.request

from PySide6.QtWidgets import QMessageBox


def test_offline_download_names_the_folder_and_retry_tries_again(window, qtbot, quick_setup, tmp_path, monkeypatch):
    data_root = tmp_path / "datasets"
    monkeypatch.setenv("CNNSTUDIO_DATA", str(data_root))
    attempts = []

    def offline(*args, **kwargs):
        attempts.append(args)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    quick_setup(window)
    panel = window.setup_panel
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("mnist"))

    with qtbot.waitSignal(window.session.finished, timeout=60_000) as finished:
        window.start_training()
    _result, error = finished.args
    assert error is not None
    box = window.error_box
    assert box is not None and str(data_root) in box.text()
    assert "Traceback" not in box.text()
    assert window.session.state == "idle" and not window.session.active
    first_attempts = len(attempts)
    assert first_attempts >= 1

    with qtbot.waitSignal(window.session.finished, timeout=60_000):
        box.button(QMessageBox.StandardButton.Retry).click()
    assert len(attempts) > first_attempts  # Retry really went back to the network
    assert window.error_box is not None and str(data_root) in window.error_box.text()
    assert window.session.state == "idle"
