"""The Find LR dialog: the LR range test of the form's training, run in the background, its
curve on a log-scaled LR axis with the suggestion marked, and a button that takes it.

The test is the engine's (`training.fit.lr_find.find_lr`), run as a cancellable background
job of `StudioState` — never in the GUI thread. Closing the dialog cancels it.
"""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from cnnstudio.errors import Cancelled, describe
from cnnstudio.gui.state import Job, StudioState
from cnnstudio.gui.text import plain
from cnnstudio.training.config import TrainConfig

__all__ = ["LRFinderDialog", "rounded_lr"]

STEPS = 100  # the range test's steps at most (fastai's default)


def rounded_lr(lr: float) -> float:
    """The suggestion as a person would type it: two significant digits (0.04531 → 0.045)."""
    return float(f"{lr:.2g}")


def _find_lr(config: TrainConfig, *, progress: Any, cancel: Any) -> Any:
    """Background job: load the form's data (no download) and run the range test on it."""
    from cnnstudio.training.fit.lr_find import find_lr
    from cnnstudio.training.fit.training_data import load_training_data

    bundle = load_training_data(config, download=False, cancel=cancel)
    return find_lr(config, bundle, steps=STEPS, progress=progress, cancel=cancel)


class LRFinderDialog(QDialog):
    """Runs the range test of `config` when shown; `lr_taken(lr)` when the user takes the suggestion."""

    lr_taken = Signal(float)

    def __init__(self, state: StudioState, config: TrainConfig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find a learning rate")
        self._state = state
        self._config = config
        self._job: Job | None = None
        self.result: Any = None
        layout = QVBoxLayout(self)
        intro = plain(QLabel(
            f"The LR range test (Smith; fastai's lr_find): up to {STEPS} training steps of {config.arch} on "
            f"{config.dataset}, the learning rate growing from 1e-7 to 10, until the loss diverges. The model is "
            "a fresh one: nothing of a run changes."))
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumSize(460, 280)
        item = self.plot.getPlotItem()
        item.setLogMode(x=True, y=False)
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setLabel("bottom", "learning rate (log scale)")
        item.setLabel("left", "training loss")
        item.addLegend(offset=(-10, 10))
        self.raw_curve = item.plot([], [], pen=pg.mkPen("#bbbbbb", width=1), name="loss")
        self.curve = item.plot([], [], pen=pg.mkPen("#1f77b4", width=2), name="smoothed")
        self.marker = item.plot([], [], pen=None, symbol="o", symbolSize=10, symbolBrush=None,
                                symbolPen=pg.mkPen("#d62728", width=2), name="suggested")
        self.suggestion_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", width=1))
        self.suggestion_line.hide()
        item.addItem(self.suggestion_line)
        layout.addWidget(self.plot)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        layout.addWidget(self.progress_bar)
        self.status_label = plain(QLabel("Loading the data…"))
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.take_button = QPushButton("Use the suggestion")
        self.take_button.setEnabled(False)
        self.take_button.setDefault(True)
        self.close_button = QPushButton("Cancel")
        buttons.addWidget(self.take_button)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)
        self.take_button.clicked.connect(self._take)
        self.close_button.clicked.connect(self.reject)

    def start(self) -> None:
        """Start the test in the background (the form calls it once the dialog is shown)."""
        self._job = self._state.run_in_background(_find_lr, self._config, on_done=self._on_done,
                                                  on_error=self._on_failed, on_progress=self._on_progress,
                                                  key=f"lr-find-{id(self)}")

    @property
    def running(self) -> bool:
        return self._job is not None

    def _on_progress(self, done: int, total: int) -> None:
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)
        self.status_label.setText(f"Step {done} of at most {total}…")

    def _on_done(self, result: Any) -> None:
        self._job = None
        self.result = result
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        self.close_button.setText("Close")
        finite = [(lr, raw, smooth) for lr, raw, smooth in zip(result.lrs, result.raw_losses, result.losses)
                  if math.isfinite(raw) and math.isfinite(smooth)]
        self.raw_curve.setData([p[0] for p in finite], [p[1] for p in finite])
        self.curve.setData([p[0] for p in finite], [p[2] for p in finite])
        if finite:  # the divergence's last losses would squash the curve: the view stops at 4× the best
            low = min(min(p[1] for p in finite), min(p[2] for p in finite))
            top = max(max(p[2] for p in finite), min(max(p[1] for p in finite), 4 * min(p[2] for p in finite)))
            self.plot.getPlotItem().setYRange(low, top, padding=0.05)
        lr = result.suggested_lr
        if lr is None:
            self.status_label.setText(result.sentence)
            return
        index = min(range(len(result.lrs)), key=lambda i: abs(result.lrs[i] - lr))
        self.marker.setData([lr], [result.losses[index]])
        self.suggestion_line.setValue(math.log10(lr))  # the plot's x is log10(LR)
        self.suggestion_line.show()
        self.status_label.setText(f"{result.sentence}.")
        self.take_button.setText(f"Use {rounded_lr(lr):g}")
        self.take_button.setToolTip(f"Set the form's learning rate to {rounded_lr(lr):g} (the steepest descent "
                                    f"of the smoothed loss, {lr:.3g}, to two digits)")
        self.take_button.setEnabled(True)

    def _on_failed(self, exc: BaseException) -> None:
        self._job = None
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.close_button.setText("Close")
        self.status_label.setText("Cancelled." if isinstance(exc, Cancelled) else f"The test failed: {describe(exc)}")

    def _take(self) -> None:
        if self.result is None or self.result.suggested_lr is None:
            return
        self.lr_taken.emit(rounded_lr(self.result.suggested_lr))
        self.accept()

    def done(self, code: int) -> None:  # noqa: D102 - every way of closing (Cancel, Esc, the title bar) ends the job
        if self._job is not None:
            self._job.cancel()
            self._job = None
        super().done(code)
