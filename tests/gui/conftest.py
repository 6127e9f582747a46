"""GUI test fixtures: settings kept in a temporary folder, modal dialogs refused."""

from __future__ import annotations

import gc
import sys

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QSettings, QThread
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox


@pytest.fixture(autouse=True)
def temp_settings(tmp_path, monkeypatch, qapp):
    """Keep QSettings (geometry, last choices) inside the test's tmp folder."""
    QCoreApplication.setOrganizationName("cnnstudio-tests")
    QCoreApplication.setApplicationName("cnnstudio-tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(tmp_path / "settings"))
    yield tmp_path / "settings"


# What each static file dialog returns when the user cancels it.
_CANCELLED = {"getExistingDirectory": "", "getOpenFileName": ("", ""), "getOpenFileNames": ([], ""),
              "getSaveFileName": ("", "")}


@pytest.fixture(autouse=True)
def no_modal_dialog(monkeypatch):
    """Answer every real modal dialog "cancelled" at once and fail the test that opened it.

    Offscreen, a modal dialog waits forever for a click no one makes, inside Qt's own event
    loop where pytest-timeout's alarm cannot reach: the whole suite hangs. Tests stub what
    they mean to answer (e.g. `panel.ask_folder`).
    """
    opened: list[str] = []

    def cancelled_static(name):
        def ask(*_args, **_kwargs):
            opened.append(f"QFileDialog.{name}")
            return _CANCELLED[name]
        return staticmethod(ask)

    for name in _CANCELLED:
        monkeypatch.setattr(QFileDialog, name, cancelled_static(name))
    for cls in (QDialog, QMessageBox, QFileDialog):
        monkeypatch.setattr(cls, "exec", lambda self: opened.append(f"{type(self).__name__}.exec") or 0)
    yield opened
    if opened:
        pytest.fail(f"the test opened a modal dialog: {', '.join(opened)}", pytrace=False)


@pytest.fixture(autouse=True)
def main_thread_torch_threads():
    """Give the main thread PyTorch's default count back after each test.

    The app runs PyTorch single-threaded in the GUI thread; tests that come later in the
    same process (engine ones) expect the default.
    """
    yield
    if "torch" in sys.modules:
        from cnnstudio.threads import use_torch_threads

        use_torch_threads()


@pytest.fixture
def state():
    """The tabs' shared state, as the app has it once PyTorch has loaded."""
    from cnnstudio.gui.state import StudioState

    state = StudioState()
    state.mark_torch_ready()  # the app does this once its background import of torch is done
    yield state
    # Every background answer is delivered now, not in a later test's event loop to a widget
    # that no longer exists (pytest-qt has closed the test's widgets just before this).
    assert state.wait_for_background(deliver=True), "a background job was still running"
    # Kept for the session: a test's state deleted by the collector in a later test, while its
    # widgets' deferred deletes and pool jobs are still pending, is a use-after-free in Qt.
    _FINISHED_STATES.append(state)


_FINISHED_STATES: list = []


@pytest.fixture
def window(qtbot, runs_dir):
    """The real main window, shown offscreen, with PyTorch loaded; training stopped afterwards."""
    from cnnstudio.gui.main_window import MainWindow

    win = MainWindow()
    # Not qtbot.addWidget: qtbot would close the window before this fixture could stop a
    # fit that a failing test left running.
    win.show()
    qtbot.waitUntil(lambda: win.state.torch_ready, timeout=60_000)
    yield win
    if win.session.active:
        win.session.stop()
        win.session.wait(30_000)
    win.state.wait_for_background()
    if win.error_box is not None:
        win.error_box.close()
    win.close()
    win.deleteLater()
    qtbot.wait(10)


@pytest.fixture
def quick_setup():
    """A function that sets a window up for LeNet-5 on mnist-sample on the CPU (seconds to train)."""

    def setup(win, *, epochs: int = 1, batch_size: int = 512) -> None:
        panel = win.setup_panel
        panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
        panel.dataset_combo.setCurrentIndex(panel.dataset_combo.findData("mnist-sample"))
        panel.epochs_spin.setValue(epochs)
        panel.batch_spin.setValue(batch_size)
        panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))

    return setup


def _running_qthreads() -> list:
    """QThreads (other than the main thread) whose Python wrappers exist and still run."""

    app = QCoreApplication.instance()
    main = app.thread() if app is not None else None
    running = []
    for obj in gc.get_objects():
        # type() rather than isinstance(): some lazy modules warn when __class__ is read.
        if issubclass(type(obj), QThread) and shiboken6.isValid(obj) and obj is not main:
            if obj.isRunning():
                running.append(obj)
    return running


@pytest.fixture(autouse=True)
def no_running_qthread():
    """Fail a test that leaves a QThread running (then stop it so others are not hurt)."""
    yield
    leftovers = _running_qthreads()
    if leftovers:
        for thread in leftovers:
            thread.quit()
            thread.wait(5000)
        pytest.fail(f"test left {len(leftovers)} QThread(s) running", pytrace=False)
