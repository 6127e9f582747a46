"""The history strip of the Kernels and Feature maps tabs: a slider over a run's snapshots,
tied to its loss and accuracy curves.

Moving the slider draws a vertical marker on the two small plots at that moment and tells
`StudioState.history_position` (the other tab's strip and the Training tab follow it);
clicking a plot moves the slider to the nearest snapshot. The strip only shows and reports
positions: its tab draws the frame (`frame_changed`) from what it loaded. "Per-frame
contrast" is the tab's to apply (`contrast_changed`); unticked, every frame shares one scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from cnnstudio.gui.state import StudioState
from cnnstudio.gui.text import plain
from cnnstudio.gui.widgets.epoch_axis import EpochAxis
from cnnstudio.training.records import EpochStats
from cnnstudio.training.store.snapshots import Snapshot

__all__ = ["HistoryStrip", "load_curves"]

PLOT_HEIGHT = 120
_MARKER = "#c0563f"


def load_curves(run_dir: str | Path) -> tuple[EpochStats, ...]:
    """The run's finished epochs (background job; a run that cannot be read has none)."""
    from cnnstudio.errors import CnnStudioError
    from cnnstudio.training.store.runs import open_run

    try:
        return tuple(open_run(run_dir).history())
    except CnnStudioError:
        return ()


