"""The Training tab: progress figures and live loss / accuracy / learning-rate plots.

It is a view of the `TrainingSession`: it listens to the session's signals and asks it
nothing but what its records say. Those signals only append to numpy buffers; a 5 Hz timer refreshes the
progress figures and, every other tick and only while the tab is visible, pushes
the buffers that changed into curves created once (`setData`). The GUI thread competes
with torch for the same cores, so repaints are kept rare: each plot's x range is fixed to
the fit's epochs and the y ranges only move when the data leaves them (a changed range
makes pyqtgraph regenerate and repaint the axis and its grid, the bulk of a frame's cost).
The accuracy plot follows its data too (curves between 96 and 98 % must not sit on one
line), unless its "0–100 %" box asks for the whole scale; the learning rate's log axis
spans whole decades and names only them ("1e-3"), so its range moves only when the rate
crosses a decade.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (QCheckBox, QFrame, QGraphicsItem, QGridLayout, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from cnnstudio.gui.format import format_duration, format_lr, format_percent, format_rate
from cnnstudio.gui.training.session import FitRequest, TrainingSession
from cnnstudio.gui.state import StudioState
from cnnstudio.gui.text import escape, plain
from cnnstudio.gui.widgets.epoch_axis import EpochAxis
from cnnstudio.training.records import BatchStats, EpochStats, FitResult, FitStart

__all__ = ["SeriesBuffer", "TrainingTab"]

REDRAW_INTERVAL_MS = 200  # progress figures: 5 refreshes a second, whatever the batch rate
# Curves: pushed on every 2nd refresh (2.5 a second). Each push repaints the four plots,
# a few ms of the GUI thread taken from torch's two threads on a 2-core machine (issue 4's
# (a)); pushing every 4th refresh saved 0.5 % of a core, too little to measure in throughput.
CURVE_EVERY = 2
# The dotted line: the moment of the run's history that the Kernels and Feature maps tabs show.
HISTORY_MARKER_LABEL = "shown in Kernels · epoch {value:.3g}"
HISTORY_MARKER_TIP = ("The moment of this run's history that the Kernels and Feature maps tabs show: move their "
                      "history slider and this line follows (0 = the initial weights, 3 = the end of epoch 3)")
# Epoch curves, whose markers make them the dearest to push, at most once a second: with
# mnist-sample's quarter-second epochs they were 40 % of the GUI thread's time.
EPOCH_CURVE_INTERVAL_S = 1.0
EPOCH_SERIES = frozenset({"train_loss", "val_loss", "train_acc", "val_acc", "val_top5"})
Y_MARGIN = 0.1  # headroom added (as a share of the span) when a y range has to grow
FLOOR_MARGIN = 0.04  # below a loss's 0: room for the "0" tick label, which pyqtgraph drops at the edge
EMA_ALPHA = 0.15  # smoothing of the batch loss (each point is already a mean of a few batches)
ACC_MIN_SPAN = 2.0  # percentage points: a flat accuracy is drawn in a readable range, not ±0.0001
DECADE_MARGIN = 0.05  # beyond the learning rate's whole decades (share of the span): room for their labels
EMPTY_LR_DECADES = (-4, -1)  # the learning-rate plot before any rate: 1e-4 … 1e-1

_COLOURS = {
    "raw": "#b7c4d1",
    "smooth": "#2f6690",
    "aux1": "#d08c3a",
    "aux2": "#9a6fb0",
    "train": "#2f6690",
    "val": "#c0563f",
    "top5": "#5aa184",
    "lr": "#4a5a6a",
}
# Overlaid runs (the seed's ablations, compared on their curves): one colour per run.
_OVERLAY_COLOURS = ("#7a8b99", "#b08a3a", "#6f5aa8", "#3f8f7a", "#a8526f", "#5a6f3a")


class SeriesBuffer:
    """An (x, y) history in preallocated numpy arrays that grow by doubling."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0
        self.dirty = False
        self.low = math.inf  # finite y extremes so far: the plots' y ranges without a scan
        self.high = -math.inf

    def __len__(self) -> int:
        return self._n

    def append(self, x: float, y: float) -> None:
        """Add one point (NaN y values are kept: they break the line, as they should)."""
        if self._n == len(self._x):
            self._x = np.concatenate([self._x, np.empty_like(self._x)])
            self._y = np.concatenate([self._y, np.empty_like(self._y)])
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1
        self.dirty = True
        if math.isfinite(y):
            self.low, self.high = min(self.low, y), max(self.high, y)

    def clear(self) -> None:
        """Forget every point."""
        self._n = 0
        self.dirty = True
        self.low, self.high = math.inf, -math.inf

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """Views of the points so far (valid until the next append)."""
        return self._x[: self._n], self._y[: self._n]


