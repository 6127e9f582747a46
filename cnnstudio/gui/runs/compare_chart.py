"""The compare view's chart: several runs' curves overlaid, smoothed the way TensorBoard does.

One plot per chosen series (validation top-1 and loss by default; training top-1 and loss
on request), one colour per run, a legend beside the plots. The smoothing slider applies
`training.compare.smooth_ema` to each whole series (before pyqtgraph thins anything): the
smoothed line is drawn solid, the raw one faint behind it. The x-axis is the epoch, or the
training time at each epoch's end (pauses excluded).

Kept fast for 20 runs: each run has its two items per series, created when the run is
first selected and afterwards only given new data (`setData`); a run whose `RunCurves` is
the same object as before (the cache's answer for an unchanged history) is not redrawn, and
slider moves are coalesced into one redraw per event-loop turn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QIODevice, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.gui.text import escape
from cnnstudio.gui.widgets.image_grid import StackedPanel

__all__ = ["CompareChart", "ChartRun", "SERIES_TITLES", "run_colour"]

#: The series a run's curves offer, with their plot titles, in the order the plots are laid out.
SERIES_TITLES = {
    "val_acc": "Validation top-1 (%)",
    "val_loss": "Validation loss",
    "train_acc": "Training top-1 (%)",
    "train_loss": "Training loss",
}
DEFAULT_SERIES = ("val_acc", "val_loss")
PERCENT_SERIES = frozenset({"val_acc", "train_acc"})
MAX_SMOOTHING = 0.99  # TensorBoard's slider ends there too: at 1 the average never moves
# Ten colours a reader tells apart (Tableau's), then the same ten dashed: 20 runs stay distinct.
_PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
            "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#79706e")
RAW_WHITE = 0.72  # the unsmoothed line behind the smoothed one: its colour this far towards white
EMPTY_TEXT = "Select runs in the table above (Ctrl+A: every run shown) to overlay their curves."


def run_colour(slot: int) -> tuple[QColor, Qt.PenStyle]:
    """The colour and line style of the run drawn in `slot` (0, 1, …)."""
    style = Qt.PenStyle.SolidLine if (slot // len(_PALETTE)) % 2 == 0 else Qt.PenStyle.DashLine
    return QColor(_PALETTE[slot % len(_PALETTE)]), style


@dataclass(frozen=True)
class ChartRun:
    """One run to draw: its folder (the key), its legend label and its curves (`RunCurves`)."""

    path: Path
    label: str
    curves: Any


class _Drawn:
    """The items of one drawn run: (raw, smoothed) per series, and its legend sample."""

    def __init__(self, run: ChartRun, slot: int) -> None:
        self.run = run
        self.slot = slot
        colour, style = run_colour(slot)
        # Faint as a mix with the white background, not by transparency: blending 20 lines
        # costs paint time at every slider step, and on white the two look the same.
        faint = QColor.fromRgbF(*(c + (1.0 - c) * RAW_WHITE for c in colour.getRgbF()[:3]))
        # Width 1: a wider pen takes Qt's slow stroking path, twice the paint time of 40 curves.
        self.pen = pg.mkPen(colour, width=1, style=style)
        self.raw_pen = pg.mkPen(faint, width=1, style=style)
        self.items: dict[str, tuple[pg.PlotCurveItem, pg.PlotCurveItem]] = {}
        # A run with a single finished epoch is a point, which a line cannot show: a dot per
        # series, given data only for such runs (and only when the raw line changes).
        self.brush = pg.mkBrush(colour)
        self.dots: dict[str, pg.ScatterPlotItem] = {}
        # The legend's entry: one per run whatever the series shown, so it stands for no plot's item.
        self.sample = pg.PlotDataItem(pen=self.pen)
        # series -> ((id of curves, x mode, x scale), smoothing) as last drawn
        self.drawn: dict[str, tuple[tuple[int, str, float], float]] = {}


class CompareChart(QWidget):
    """Overlaid curves of the runs given by `set_runs`, with the smoothing, series and x-axis controls."""

    #: A line for the user (the chart was saved, or why not).
    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._runs: dict[Path, _Drawn] = {}
        self._slots: dict[Path, int] = {}  # a run keeps its colour while it stays free
        self._x_scale, self._x_unit = 1.0, "s"
        self._legend_entries: list[tuple[int, str]] = []

        self.series_boxes: dict[str, QCheckBox] = {}
        controls = QHBoxLayout()
        controls.setSpacing(10)
        for name, title in SERIES_TITLES.items():
            box = QCheckBox(title.replace(" (%)", ""))
            box.setChecked(name in DEFAULT_SERIES)
            box.toggled.connect(self._on_series_changed)
            self.series_boxes[name] = box
            controls.addWidget(box)
        # Two rows: on one, the controls made the Runs tab (and so the window) wider than a
        # 1366-px laptop screen.
        series_row = controls
        series_row.addStretch(1)
        controls = QHBoxLayout()
        controls.setSpacing(10)
        controls.addWidget(QLabel("x-axis"))
        self.x_combo = QComboBox()
        self.x_combo.addItem("epoch", "epoch")
        self.x_combo.addItem("training time", "time")
        self.x_combo.setToolTip("Epochs, or the training time at each epoch's end (pauses left out): "
                                "a faster run's curve then ends sooner")
        self.x_combo.currentIndexChanged.connect(self._on_x_changed)
        controls.addWidget(self.x_combo)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Smoothing"))
        self.smoothing_slider = QSlider(Qt.Orientation.Horizontal)
        self.smoothing_slider.setRange(0, round(MAX_SMOOTHING * 100))
        self.smoothing_slider.setValue(60)
        self.smoothing_slider.setFixedWidth(140)
        self.smoothing_slider.setToolTip("TensorBoard's smoothing: a debiased exponential moving average of each "
                                         "curve (0 = the raw values); the raw curve stays faint behind")
        self.smoothing_label = QLabel()
        # A fixed size: a label's new text otherwise asks for a new layout, and the whole window
        # was laid out and repainted at every slider step.
        self.smoothing_label.setFixedSize(self.smoothing_label.fontMetrics().horizontalAdvance("0.00") + 6,
                                          self.smoothing_label.sizeHint().height())
        self.smoothing_slider.valueChanged.connect(self._on_smoothing_changed)
        controls.addWidget(self.smoothing_slider)
        controls.addWidget(self.smoothing_label)
        controls.addStretch(1)
        self.export_button = QPushButton("Save chart…")
        self.export_button.setToolTip("Save the chart as it is drawn, as a PNG picture")
        self.export_button.clicked.connect(self._on_export_clicked)
        controls.addWidget(self.export_button)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.plots.ci.setContentsMargins(4, 4, 4, 4)
        # The view fills its own background: the widgets under it need not repaint with it.
        self.plots.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.plot_items: dict[str, pg.PlotItem] = {}
        for name, title in SERIES_TITLES.items():
            plot = pg.PlotItem(title=title)
            plot.showGrid(x=True, y=True, alpha=0.15)
            plot.setMenuEnabled(False)
            for side in ("bottom", "left"):
                plot.getAxis(side).enableAutoSIPrefix(False)
                # An axis and its grid lines, replayed on every repaint, were a third of a slider
                # step's time; cached, they are drawn again only when the range changes.
                plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            # No clipping to the view nor thinning: a run has one point per epoch (hundreds at
            # most), where both cost more per update than drawing every point does.
            self.plot_items[name] = plot
        self.legend = pg.LegendItem(labelTextSize="8pt", labelTextColor="#22303c", verSpacing=-6)
        self.legend.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # In the layout's cell its own size, at the top: stretched, its rows drifted apart.
        self.legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.panel = StackedPanel(self.plots, EMPTY_TEXT)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(series_row)
        layout.addLayout(controls)
        layout.addWidget(self.panel, 1)

        # Slider drags come faster than frames: one redraw per event-loop turn, with the latest value.
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(0)
        self._redraw_timer.timeout.connect(self._redraw)
        self._update_smoothing_label()
        self._arrange()
        self._set_x_label()

    # ------------------------------------------------------------------ public API
    @property
    def smoothing(self) -> float:
        """The smoothing weight, 0 … 0.99."""
        return self.smoothing_slider.value() / 100.0

    @property
    def x_mode(self) -> str:
        """"epoch" or "time"."""
        return self.x_combo.currentData()

    @property
    def x_unit(self) -> str:
        """The unit of the time axis: "s", "min" or "h" (the x values are seconds divided by `x_scale`)."""
        return self._x_unit

    @property
    def x_scale(self) -> float:
        return self._x_scale

    def shown_series(self) -> list[str]:
        """The series drawn, in plot order."""
        return [name for name, box in self.series_boxes.items() if box.isChecked()]

    def runs(self) -> list[Path]:
        """The runs drawn, in legend order."""
        return list(self._runs)

    def curve(self, path: str | Path, series: str) -> tuple[pg.PlotCurveItem, pg.PlotCurveItem]:
        """The (raw, smoothed) curves of a drawn run's series (drawn once the series is shown)."""
        return self._runs[Path(path)].items[series]

    def colour(self, path: str | Path) -> QColor | None:
        """The colour a run is drawn in, or None when it is not drawn."""
        drawn = self._runs.get(Path(path))
        return None if drawn is None else run_colour(drawn.slot)[0]

    def set_runs(self, runs: Sequence[ChartRun]) -> None:
        """Draw exactly these runs (legend in this order); items of runs already drawn are kept."""
        wanted = {run.path: run for run in runs}
        for path in [p for p in self._runs if p not in wanted]:
            self._remove(path)
        for run in runs:
            drawn = self._runs.get(run.path)
            if drawn is None:
                self._add(run)
            elif drawn.run.label != run.label or drawn.run.curves is not run.curves:
                drawn.run = run
        order = [run.path for run in runs]
        if list(self._runs) != order:
            self._runs = {path: self._runs[path] for path in order}
        self._rebuild_legend()
        self._update_x_scale()
        self._redraw(refit=True)
        if runs:
            self.panel.show_content()
        else:
            self.panel.show_empty(EMPTY_TEXT)

    def export_png(self, path: str | Path) -> Path:
        """Save the chart as drawn to `path` (PNG), atomically."""
        from cnnstudio.errors import CnnStudioError
        from cnnstudio.files import atomic_write

        path = Path(path)
        if path.suffix.lower() != ".png":
            raise CnnStudioError(f"{path.name}: the chart is saved as PNG; give a file name ending in .png")
        picture = self.plots.grab()
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        if not picture.save(buffer, "PNG"):
            raise CnnStudioError("the chart could not be drawn as a PNG picture")
        payload = bytes(buffer.data())
        atomic_write(path, lambda handle: handle.write(payload), size_estimate=len(payload))
        return path

    # ------------------------------------------------------------------ items
    def _add(self, run: ChartRun) -> None:
        used = {drawn.slot for drawn in self._runs.values()}
        slot = self._slots.get(run.path)
        if slot is None or slot in used:
            slot = next(i for i in range(len(used) + 1) if i not in used)
        self._slots[run.path] = slot
        self._runs[run.path] = _Drawn(run, slot)  # its items come with the first series it is drawn in

    def _items(self, drawn: _Drawn, name: str) -> tuple[pg.PlotCurveItem, pg.PlotCurveItem]:
        """The run's (raw, smoothed) curves in this series' plot, created the first time."""
        if name not in drawn.items:
            plot = self.plot_items[name]
            # PlotCurveItem, not PlotDataItem: no symbols here, and its setData is a third of
            # the other's cost, which 40 curves pay on every slider step (section o).
            raw = pg.PlotCurveItem(pen=drawn.raw_pen, antialias=False, connect="finite")
            smooth = pg.PlotCurveItem(pen=drawn.pen, antialias=False, connect="finite")
            raw.setZValue(-1)  # every run's raw line under every smoothed one
            plot.addItem(raw)
            # The range is the raw lines' (see `_fit`).
            plot.addItem(smooth, ignoreBounds=True)
            dot = pg.ScatterPlotItem(size=7, pen=drawn.pen, brush=drawn.brush)
            plot.addItem(dot)
            drawn.items[name] = (raw, smooth)
            drawn.dots[name] = dot
        return drawn.items[name]

    def _remove(self, path: Path) -> None:
        drawn = self._runs.pop(path)
        for name, (raw, smooth) in drawn.items.items():
            for item in (raw, smooth, drawn.dots[name]):
                self.plot_items[name].removeItem(item)

    def _rebuild_legend(self) -> None:
        entries = [(drawn.slot, drawn.run.label) for drawn in self._runs.values()]
        if entries == self._legend_entries:
            return
        self._legend_entries = entries
        self.legend.clear()
        for drawn in self._runs.values():
            self.legend.addItem(drawn.sample, escape(drawn.run.label))  # pyqtgraph draws legend entries as HTML
        # Qt caches an item's own painting, not its children's: each entry's sample and rich-text
        # label, laid out anew on every repaint, were a quarter of a slider step with 20 runs.
        for sample, label in self.legend.items:
            for item in (sample, label, label.item):
                item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.legend.updateGeometry()

    # ------------------------------------------------------------------ drawing
    def _redraw(self, *, refit: bool = False) -> None:
        """Give new data to the curves whose run, smoothing or x-axis changed since they were
        drawn; fit the plots whose raw lines changed (or all, with `refit`)."""
        weight, mode, shown = self.smoothing, self.x_mode, self.shown_series()
        moved = set(shown) if refit else set()
        for drawn in self._runs.values():
            for name in shown:
                raw_stamp, smooth_stamp = (id(drawn.run.curves), mode, self._x_scale), weight
                was = drawn.drawn.get(name)
                if was == (raw_stamp, smooth_stamp):
                    continue
                raw_changed = was is None or was[0] != raw_stamp
                self._draw(drawn, name, weight, mode, raw_changed=raw_changed)
                drawn.drawn[name] = (raw_stamp, smooth_stamp)
                if raw_changed:
                    moved.add(name)
        for name in moved:
            self._fit(self.plot_items[name])

    @staticmethod
    def _fit(plot: pg.PlotItem) -> None:
        """Fit the plot to its raw lines once, then hold the range.

        Left on, auto-range refits at every slider step, and each refit makes every curve
        recompute its bounds: with 20 runs, most of a step's time. The smoothed lines never
        leave the raw lines' range (a debiased EMA is a weighted mean of the points so far),
        so a smoothing step needs no refit. A zoom by the user's mouse is kept until the
        runs, the series or the x-axis change.
        """
        view = plot.getViewBox()
        view.enableAutoRange()
        view.updateAutoRange()
        view.disableAutoRange()

    def _draw(self, drawn: _Drawn, name: str, weight: float, mode: str, *, raw_changed: bool) -> None:
        from cnnstudio.training.experiments.compare import smooth_ema

        curves = drawn.run.curves
        x = curves.epoch if mode == "epoch" else curves.wall_s / self._x_scale
        y = curves.series(name) * (100.0 if name in PERCENT_SERIES else 1.0)
        raw, smooth = self._items(drawn, name)
        smooth.setData(x, smooth_ema(y, weight))
        if raw_changed:  # a smoothing step leaves the raw line as it is (at 0 the smoothed line covers it)
            raw.setData(x, y)
            finite = np.isfinite(x) & np.isfinite(y)
            single = int(finite.sum()) == 1  # smoothing leaves one point where it is
            drawn.dots[name].setData(x[finite] if single else [], y[finite] if single else [])

    def _update_x_scale(self) -> None:
        longest = max((float(np.nanmax(d.run.curves.wall_s)) for d in self._runs.values()
                       if d.run.curves.wall_s.size and np.isfinite(d.run.curves.wall_s).any()), default=0.0)
        scale, unit = (1.0, "s") if longest < 180 else (60.0, "min") if longest < 3 * 3600 else (3600.0, "h")
        if (scale, unit) != (self._x_scale, self._x_unit):
            self._x_scale, self._x_unit = scale, unit
            self._set_x_label()

    def _set_x_label(self) -> None:
        text = "epoch" if self.x_mode == "epoch" else f"training time ({self._x_unit})"
        for plot in self.plot_items.values():
            plot.setLabel("bottom", text)

    def _arrange(self) -> None:
        """Lay the chosen series' plots out in two columns, the legend at the right."""
        layout = self.plots.ci
        for item in [*self.plot_items.values(), self.legend]:
            if item in layout.items:
                layout.removeItem(item)
        shown = self.shown_series()
        columns = 1 if len(shown) == 1 else 2
        for i, name in enumerate(shown):
            layout.addItem(self.plot_items[name], row=i // columns, col=i % columns)
        rows = max(1, math.ceil(len(shown) / columns))
        layout.addItem(self.legend, row=0, col=columns, rowspan=rows)
        layout.layout.setAlignment(self.legend, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.legend.setVisible(bool(shown))

    # ------------------------------------------------------------------ controls
    def _on_series_changed(self, _checked: bool) -> None:
        self._arrange()
        self._redraw()

    def _on_x_changed(self, _index: int) -> None:
        self._set_x_label()
        self._redraw()

    def _on_smoothing_changed(self, _value: int) -> None:
        self._update_smoothing_label()
        self._redraw_timer.start()

    def _update_smoothing_label(self) -> None:
        self.smoothing_label.setText(f"{self.smoothing:.2f}")

    def _on_export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the chart", "runs-compared.png", "PNG picture (*.png)")
        if path:
            self.export_requested(path)

    def export_requested(self, path: str) -> None:
        """Save to `path`; `message` says where, or why not."""
        from cnnstudio.errors import CnnStudioError, describe

        try:
            self.export_png(path)
        except (CnnStudioError, OSError) as exc:
            self.message.emit(f"The chart was not saved: {describe(exc)}")
        else:
            self.message.emit(f"Saved the chart to {path}")