class HistoryStrip(QWidget):
    """Slider, moment label, per-frame contrast box, and the run's curves with a marker."""

    frame_changed = Signal(int)  # the snapshot's index
    contrast_changed = Signal(bool)

    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._run_dir: str | None = None
        self._snapshots: tuple[Snapshot, ...] = ()

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.slider.setToolTip("Move through the run's snapshots (←/→ when it has focus)")
        self.slider.valueChanged.connect(self._on_slider_moved)
        self.moment_label = plain(QLabel())
        self.moment_label.setObjectName("hint")
        self.moment_label.setMinimumWidth(260)
        self.contrast_box = QCheckBox("Per-frame contrast")
        self.contrast_box.setToolTip("Scale each frame by its own largest value (more detail). Unticked, every "
                                     "frame shares one scale, so the slider shows real change.")
        self.contrast_box.toggled.connect(self.contrast_changed)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.plots.setFixedHeight(PLOT_HEIGHT)
        self.plots.ci.setContentsMargins(2, 2, 2, 2)
        self._loss = self._plot("loss", 0)
        self._acc = self._plot("accuracy %", 1)
        self._curves = {
            "train_loss": self._loss.plot(pen=pg.mkPen("#2f6690", width=1)),
            "val_loss": self._loss.plot(pen=pg.mkPen("#c0563f", width=1)),
            "train_acc": self._acc.plot(pen=pg.mkPen("#2f6690", width=1)),
            "val_acc": self._acc.plot(pen=pg.mkPen("#c0563f", width=1)),
        }
        self._ticks = self._loss.plot(pen=None, symbol="|", symbolSize=7, symbolPen=pg.mkPen("#7a8b99"))
        self.markers = [plot.addLine(x=0, pen=pg.mkPen(_MARKER, width=1)) for plot in (self._loss, self._acc)]
        self.plots.scene().sigMouseClicked.connect(self._on_plot_clicked)

        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(QLabel("History"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.moment_label)
        row.addWidget(self.contrast_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(row)
        layout.addWidget(self.plots)
        hint = QLabel("Click the curves to jump to the nearest snapshot; train in blue, validation in red.")
        hint.setObjectName("hint")
        layout.addWidget(hint)
        state.history_position_changed.connect(self._on_position_changed)

    def _plot(self, title: str, col: int) -> pg.PlotItem:
        plot = self.plots.addPlot(row=0, col=col, axisItems={"bottom": EpochAxis("bottom")})  # no "1.5" epochs
        plot.setLabel("left", title)
        plot.getAxis("left").enableAutoSIPrefix(False)  # "loss (x0.001)" reads as a different number
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.showGrid(x=True, y=True, alpha=0.15)
        return plot

    # ------------------------------------------------------------------ what it shows
    @property
    def run_dir(self) -> str | None:
        return self._run_dir

    @property
    def index(self) -> int:
        """The snapshot on show (-1 when there is none)."""
        return self.slider.value() if self._snapshots else -1

    @property
    def snapshot(self) -> Snapshot | None:
        return self._snapshots[self.index] if self._snapshots else None

    @property
    def per_frame_contrast(self) -> bool:
        return self.contrast_box.isChecked()

    @property
    def marker_x(self) -> float:
        return float(self.markers[0].value())

    def set_history(self, run_dir: str, snapshots: Sequence[Snapshot], curves: Sequence[EpochStats], *,
                    select: int | None = None) -> None:
        """Show `run_dir`'s snapshots and curves. The slider goes to `select`; without it, a strip
        already at this run's newest snapshot follows a new one (a live run's epoch end), else it stays."""
        same = run_dir == self._run_dir
        at_end = not self._snapshots or self.slider.value() == len(self._snapshots) - 1
        previous = self.snapshot
        self._run_dir, self._snapshots = run_dir, tuple(snapshots)
        shared = self._state.history_position
        if select is None:
            if same and not at_end and previous is not None:
                select = min(range(len(snapshots)), key=lambda i: abs(snapshots[i].x - previous.x))
            elif not same and shared is not None and shared[0] == run_dir and snapshots:
                # Another view of this run already chose a moment (the Kernels tab: best.pt's epoch).
                select = min(range(len(snapshots)), key=lambda i: abs(snapshots[i].x - shared[1]))
            else:
                select = len(snapshots) - 1
        x = np.array([float(s.epoch) for s in curves])
        for key, values in (("train_loss", [s.train_loss for s in curves]), ("val_loss", [s.val_loss for s in curves]),
                            ("train_acc", [100 * s.train_acc for s in curves]),
                            ("val_acc", [100 * s.val_acc for s in curves])):
            self._curves[key].setData(x, np.array(values, dtype=np.float64))
        xs = np.array([s.x for s in snapshots])
        loss_low = min((s.train_loss for s in curves), default=0.0)
        self._ticks.setData(xs, np.full(len(xs), loss_low))  # where the snapshots are
        for plot in (self._loss, self._acc):
            plot.setXRange(0, max(float(xs.max()) if len(xs) else 1.0, float(x.max()) if len(x) else 1.0), padding=0.03)
        with QSignalBlocker(self.slider):
            self.slider.setRange(0, max(len(snapshots) - 1, 0))
            self.slider.setValue(max(select, 0))
        self._on_slider_moved(self.slider.value())

    def seek_x(self, x: float) -> None:
        """Move to the snapshot nearest to `x` on the epoch axis (what a click on the curves does)."""
        if self._snapshots:
            self.slider.setValue(min(range(len(self._snapshots)), key=lambda i: abs(self._snapshots[i].x - x)))

    # ------------------------------------------------------------------ events
    def _on_slider_moved(self, index: int) -> None:
        snap = self.snapshot
        if snap is None:
            self.moment_label.clear()
            return
        for marker in self.markers:
            marker.setValue(snap.x)
        self.moment_label.setText(f"{snap.label}  ·  snapshot {index + 1} of {len(self._snapshots)}")
        assert self._run_dir is not None
        self._state.set_history_position(self._run_dir, snap.x)
        self.frame_changed.emit(index)

    def _on_plot_clicked(self, event: Any) -> None:
        pos = event.scenePos()
        for plot in (self._loss, self._acc):
            if plot.sceneBoundingRect().contains(pos):
                self.seek_x(plot.vb.mapSceneToView(pos).x())
                return

    def _on_position_changed(self) -> None:
        """Another view moved the history of this run: follow it."""
        position = self._state.history_position
        snap = self.snapshot
        if position is None or position[0] != self._run_dir or (snap is not None and snap.x == position[1]):
            return
        self.seek_x(position[1])
