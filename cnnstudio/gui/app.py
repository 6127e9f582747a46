"""Starting the desktop app: `main()` paints the window first, then loads PyTorch.

`import torch, torchvision` takes seconds, so nothing imported here needs them: the
window is built from the engine's torch-free catalogs, shown and painted, and only then
does the main window import the engine on a background thread ("Loading PyTorch…").
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from cnnstudio import __version__

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app until its window closes; returns the process exit code."""
    argv = list(sys.argv if argv is None else argv)
    # Fractional scale factors (125 %, 150 %) render crisply instead of rounding.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    QCoreApplication.setOrganizationName("cnnstudio")
    QCoreApplication.setApplicationName("cnnstudio")
    QCoreApplication.setApplicationVersion(__version__)
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationDisplayName("cnnstudio")

    from cnnstudio.gui.main_window import MainWindow
    from cnnstudio.gui.style import apply_style, icon

    apply_style(app)
    app.setWindowIcon(icon("app"))
    window = MainWindow()
    # Any exit path that skips closeEvent still stops training and waits for it.
    app.aboutToQuit.connect(window.shutdown)
    window.show()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
