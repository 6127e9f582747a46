"""(e) Launches the real app in this process and reports when its window first paints.

Run by `run.py` as a fresh interpreter (`python launch_probe.py EPOCHS DEVICE`), so the
measured time includes the interpreter's start, every import and the window's build. It
prints one JSON line per event on stdout:

- `{"event": "first_paint", "time": <time.time()>}` at the first paint event of any widget
  of the main window;
- `{"event": "engine_ready", "time": ...}` when PyTorch has finished importing;
- `{"event": "trained", "peak_rss_mb": ..., "rss_before_mb": ...}` after the window has
  trained LeNet-5 on mnist-sample for EPOCHS epochs through its Start button.

The parent sets QT_QPA_PLATFORM=offscreen and points settings and runs at a temporary folder.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication


def emit(event: str, **values: Any) -> None:
    """One JSON line for the parent."""
    print(json.dumps({"event": event, "time": time.time(), **values}), flush=True)


def _rss_mb() -> float:
    """This process's resident memory now (Linux /proc), in MB."""
    with open("/proc/self/statm", encoding="ascii") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 1e6


class FirstPaint(QObject):
    """An application-wide event filter that notices the main window's first paint, then drives a fit."""

    def __init__(self, app: QApplication, epochs: int, device: str) -> None:
        super().__init__()
        self.app, self.epochs, self.device = app, epochs, device
        self.window: Any = None
        self.rss_before = 0.0

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint and obj.isWidgetType() and type(obj.window()).__name__ == "MainWindow":
            emit("first_paint")
            self.app.removeEventFilter(self)
            self.window = obj.window()
            if self.window.state.torch_ready:
                QTimer.singleShot(0, self.on_engine_ready)
            else:
                self.window.state.engine_ready.connect(self.on_engine_ready)
        return False

    def on_engine_ready(self) -> None:
        from cnnstudio.training.config import TrainConfig

        emit("engine_ready")
        window = self.window
        window.setup_panel.apply_config(TrainConfig(arch="lenet5", dataset="mnist-sample", input_size=32,
                                                    epochs=self.epochs, batch_size=128, device=self.device))
        window.session.finished.connect(self.on_finished)
        self.rss_before = _rss_mb()
        window.start_training()
        if not window.session.active:
            emit("error", message=f"training did not start: {window.status_label.text()}")
            self.app.exit(1)

    def on_finished(self, result: Any, error: Any) -> None:
        # ru_maxrss is the process's peak resident set in KiB on Linux: training is its heaviest phase.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
        if error is not None:
            emit("error", message=repr(error))
        emit("trained", peak_rss_mb=peak, rss_before_mb=self.rss_before, rss_after_mb=_rss_mb(),
             epochs=getattr(result, "epochs_done", None))
        self.window.close()


def main() -> int:
    """Launch the app exactly as `cnnstudio` does, with the first-paint filter installed first."""
    epochs, device = int(sys.argv[1]), sys.argv[2]
    # gui.app.main() sets this too, but it must precede the QApplication made here.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication([sys.argv[0]])  # main() reuses this instance
    watcher = FirstPaint(app, epochs, device)
    app.installEventFilter(watcher)
    from cnnstudio.gui.app import main as app_main

    return app_main([sys.argv[0]])


if __name__ == "__main__":
    sys.exit(main())