class _Stat(QWidget):
    """One figure of the progress header: a small name over a value."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        title = QLabel(name)
        title.setObjectName("statName")
        self.value = plain(QLabel("–"))
        self.value.setObjectName("statValue")
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(title)
        layout.addWidget(self.value)
        self._width = 0

    def set(self, text: str) -> None:
        """Show `text` (skipping the repaint when it is unchanged).

        The value label has a fixed size that only ever grows: a label whose size may change
        makes every new text re-run the window's layouts and repaint the whole window (5
        times a second while training, most of the GUI thread's time).
        """
        if self.value.text() == text:
            return
        if not self._width:
            self.value.ensurePolished()  # the style sheet's font, before measuring
            self.value.setFixedHeight(self.value.sizeHint().height())
        metrics = self.value.fontMetrics()
        needed = metrics.horizontalAdvance(text)
        if needed > self._width:
            self._width = needed + metrics.horizontalAdvance("00")  # room to grow a little before the next relayout
            self.value.setFixedWidth(self._width)
        self.value.setText(text)


class _SummaryLine(QWidget):
    """The word-wrapped line under the progress bar, in a box at least two lines high that only grows.

    A label in a layout asks the whole window for a relayout at every new text (the window
    then re-runs its layouts and repaints everything, at every epoch end), and a summary
    going from two lines to one would resize the plots and re-render their eight axes. Here
    the label is placed by hand at a fixed size, so a new text repaints the label alone;
    the box grows (one relayout) only for a text that needs more lines.
    """

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = plain(QLabel(text, self))  # run folders, architecture and dataset names
        self.label.setObjectName("hint")
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.label.ensurePolished()  # the style sheet's font, before measuring
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(2 * self.label.fontMetrics().lineSpacing())

    def text(self) -> str:
        return self.label.text()

    def setText(self, text: str) -> None:  # noqa: N802 - QLabel's name, for its callers
        self.label.setText(text)
        self._grow_to_fit()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.label.setFixedSize(self.size())
        self._grow_to_fit()

    def _grow_to_fit(self) -> None:
        needed = self.label.heightForWidth(self.width())
        if needed > self.height():
            self.setFixedHeight(needed)


class _DecadeAxis(pg.AxisItem):
    """A log axis labelled at whole decades only ("1e-3", "1e-2"), with unlabelled ticks at 2…9
    between them where there is room.

    pyqtgraph's own log axis labels the 2…9 ticks with bare digits ("2", "3" … "9", no
    exponent) that overlap near each decade's top.
    """

    MIN_LABEL_GAP_PX = 28  # between two labelled decades (a label is ~12 px high)
    MIN_MINOR_DECADE_PX = 60  # a decade this tall or more also gets its 2…9 ticks

    def logTickValues(self, minVal: float, maxVal: float, size: float,  # noqa: N802, N803 - pyqtgraph override
                      stdTicks: list) -> list:  # noqa: N803
        low, high = sorted((minVal, maxVal))
        per_decade = size / max(high - low, 1e-9)
        step = max(1, math.ceil(self.MIN_LABEL_GAP_PX / per_decade))
        decades = [float(d) for d in range(math.ceil(low), math.floor(high) + 1) if d % step == 0]
        levels: list[tuple[float | None, list[float]]] = [(float(step), decades)]
        if step == 1 and per_decade >= self.MIN_MINOR_DECADE_PX:
            minor = [d + math.log10(m) for d in range(math.floor(low), math.ceil(high)) for m in range(2, 10)]
            levels.append((None, [v for v in minor if low < v < high]))
        return levels

    def logTickStrings(self, values: list[float], scale: float, spacing: float | None) -> list[str]:  # noqa: N802
        if spacing is None:  # the 2…9 ticks: lines only
            return []
        return [decade_label(round(v)) for v in values]


def decade_label(exponent: int) -> str:
    """How a power of ten is named on a log axis: ``-3 -> "1e-3"``, ``0 -> "1"``."""
    return "1" if exponent == 0 else f"1e{exponent}"


def _decade_range(low: float, high: float) -> tuple[float, float]:
    """The whole decades (log10 units) around `low`…`high`, with a margin for the edge labels
    (pyqtgraph hides a label that would stick out of the axis)."""
    bottom, top = math.floor(low), math.ceil(high)
    if bottom == top:  # a constant rate that is a power of ten: in the middle of two decades
        bottom, top = bottom - 1, top + 1
    margin = DECADE_MARGIN * (top - bottom)
    return bottom - margin, top + margin


class TrainingTab(QWidget):
    """Progress, live curves and the last epoch's figures of the running (or last) fit."""

    def __init__(self, state: StudioState, session: TrainingSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._session = session
        self._series: dict[str, SeriesBuffer] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._ema: float | None = None
        self._epochs = 0
        self._start_epoch = 0
        self._epoch_seconds: list[float] = []
        self._latest_batch: BatchStats | None = None
        self._figures_final = False  # the fit is over: the progress figures keep their last values
        self._started_at = 0.0  # when the running fit started (monotonic s)
        self._epoch_pushed_at = -math.inf  # when the epoch curves were last pushed (monotonic s)
        self.overlays: dict[str, list[pg.PlotDataItem]] = {}
        self._resume_overlay: str | None = None  # the resumed fit's own past epochs: its, not the next fit's
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._on_tick)
        self._ticks = 0
        session.preparing.connect(self._on_preparing)
        session.loading.connect(self.show_loading)
        session.started.connect(self.on_started)
        session.progress.connect(self.on_progress)
        session.epoch_finished.connect(self.on_epoch)
        session.finished.connect(self._on_session_finished)
        state.history_position_changed.connect(self._on_history_position)

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)

        header = QFrame()
        grid = QGridLayout(header)
        grid.setContentsMargins(4, 0, 4, 0)
        grid.setHorizontalSpacing(24)
        self.stats = {
            name: _Stat(title)
            for name, title in (("epoch", "Epoch"), ("batch", "Batch"), ("speed", "Speed"),
                                ("elapsed", "Elapsed"), ("eta", "Remaining"), ("best", "Best val top-1"))
        }
        for column, stat in enumerate(self.stats.values()):
            grid.addWidget(stat, 0, column)
        grid.setColumnStretch(len(self.stats), 1)
        layout.addWidget(header)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        layout.addWidget(self.progress)

        self.summary = _SummaryLine("Pick an architecture and a dataset on the left, then press Start (Ctrl+Return).")
        layout.addWidget(self.summary)

        overlay_row = QHBoxLayout()
        self.overlay_hint = plain(QLabel())  # run names
        self.overlay_hint.setObjectName("hint")
        self.clear_overlays_button = QPushButton("Clear overlays")
        self.clear_overlays_button.clicked.connect(self.clear_overlays)
        overlay_row.addWidget(self.overlay_hint)
        overlay_row.addWidget(self.clear_overlays_button)
        overlay_row.addStretch(1)
        self.full_accuracy_box = QCheckBox("0–100 %")
        self.full_accuracy_box.setToolTip("Show the accuracy plot's whole scale; unticked, it follows the curves")
        overlay_row.addWidget(self.full_accuracy_box)
        self.overlay_hint.setVisible(False)
        self.clear_overlays_button.setVisible(False)
        layout.addLayout(overlay_row)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.plots.ci.setContentsMargins(4, 4, 4, 4)
        batch = self._plot("Loss per batch", "loss", row=0, col=0)
        epoch = self._plot("Loss per epoch", "loss", row=0, col=1)
        # Accuracies climb to the top of their plot: their legend sits at the bottom.
        acc = self._plot("Accuracy", "%", row=1, col=0, legend_at_bottom=True)
        lr = self._plot("Learning rate", "", row=1, col=1, left_axis=_DecadeAxis("left"))
        acc.setYRange(0, 100, padding=FLOOR_MARGIN)  # until the first epoch
        lr.setLogMode(x=False, y=True)
        lr.setYRange(*_decade_range(*EMPTY_LR_DECADES), padding=0)
        self._curve(batch, "batch_loss", "raw", "batch loss", width=1)
        self._curve(batch, "batch_loss_smooth", "smooth", "smoothed", width=2)
        # GoogLeNet's auxiliary losses join the legend only when a fit reports them.
        self._curve(batch, "aux1_loss", "aux1", None, width=1)
        self._curve(batch, "aux2_loss", "aux2", None, width=1)
        self._batch_legend = batch.legend
        self._curve(epoch, "train_loss", "train", "train", symbol=True)
        self._curve(epoch, "val_loss", "val", "validation", symbol=True)
        self._curve(acc, "train_acc", "train", "train top-1", symbol=True)
        self._curve(acc, "val_acc", "val", "val top-1", symbol=True)
        self._curve(acc, "val_top5", "top5", "val top-5", symbol=True)
        self._curve(lr, "lr", "lr", "learning rate", width=1)
        self._epoch_plot, self._acc_plot = epoch, acc
        self._batch_plot, self._lr_plot = batch, lr
        # The moment the Kernels / Feature maps history slider shows, when it is this fit's run.
        self.history_markers = [plot.addLine(x=0, pen=pg.mkPen("#c0563f", width=1, style=Qt.PenStyle.DotLine),
                                             label=HISTORY_MARKER_LABEL,
                                             labelOpts=dict(position=0.92, color="#c0563f", anchors=[(0, 1), (0, 1)]))
                                for plot in (batch, epoch, acc)]
        for marker in self.history_markers:
            marker.setVisible(False)
            # Said where it is drawn: the line is otherwise a mystery on every plot.
            marker.setToolTip(HISTORY_MARKER_TIP)
        # y ranges set by `_follow_y`: auto-range would move them with every new point, and
        # each move re-renders the axis (~5 ms of the GUI thread). Losses keep 0 as their
        # floor, so a falling loss moves its range only when it halves.
        self._y_followed: dict[pg.PlotItem, tuple[tuple[str, ...], float | None]] = {
            batch: (("batch_loss", "batch_loss_smooth", "aux1_loss", "aux2_loss"), 0.0),
            epoch: (("train_loss", "val_loss"), 0.0),
            acc: (("train_acc", "val_acc", "val_top5"), None),
            lr: (("lr",), None),
        }
        self._acc_followed = self._y_followed[acc]
        for plot in self._y_followed:
            plot.enableAutoRange(y=False)
        self._y_fitted: set[pg.PlotItem] = set()  # followed plots whose range this fit has set
        self.full_accuracy_box.toggled.connect(self._on_full_accuracy_changed)
        layout.addWidget(self.plots, 1)

    def _plot(self, title: str, unit: str, *, row: int, col: int, legend_at_bottom: bool = False,
              left_axis: pg.AxisItem | None = None) -> pg.PlotItem:
        axes: dict[str, pg.AxisItem] = {"bottom": EpochAxis("bottom")}
        if left_axis is not None:
            axes["left"] = left_axis
        plot = self.plots.addPlot(row=row, col=col, title=title, axisItems=axes)
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.setLabel("bottom", "epoch")
        for side in ("bottom", "left"):
            plot.getAxis(side).enableAutoSIPrefix(False)  # "epoch (x0.001)" reads as a bug
        if unit:
            plot.setLabel("left", unit)
        # Long histories stay cheap: draw only what is visible, peaks kept when thinned.
        plot.setDownsampling(auto=True, mode="peak")
        plot.setClipToView(True)
        plot.setMenuEnabled(False)
        legend = plot.addLegend(offset=(-8, -8 if legend_at_bottom else 8), labelTextSize="8pt")
        # Axes (with their grid lines, which span the plot) and legends change rarely, but
        # every curve update repainted them: replaying an axis cost ~2 ms a frame, most of
        # the GUI thread's time while training. Cached, they are re-rendered only when
        # their range or entries change.
        for item in (plot.getAxis("bottom"), plot.getAxis("left"), legend):
            item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # Ranges follow the data, so a curve may pass under a legend: it stays readable.
        legend.setBrush(pg.mkBrush(255, 255, 255, 210))
        return plot

    def _curve(self, plot: pg.PlotItem, key: str, colour: str, name: str | None, *, width: int = 1,
               symbol: bool = False) -> None:
        pen = pg.mkPen(_COLOURS[colour], width=width)
        kwargs: dict[str, Any] = {"pen": pen, "name": name, "antialias": False}
        if symbol:
            kwargs.update(symbol="o", symbolSize=5, symbolPen=pen, symbolBrush=_COLOURS[colour])
        curve = self.curves[key] = plot.plot([], [], **kwargs)
        if symbol:
            # The legend draws a marker from the curve's scatter, which takes the symbol options
            # only with its first points: until then (and as long as nothing repaints that corner)
            # the first fit's legend showed pyqtgraph's grey-purple defaults.
            curve.scatter.setPen(pen)
            curve.scatter.setBrush(_COLOURS[colour])
            curve.scatter.setSize(5)
        self._series[key] = SeriesBuffer(64 if symbol else 1024)

    # ------------------------------------------------------------------ feeding
    def reset(self) -> None:
        """Clear the curves and figures for a new fit."""
        for series in self._series.values():
            series.clear()
        self._y_fitted.clear()  # the first points of the next fit set each y range afresh
        self._show_aux_legend(False)
        self._ema = None
        self._epoch_seconds = []
        self._latest_batch = None
        for stat in self.stats.values():
            stat.set("–")
        self.progress.setValue(0)
        self.redraw()
        self._epoch_pushed_at = -math.inf  # the new fit's first epoch is drawn as soon as it ends

    def _on_preparing(self, request: FitRequest) -> None:
        """A fit was asked for: clear the last one's curves; a resumed run's past epochs are
        drawn beside the new ones."""
        self.reset()
        if self._resume_overlay is not None:  # an earlier resumed fit's past: not this fit's
            self.remove_overlay(self._resume_overlay)
            self._resume_overlay = None
            self._show_overlay_hint()
        if request.resume and request.history:
            self._resume_overlay = f"{request.label} (before resume)"
            self.add_overlay(self._resume_overlay, request.history)

    def on_started(self, info: FitStart) -> None:
        """A fit started: reset and start the redraw timer."""
        self.reset()
        self._epochs = int(info.epochs)
        self._start_epoch = int(info.start_epoch)
        self._figures_final = False
        self.summary.setText(
            f"Training {info.arch} at {info.input_size}×{info.input_size} on {self._session.device_label or info.device} "
            f"({info.precision}) · {info.num_params:,} parameters · batch {info.batch_size} · "
            f"run folder {info.run_dir}"
        )
        self.stats["epoch"].set(f"{self._start_epoch + 1} / {self._epochs}")
        self._fix_x_range()
        # Loading is over: the busy bar's animation (60 repaints a second) must not run into training.
        self.progress.setRange(0, 1000)
        self._started_at = time.monotonic()
        self._timer.start()

    def on_progress(self, bundle: tuple[BatchStats, ...]) -> None:
        """Batch progress (`BatchStats`, in bundles from the worker): buffer it; the timer draws it."""
        for stats in bundle:
            self._add_batch(stats)

    def _add_batch(self, stats: BatchStats) -> None:
        x = (stats.epoch - 1) + stats.batch / max(stats.num_batches, 1)
        self._series["batch_loss"].append(x, stats.loss)
        if math.isfinite(stats.loss):
            self._ema = stats.loss if self._ema is None else self._ema + EMA_ALPHA * (stats.loss - self._ema)
        self._series["batch_loss_smooth"].append(x, self._ema if self._ema is not None else math.nan)
        if stats.aux_losses:
            if not self._series["aux1_loss"]:
                self._show_aux_legend(True)
            self._series["aux1_loss"].append(x, stats.aux_losses[0])
            if len(stats.aux_losses) > 1:
                self._series["aux2_loss"].append(x, stats.aux_losses[1])
        if stats.lr > 0:
            self._series["lr"].append(x, stats.lr)
        self._latest_batch = stats

    def _show_aux_legend(self, show: bool) -> None:
        for key, label in (("aux1_loss", "aux 1 (GoogLeNet)"), ("aux2_loss", "aux 2 (GoogLeNet)")):
            self._batch_legend.removeItem(self.curves[key])
            if show:
                self._batch_legend.addItem(self.curves[key], label)

    def on_epoch(self, stats: EpochStats) -> None:
        """A finished epoch (`EpochStats`): epoch curves and the summary line."""
        x = float(stats.epoch)
        self._series["train_loss"].append(x, stats.train_loss)
        self._series["val_loss"].append(x, stats.val_loss)
        self._series["train_acc"].append(x, 100 * stats.train_acc)
        self._series["val_acc"].append(x, 100 * stats.val_acc)
        self._series["val_top5"].append(x, 100 * stats.val_top5 if stats.val_top5 is not None else math.nan)
        self._epoch_seconds.append(float(stats.seconds))
        best = max(self._series["val_acc"].data()[1], default=math.nan) / 100
        self.stats["best"].set(format_percent(best))
        top5 = f" · val top-5 {format_percent(stats.val_top5)}" if stats.val_top5 is not None else ""
        aux = (" · aux losses " + " / ".join(f"{loss:.3f}" for loss in stats.aux_losses)) if stats.aux_losses else ""
        self.summary.setText(
            f"Epoch {stats.epoch}: train loss {stats.train_loss:.3f}, top-1 {format_percent(stats.train_acc)} · "
            f"val loss {stats.val_loss:.3f}, top-1 {format_percent(stats.val_acc)}{top5}{aux} · "
            f"lr {format_lr(stats.lr)} · {format_duration(stats.seconds)}" + ("  ★ best so far" if stats.is_best else "")
        )

    def _on_history_position(self) -> None:
        """Mark the history slider's moment on the curves when its run is the fit plotted here."""
        position, info = self._state.history_position, self._session.fit_info
        shown = position is not None and info is not None and Path(position[0]) == Path(info.run_dir)
        for marker in self.history_markers:
            marker.setVisible(shown)
            if shown:
                marker.setValue(position[1])

    def _on_session_finished(self, result: FitResult | None, error: BaseException | None) -> None:
        self.on_finished(result, failed=error is not None)

    def on_finished(self, result: FitResult | None, *, failed: bool = False) -> None:
        """The fit ended (None after an error or a cancelled load): final redraw, timer off."""
        self._timer.stop()
        self.progress.setRange(0, 1000)  # a failed download must not leave the busy bar animating
        self.redraw()
        self._figures_final = True  # shown again later, the tab must not recompute "Remaining"
        if result is not None and not failed:
            done = "Finished" if not result.stopped_early else result.reason.capitalize()
            epochs = f"{result.epochs_done} epoch{'s' if result.epochs_done != 1 else ''}"
            if result.best_val_acc is not None:
                self.summary.setText(f"{done} after {epochs} · best val top-1 "
                                     f"{format_percent(result.best_val_acc)} · saved in {result.run_dir}")
            else:  # stopped in the first epoch: no validation yet, but last.pt holds the weights
                self.summary.setText(f"{done} before the first epoch ended · the weights so far are in "
                                     f"{Path(result.run_dir) / 'last.pt'}")
            self.stats["eta"].set("0:00" if not result.stopped_early else "–")
        elif failed:
            self.summary.setText(self._session.failure_summary())
        else:
            self.summary.setText("Stopped before training began.")

    def show_loading(self, done: int, total: int, message: str) -> None:
        """Dataset download/scan progress before the fit starts."""
        self.summary.setText(message or "Loading the dataset…")
        if total > 0:
            if self.progress.maximum() != 1000:  # after an unknown total ("connecting…"), a known one
                self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
        else:
            self.progress.setRange(0, 0)  # busy indicator for an unknown total

    # ------------------------------------------------------------------ drawing
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self.redraw()  # curves are not pushed while hidden

    def _on_tick(self) -> None:
        self._ticks += 1
        self.redraw(curves=self._ticks % CURVE_EVERY == 0, throttled=True)

    def redraw(self, *, curves: bool = True, throttled: bool = False) -> None:
        """Refresh the progress figures and, with `curves` and only while the tab is visible,
        push the changed buffers into their curves (`throttled`: the epoch curves only if
        `EPOCH_CURVE_INTERVAL_S` has passed since their last push)."""
        if curves and self.isVisible():
            due = time.monotonic() - self._epoch_pushed_at >= EPOCH_CURVE_INTERVAL_S
            self._push_curves(epoch_curves=due or not throttled)
        self._update_figures()

    def _push_curves(self, *, epoch_curves: bool) -> None:
        pushed = False
        for key, series in self._series.items():
            if series.dirty and (epoch_curves or key not in EPOCH_SERIES):
                x, y = series.data()
                if key in EPOCH_SERIES:  # drawn with symbols: a run without validation has NaN there
                    finite = np.isfinite(y)
                    x, y = x[finite], y[finite]
                self.curves[key].setData(x, y)
                series.dirty = False
                pushed = True
                if key in EPOCH_SERIES:
                    self._epoch_pushed_at = time.monotonic()
        if pushed:
            self._follow_all_y()

    def _follow_all_y(self) -> None:
        for plot, (keys, floor) in self._y_followed.items():
            self._follow_y(plot, keys, floor)

    def _follow_y(self, plot: pg.PlotItem, keys: tuple[str, ...], floor: float | None) -> None:
        """Grow (or, when the data fills under half of it, shrink) a y range to the data, with
        headroom; with a `floor`, the range starts there (a loss's 0) and follows only its top."""
        low = min(self._series[k].low for k in keys)
        high = max(self._series[k].high for k in keys)
        for item in self._overlay_items(plot):
            y = item.getData()[1]
            if y is not None and np.isfinite(y).any():
                low, high = min(low, float(np.nanmin(y))), max(high, float(np.nanmax(y)))
        if not low <= high:
            return
        shown_low, shown_high = plot.viewRange()[1]
        if plot.getAxis("left").logMode:  # the learning rate (always > 0): whole decades, in log10 units
            bottom, top = _decade_range(math.log10(low), math.log10(high))
            if plot not in self._y_fitted or not (math.isclose(bottom, shown_low, abs_tol=1e-6)
                                                  and math.isclose(top, shown_high, abs_tol=1e-6)):
                self._y_fitted.add(plot)
                plot.setYRange(bottom, top, padding=0)
            return
        if plot is self._acc_plot:  # a flat accuracy still gets a readable range
            middle = (low + high) / 2
            low, high = min(low, middle - ACC_MIN_SPAN / 2), max(high, middle + ACC_MIN_SPAN / 2)
        if floor is not None:
            low = min(low, floor)
        span = max(high - low, 1e-9 + 1e-3 * abs(high))
        if (plot in self._y_fitted and low >= shown_low and high <= shown_high
                and span >= 0.5 * (shown_high - shown_low)):
            return
        self._y_fitted.add(plot)
        # At a floor, just enough below it for its tick label ("0") to be drawn.
        bottom = low - (FLOOR_MARGIN if floor is not None and low == floor else Y_MARGIN) * span
        top = high + Y_MARGIN * span
        if plot is self._acc_plot:  # never beyond the scale, but room for its "0" and "100" labels
            bottom, top = max(bottom, -FLOOR_MARGIN * span), min(top, 100 + FLOOR_MARGIN * span)
        plot.setYRange(bottom, top, padding=0)

    def _on_full_accuracy_changed(self, full: bool) -> None:
        """The "0–100 %" box: the accuracy plot's whole scale, or a range that follows its curves."""
        acc = self._acc_plot
        self._y_fitted.discard(acc)
        if full:
            self._y_followed.pop(acc, None)
            acc.setYRange(0, 100, padding=FLOOR_MARGIN)
        else:
            self._y_followed[acc] = self._acc_followed
            self._follow_y(acc, *self._acc_followed)

    def _overlay_items(self, plot: pg.PlotItem) -> list[pg.PlotDataItem]:
        """The overlaid past runs' curves drawn in `plot`."""
        return [item for items in self.overlays.values() for item in items if item.getViewBox() is plot.getViewBox()]

    def _fix_x_range(self) -> None:
        """Every plot's x range: the fit's epochs and any overlaid run's (fixed, so axes stay still)."""
        low, high = float(self._start_epoch), float(max(self._epochs, 1))
        for items in self.overlays.values():
            for item in items:
                x = item.getData()[0]
                if x is not None and len(x):
                    low, high = min(low, float(np.min(x)) - 1), max(high, float(np.max(x)))
        for plot in (self._batch_plot, self._epoch_plot, self._acc_plot, self._lr_plot):
            plot.enableAutoRange(x=False)
            plot.setXRange(low, high, padding=0.02)

    def _update_figures(self) -> None:
        stats = self._latest_batch
        if stats is None and self._timer.isActive() and not self._figures_final:
            # Before the first batch has reported (minutes for a VGG step on a CPU): say so,
            # with the time it has taken, instead of dashes that look frozen.
            self.stats["batch"].set("first batch…")
            self.stats["elapsed"].set(format_duration(time.monotonic() - self._started_at))
            return
        if stats is not None and not self._figures_final:
            epochs_left = self._epochs - stats.epoch
            span = max(self._epochs - self._start_epoch, 1)
            done = (stats.epoch - 1 - self._start_epoch) + stats.batch / max(stats.num_batches, 1)
            self.progress.setValue(int(1000 * min(done / span, 1.0)))
            self.stats["epoch"].set(f"{stats.epoch} / {self._epochs}")
            self.stats["batch"].set(f"{stats.batch} / {stats.num_batches}")
            self.stats["speed"].set(format_rate(stats.images_per_s))
            # Finished epochs before this one, plus this one so far.
            elapsed = sum(self._epoch_seconds[: max(stats.epoch - 1 - self._start_epoch, 0)]) + stats.elapsed_s
            self.stats["elapsed"].set(format_duration(elapsed))
            per_epoch = (float(np.mean(self._epoch_seconds)) if self._epoch_seconds
                         else stats.elapsed_s + stats.eta_s)
            self.stats["eta"].set(format_duration(stats.eta_s + epochs_left * per_epoch))

    # ------------------------------------------------------------------ overlays
    def add_overlay(self, label: str, history: Sequence[EpochStats]) -> None:
        """Draw a past run's validation loss and top-1 beside the live curves (dashed).

        Overlays stay across fits until cleared, so runs can be compared with a new one.
        """
        self.remove_overlay(label)
        if not history:
            self._state.report("warning", f"{label} has no finished epoch to overlay yet")
            return
        colour = _OVERLAY_COLOURS[len(self.overlays) % len(_OVERLAY_COLOURS)]
        name = escape(label)  # pyqtgraph draws legend entries as HTML
        pen = pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine)
        x = np.array([float(stats.epoch) for stats in history])
        val_loss = np.array([stats.val_loss for stats in history], dtype=np.float64)
        val_acc = 100.0 * np.array([stats.val_acc for stats in history], dtype=np.float64)
        items = [
            self._epoch_plot.plot(x, val_loss, pen=pen, name=f"{name} val", antialias=False,
                                  symbol="t", symbolSize=5, symbolPen=pen, symbolBrush=colour),
            self._acc_plot.plot(x, val_acc, pen=pen, name=f"{name} val top-1", antialias=False,
                                symbol="t", symbolSize=5, symbolPen=pen, symbolBrush=colour),
        ]
        self.overlays[label] = items
        if self._acc_plot.legend is not None:  # two columns, see-through: it must not hide the dashes
            self._acc_plot.legend.setColumnCount(2)
            self._acc_plot.legend.setBrush(pg.mkBrush(255, 255, 255, 140))
        if self._epochs:  # a fit has fixed the x range: widen it to the overlay
            self._fix_x_range()
        self._follow_all_y()
        self._show_overlay_hint()

    def _show_overlay_hint(self) -> None:
        self.overlay_hint.setText("Overlaid (dashed): " + ", ".join(self.overlays) + "  ·  ")
        self.overlay_hint.setVisible(bool(self.overlays))
        self.clear_overlays_button.setVisible(bool(self.overlays))

    def remove_overlay(self, label: str) -> None:
        for item in self.overlays.pop(label, []):
            for plot in (self._epoch_plot, self._acc_plot):
                if item in plot.listDataItems():
                    plot.removeItem(item)
                    if plot.legend is not None:
                        plot.legend.removeItem(item)

    def clear_overlays(self) -> None:
        """Remove every overlaid run."""
        for label in list(self.overlays):
            self.remove_overlay(label)
        self._follow_all_y()
        self.overlay_hint.setVisible(False)
        self.clear_overlays_button.setVisible(False)

    def plot(self, name: str) -> pg.PlotItem:
        """One of the four plots: "batch_loss", "epoch_loss", "accuracy" or "lr"."""
        return {"batch_loss": self._batch_plot, "epoch_loss": self._epoch_plot, "accuracy": self._acc_plot,
                "lr": self._lr_plot}[name]
