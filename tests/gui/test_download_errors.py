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


def test_a_failed_download_stops_the_busy_bar_and_claims_no_checkpoint(window, qtbot, quick_setup, tmp_path,
                                                                        monkeypatch, runs_dir):
    # Issue 11 item 7: offline Fashion-MNIST left the busy bar animating forever, and the
    # window said checkpoints were kept though nothing had been trained.
    monkeypatch.setenv("CNNSTUDIO_DATA", str(tmp_path / "datasets"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    quick_setup(window)
    panel = window.setup_panel
    panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("fashion-mnist"))
    tab = window.training_tab
    busy = []
    window.session.loading.connect(lambda *_: busy.append(tab.progress.maximum() == 0))

    with qtbot.waitSignal(window.session.finished, timeout=60_000):
        window.start_training()
    assert busy and busy[0]  # it was busy while connecting (an unknown total)...
    assert tab.progress.minimum() == 0 and tab.progress.maximum() > 0  # ...and stops once the fit is over
    qtbot.wait(50)  # late queued signals must not start it again
    assert tab.progress.maximum() > 0
    shown = [tab.summary.text(), window.status_label.text(), window.error_box.text()]
    assert all("kept" not in text.lower() for text in shown), shown
    assert "nothing was trained" in tab.summary.text().lower()
    assert not list(runs_dir.glob("*/*.pt"))  # and indeed no checkpoint exists


def test_a_known_total_after_an_unknown_one_shows_progress_not_the_busy_bar(qtbot):
    from cnnstudio.gui.training.session import TrainingSession
    from cnnstudio.gui.state import StudioState
    from cnnstudio.gui.training.training_tab import TrainingTab

    state = StudioState()
    tab = TrainingTab(state, TrainingSession(state))
    qtbot.addWidget(tab)
    tab.show_loading(0, 0, "Connecting…")
    assert tab.progress.maximum() == 0
    tab.show_loading(50, 200, "Fashion-MNIST train-images 25 %")
    assert tab.progress.maximum() == 1000 and tab.progress.value() == 250


def test_a_fit_failing_in_its_first_epoch_says_no_checkpoint_was_saved(window, qtbot, quick_setup, monkeypatch,
                                                                        runs_dir):
    from cnnstudio.training.fit.trainer import Trainer

    def broken_epoch(self, epoch):
        raise RuntimeError("simulated crash in the first batch")

    monkeypatch.setattr(Trainer, "_train_epoch", broken_epoch)
    quick_setup(window)
    with qtbot.waitSignal(window.session.finished, timeout=60_000) as finished:
        window.start_training()
    assert finished.args[1] is not None and window.session.fit_info is not None  # it had started
    assert not list(runs_dir.glob("*/*.pt"))
    for text in (window.status_label.text(), window.training_tab.summary.text()):
        assert "kept" not in text and ("no checkpoint" in text or "before any checkpoint" in text), text
