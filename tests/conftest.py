"""Suite-wide test setup: headless Qt, and no test may leave a QThread running."""

from __future__ import annotations

import gc
import os
import sys

import pytest

# Before anything imports Qt: every GUI test runs without a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _running_qthreads() -> list:
    """QThreads (other than the main thread) whose Python wrappers exist and still run."""
    if "PySide6.QtCore" not in sys.modules:
        return []  # Qt was never imported, so no QThread can exist
    import shiboken6
    from PySide6.QtCore import QCoreApplication, QThread

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
