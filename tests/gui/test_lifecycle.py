"""Lifecycle: closing during training or a dataset load, repeated start/stop, the real main()."""

from __future__ import annotations

import os
import time
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cnnstudio.errors import Cancelled
from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.training.config import TrainConfig


def _native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_closing_during_training_stops_saves_and_closes(window, qtbot, quick_setup, runs_dir):
    quick_setup(window, epochs=50, batch_size=64)
    with qtbot.waitSignal(window.session.progress, timeout=60_000):
        window.start_training()
    with qtbot.waitSignal(window.session.finished, timeout=10_000) as finished:
        assert window.close() is False  # not yet: the worker saves first
        assert window.session.state == "stopping"
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert not window.session.active
    result, error = finished.args
    assert error is None and result.stopped_early
    assert (Path(result.run_dir) / "last.pt").is_file()
    assert window.error_box is None


def test_closing_during_a_dataset_load_cancels_it(window, qtbot, quick_setup, monkeypatch):
    import cnnstudio.data.loaders as loaders

    def slow_download(name, *, progress=None, cancel=None, **kwargs):
        """Stands in for a long download: reports progress until cancelled."""
        for done in range(10_000):
            progress(done, 10_000, f"Downloading {name}… {done} of 10,000 blocks")
            if cancel():
                raise Cancelled(f"download of {name} cancelled")
            time.sleep(0.01)
        raise AssertionError("the load was never cancelled")

    monkeypatch.setattr(loaders, "load_dataset", slow_download)
    quick_setup(window)
    with qtbot.waitSignal(window.session.loading, timeout=10_000):
        window.start_training()
    qtbot.waitUntil(lambda: "Downloading" in window.status_label.text(), timeout=5_000)
    with qtbot.waitSignal(window.session.finished, timeout=5_000) as finished:
        window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert finished.args == [None, None]  # cancelled: neither a result nor an error
    assert window.error_box is None


def _rss_mb() -> float:
    """Resident memory of this process (Linux)."""
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts native threads through /proc")
@pytest.mark.slow
def test_twenty_start_stop_cycles_leave_no_extra_threads(qtbot, runs_dir, state):
    session = TrainingSession(state)
    config = TrainConfig(epochs=50, batch_size=64, device="cpu")

    def cycle() -> None:
        with qtbot.waitSignal(session.progress, timeout=30_000):
            assert session.start(config)
        with qtbot.waitSignal(session.finished, timeout=10_000) as finished:
            session.stop()
        assert finished.args[1] is None and not session.active

    cycle()  # warms torch's and Qt's own thread pools
    baseline, rss_before = _native_threads(), _rss_mb()
    for _ in range(19):
        cycle()
    qtbot.wait(50)
    assert _native_threads() <= baseline + 1
    # mnist-sample and LeNet are a few MB: a leak of one dataset or model per cycle would show.
    assert _rss_mb() - rss_before < 150
    assert len(list(runs_dir.iterdir())) == 20
    assert all((run / "last.pt").is_file() for run in runs_dir.iterdir())


@pytest.mark.slow
def test_main_exits_cleanly_when_closed_during_training(tmp_path):
    script = textwrap.dedent("""
        import os, sys
        from PySide6.QtCore import QSettings, QTimer
        from PySide6.QtWidgets import QApplication
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, sys.argv[1])
        from cnnstudio.gui import app
        from cnnstudio.gui.main_window import MainWindow

        def drive():
            window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
            def start():
                panel = window.setup_panel
                panel.epochs_spin.setValue(50)
                panel.batch_spin.setValue(64)
                panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))
                window.start_training()
                window.session.progress.connect(lambda _stats: window.close())
            window.state.engine_ready.connect(start)

        QTimer.singleShot(0, drive)
        sys.exit(app.main([sys.argv[0]]))
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CNNSTUDIO_RUNS": str(tmp_path / "runs")}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "settings")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "QThread: Destroyed" not in done.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "last.pt").is_file()


def test_closing_during_a_classification_waits_for_it(window, qtbot, tmp_path):
    import numpy as np
    from PIL import Image

    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.gui.state import ModelHandle
    from cnnstudio.models.registry import build_model

    spec = DatasetSpec(name="digits", channels=1, classes=tuple("0123456789"), mean=(0.13,), std=(0.31,),
                       native_size=28)
    model = build_model("lenet5", in_channels=1, num_classes=10).eval()
    window.state.model_handle = ModelHandle(model, spec, 32, 1, source="test")
    paths = []
    for i in range(40):  # enough files that the job is still running when the window closes
        path = tmp_path / f"d{i}.png"
        Image.fromarray((np.random.default_rng(i).random((28, 28)) * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    window.classify_tab.classify_paths(paths)
    assert window.state.computing()
    window.close()
    assert not window.isVisible()
    assert not window.state.computing()  # the close waited for the job instead of abandoning it
