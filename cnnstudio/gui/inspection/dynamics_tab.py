"""The Dynamics tab: why the run on show trains, or doesn't — per layer, over training.

A layers × time heat map of the chosen figure (gradient norm, update ratio, activation std,
saturated/zero/dead shares, BatchNorm's variance ratio; log scales where they belong, a
colour bar with units), the "colorful dimension" of the selected layer (its activation
histogram over time), and the diagnosis as findings: clicking one selects its layer and
moves the moment to it. The moment is the shared one of the history slider
(`StudioState.history_position`): the Kernels, Feature maps and Training tabs follow it, and
this tab's marker follows theirs. "Beside it" puts a second run on the same scales (the
tricks study's plain sigmoid run next to its BatchNorm baseline).

The recording is read in the background (`inspect.dynamics`); a fit's own run is read again
at each epoch end, so the tab is live during training.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QSplitter, QVBoxLayout, QWidget,
)

from cnnstudio.gui.about import ABOUT as HELP_ABOUT
from cnnstudio.gui.state import StudioState
from cnnstudio.gui.text import plain

__all__ = ["DynamicsTab", "FIGURE_CHOICES"]

#: (title, figure, log scale, colour bar label)
FIGURE_CHOICES = (
    ("Gradient norm", "grad_norm", True, "log10 ‖∂loss/∂w‖"),
    ("Update ratio", "update_ratio", True, "log10 ‖Δw‖/‖w‖ per step (≈ −3 is healthy)"),
    ("Activation std", "act_std", False, "std of the layer's output"),
    ("Saturated share", "saturated", False, "share of sigmoid/tanh outputs within 2 % of a bound"),
    ("Zero share (ReLU)", "zero", False, "share of ReLU outputs that are 0"),
    ("Dead channels (ReLU)", "dead", False, "share of channels zero for the whole batch"),
    ("BatchNorm variance ratio", "bn_var_ratio", True, "log10 running ÷ batch variance"),
)
EMPTY = "Train or open a run to see how its layers learn (runs trained with --no-dynamics have no recording)."


def _load(run_dir: str) -> Any:
    """Background job: (record, findings) of a run, or None when it recorded nothing yet."""
    from cnnstudio.inspect.dynamics import diagnose
    from cnnstudio.training.store.dynamics import read_dynamics

    record = read_dynamics(run_dir)
    if record is None or len(record) == 0:
        return None
    return record, diagnose(record)


def _list_runs() -> list[tuple[str, str]]:
    """Background job: (name, folder) of the runs in the runs folder, newest first."""
    from cnnstudio.files import readable
    from cnnstudio.training.store.runs import RunInfo, list_runs

    return [(readable(run.name), str(run.path)) for run in list_runs() if isinstance(run, RunInfo)]


def figure_matrix(record: Any, figure: str, log: bool) -> np.ndarray:
    """Layers × samples of `figure` (log10 where asked; NaN where it does not apply)."""
    values = np.asarray(record.figures[figure], dtype=np.float64).T
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(values > 0, np.log10(values), np.nan)
    return values


class _RunPanel:
    """One run's heat map and colorful-dimension picture inside the tab's plot area."""

    def __init__(self, layout: pg.GraphicsLayout, column: int, on_click: Any) -> None:
        self.heat_plot = layout.addPlot(row=0, col=column)
        self.heat_plot.invertY(True)
        self.heat_plot.setMenuEnabled(False)
        self.heat_plot.hideButtons()
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat_plot.addItem(self.heat)
        self.marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#c0563f", width=2))
        self.heat_plot.addItem(self.marker)
        self.selected = pg.InfiniteLine(angle=0, pen=pg.mkPen("w", width=1, style=Qt.PenStyle.DashLine))
        self.heat_plot.addItem(self.selected)
        self.dim_plot = layout.addPlot(row=1, col=column)
        self.dim_plot.setMenuEnabled(False)
        self.dim_plot.hideButtons()
        self.dim = pg.ImageItem(axisOrder="row-major")
        self.dim_plot.addItem(self.dim)
        self.dim_marker = pg.InfiniteLine(angle=90, pen=pg.mkPen("#c0563f", width=2))
        self.dim_plot.addItem(self.dim_marker)
        self.dim_plot.setLabel("left", "value ↑")
        self.heat.mouseClickEvent = lambda event: on_click(self, event)  # type: ignore[method-assign]
        self.record: Any = None
        self.run_dir: str | None = None

    def show(self, record: Any, matrix: np.ndarray, title: str) -> None:
        self.record = record
        self.heat.setImage(np.nan_to_num(matrix, nan=np.nan), autoLevels=False)
        self.heat.setRect(0, 0, matrix.shape[1], matrix.shape[0])
        self.heat_plot.setTitle(title, size="8pt")
        names = [layer.name for layer in record.layers]
        step = max(1, len(names) // 24)  # at most ~24 labels: a deep net's rows stay readable
        self.heat_plot.getAxis("left").setTicks([[(i + 0.5, names[i][-16:]) for i in range(0, len(names), step)]])
        epochs = record.epochs
        firsts = [(int(i), f"ep {int(e)}") for i, e in enumerate(epochs) if i == 0 or epochs[i - 1] != e]
        for plot in (self.heat_plot, self.dim_plot):
            plot.getAxis("bottom").setTicks([firsts])
        self.heat_plot.setXRange(0, matrix.shape[1], padding=0)
        self.heat_plot.setYRange(0, matrix.shape[0], padding=0)

    def show_layer(self, index: int) -> None:
        if self.record is None or not 0 <= index < len(self.record.layers):
            self.dim.clear()
            return
        hist = self.record.hist[:, index, :].astype(np.float32).T / 255.0  # bins × samples
        self.dim.setImage(np.log1p(hist * 20) / np.log1p(20), levels=(0, 1))
        self.dim.setRect(0, 0, hist.shape[1], hist.shape[0])
        low, high = self.record.layers[index].hist_range
        self.dim_plot.setTitle(f"{self.record.layers[index].name[-24:]}: {low:.3g} … {high:.3g}", size="8pt")
        self.selected.setValue(index + 0.5)

    def clear(self, title: str = "") -> None:
        self.record = None
        self.heat.clear()
        self.dim.clear()
        self.heat_plot.setTitle(title)


class DynamicsTab(QWidget):
    """Per-layer training dynamics of the run on show, a second run beside it, the diagnosis."""

    loaded = Signal()  # a recording was read and drawn (tests wait on it)

    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._run_dir: str | None = None
        self._other_dir: str | None = None
        self._findings: list[Any] = []
        self._layer = 0
        self._stale = False  # the model changed while the tab was hidden

        self.caption = plain(QLabel(EMPTY))
        self.caption.setObjectName("tabTitle")
        self.caption.setWordWrap(True)
        self.figure_box = QComboBox()
        for title, figure, _log, unit in FIGURE_CHOICES:
            self.figure_box.addItem(title, figure)
            self.figure_box.setItemData(self.figure_box.count() - 1, unit, Qt.ItemDataRole.ToolTipRole)
        self.figure_box.currentIndexChanged.connect(self._redraw)
        self.beside_box = QComboBox()
        self.beside_box.addItem("(none)", None)
        self.beside_box.setToolTip("Another run, drawn beside this one on the same scales")
        self.beside_box.setMinimumContentsLength(24)
        self.beside_box.activated.connect(self._on_beside_chosen)
        refresh = QPushButton("Reload")
        refresh.setToolTip("Read the recordings again (a running fit's grows at each epoch's end)")
        refresh.clicked.connect(self.reload)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Show"))
        controls.addWidget(self.figure_box)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Beside it"))
        controls.addWidget(self.beside_box, 1)
        controls.addWidget(refresh)

        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        layout_item = self.plots.ci
        self.panels = [_RunPanel(layout_item, 0, self._on_heat_clicked), _RunPanel(layout_item, 1, self._on_heat_clicked)]
        layout_item.layout.setRowStretchFactor(0, 3)
        layout_item.layout.setRowStretchFactor(1, 1)
        layout_item.layout.setColumnStretchFactor(0, 1)
        layout_item.layout.setColumnStretchFactor(1, 1)
        # One colour bar, in its own column, for both runs' heat maps: the same colour is the same value.
        self.colour_bar = pg.ColorBarItem(values=(0, 1), colorMap="viridis", interactive=False, width=14)
        self.colour_bar.setImageItem([p.heat for p in self.panels])
        layout_item.addItem(self.colour_bar, row=0, col=2)
        self._grid = layout_item.layout
        self._show_beside(False)
        for panel in self.panels:
            panel.dim.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))

        self.findings = QListWidget()
        self.findings.setWordWrap(True)
        self.findings.setAlternatingRowColors(True)
        self.findings.setSpacing(3)
        self.findings.itemActivated.connect(self._on_finding_chosen)
        self.findings.itemClicked.connect(self._on_finding_chosen)
        about = plain(QLabel(HELP_ABOUT["Dynamics"]))
        about.setWordWrap(True)
        about.setObjectName("hint")
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(plain(QLabel("Diagnosis (click a finding to go to its layer and moment)")))
        side_layout.addWidget(self.findings, 1)
        side_layout.addWidget(about)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.plots)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        layout.addWidget(splitter, 1)

        state.model_changed.connect(self._on_model_changed)
        state.history_position_changed.connect(self._place_marker)
        self._on_model_changed()

    # -- what to show ------------------------------------------------------------------------

    @property
    def run_dir(self) -> str | None:
        return self._run_dir

    def show_run(self, run_dir: str | None, beside: str | None = None) -> None:
        """Show `run_dir`'s recording (and `beside`'s next to it, on the same scales)."""
        self._run_dir = run_dir
        if beside is not None:
            self._other_dir = beside
            if self.beside_box.findData(beside) < 0:
                self.beside_box.addItem(Path(beside).name, beside)
            self.beside_box.setCurrentIndex(self.beside_box.findData(beside))
        self.reload()

    def reload(self) -> None:
        if self._run_dir is None:
            for panel in self.panels:
                panel.clear()
            self.caption.setText(EMPTY)
            self.findings.clear()
            return
        self._state.run_in_background(_load, self._run_dir, on_done=self._on_loaded, on_error=self._on_failed,
                                      key=f"dynamics-{id(self)}")
        if self._other_dir:
            self._state.run_in_background(_load, self._other_dir, on_done=self._on_other_loaded,
                                          on_error=self._on_failed, key=f"dynamics-beside-{id(self)}")
        self._state.run_in_background(_list_runs, on_done=self._on_runs_listed, key=f"dynamics-runs-{id(self)}")

    def _on_model_changed(self) -> None:
        if not self.isVisible():
            self._stale = True  # read when shown: a hidden tab must not take the training's cores
            return
        handle = self._state.model_handle
        run_dir = handle.history_dir if handle is not None else None
        if run_dir != self._run_dir or (handle is not None and handle.live_run_dir):
            self.show_run(run_dir)  # a live fit's recording grows: read it again at each epoch end

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self._on_model_changed()

    def _on_failed(self, exc: BaseException) -> None:
        from cnnstudio.errors import describe

        self.caption.setText(f"The recording could not be read: {describe(exc)}")

    def _on_runs_listed(self, runs: list[tuple[str, str]]) -> None:
        with QSignalBlocker(self.beside_box):
            current = self.beside_box.currentData()
            self.beside_box.clear()
            self.beside_box.addItem("(none)", None)
            for name, path in runs:
                if path != self._run_dir:
                    self.beside_box.addItem(name, path)
            if current is not None and self.beside_box.findData(current) < 0:
                self.beside_box.addItem(Path(current).name, current)  # a run outside the runs folder
            index = self.beside_box.findData(current)
            self.beside_box.setCurrentIndex(max(index, 0))

    def _on_beside_chosen(self, _index: int) -> None:
        self._other_dir = self.beside_box.currentData()
        if self._other_dir is None:
            self.panels[1].clear()
            self._show_beside(False)
            self._redraw()
        else:
            self._state.run_in_background(_load, self._other_dir, on_done=self._on_other_loaded,
                                          on_error=self._on_failed, key=f"dynamics-beside-{id(self)}")

    def _on_loaded(self, result: Any) -> None:
        if result is None:
            self.panels[0].clear()
            self.caption.setText(f"{Path(self._run_dir or '').name}: no training dynamics recorded yet. " + EMPTY)
            self.findings.clear()
            return
        record, findings = result
        self.panels[0].record = record
        self._findings = findings
        self.caption.setText(f"{Path(self._run_dir or '').name} · {len(record.layers)} layers · {len(record)} sampled "
                             f"steps up to epoch {int(record.epochs[-1])}")
        self.findings.clear()
        if not findings:
            self.findings.addItem("Nothing stands out: gradients reach the first layers, activations are neither "
                                  "saturated nor dead, and each step changes the weights by about 1e-3.")
        for finding in findings:
            item = QListWidgetItem(finding.text())
            item.setToolTip(finding.text())  # the whole finding, however narrow the list
            item.setData(Qt.ItemDataRole.UserRole, finding)
            self.findings.addItem(item)
        self._layer = min(self._layer, len(record.layers) - 1)
        self._redraw()
        self.loaded.emit()

    def _on_other_loaded(self, result: Any) -> None:
        if self._other_dir is None:
            return  # "(none)" was chosen meanwhile
        panel = self.panels[1]
        if result is None:
            panel.clear("no dynamics recorded")
        else:
            panel.record = result[0]
        self._show_beside(True)
        self._redraw()

    def _show_beside(self, shown: bool) -> None:
        """The second run's column: its half of the width, or none."""
        for item in (self.panels[1].heat_plot, self.panels[1].dim_plot):
            item.setVisible(shown)
        self._grid.setColumnMaximumWidth(1, 100_000 if shown else 0)
        self._grid.setColumnStretchFactor(1, 1 if shown else 0)
        self._grid.invalidate()

    @property
    def beside_shown(self) -> bool:
        return self.panels[1].heat_plot.isVisible()

    # -- drawing ------------------------------------------------------------------------------

    def _choice(self) -> tuple[str, str, bool, str]:
        return FIGURE_CHOICES[max(self.figure_box.currentIndex(), 0)]

    def _redraw(self) -> None:
        title, figure, log, unit = self._choice()
        matrices = []
        for panel, run_dir in zip(self.panels, (self._run_dir, self._other_dir)):
            if panel.record is None:
                continue
            matrix = figure_matrix(panel.record, figure, log)
            name = Path(run_dir or "").name
            # Short titles: a title's width is a minimum of its column, and run names are long.
            panel.show(panel.record, matrix, name if len(name) <= 30 else "…" + name[-29:])
            panel.show_layer(min(self._layer, len(panel.record.layers) - 1))
            matrices.append(matrix)
        finite = np.concatenate([m[np.isfinite(m)] for m in matrices]) if matrices else np.zeros(0)
        if finite.size:  # one scale for both runs: the same colour means the same value
            low, high = float(np.percentile(finite, 1)), float(np.percentile(finite, 99))
            if not high > low:
                low, high = low - 0.5, high + 0.5
            self.colour_bar.setLevels((low, high))
        self.colour_bar.axis.setLabel(unit)
        self._place_marker()

    def _place_marker(self) -> None:
        position = self._state.history_position
        for panel, run_dir in zip(self.panels, (self._run_dir, self._other_dir)):
            record = panel.record
            if record is None or not len(record):
                continue
            if position is not None and run_dir is not None and Path(position[0]) == Path(run_dir):
                column = int(np.argmin(np.abs(record.positions - position[1])))
            elif position is not None and self._run_dir is not None and Path(position[0]) == Path(self._run_dir):
                ours = self.panels[0].record
                step = int(ours.steps[int(np.argmin(np.abs(ours.positions - position[1])))])
                column = int(np.argmin(np.abs(record.steps - step)))  # the other run at the same step
            else:
                column = len(record) - 1
            for line in (panel.marker, panel.dim_marker):
                line.setValue(column + 0.5)

    # -- interaction ---------------------------------------------------------------------------

    def _go_to(self, panel: _RunPanel, column: int, layer: int) -> None:
        record = panel.record
        self._layer = layer
        for p in self.panels:
            if p.record is not None:
                p.show_layer(min(layer, len(p.record.layers) - 1))
        run_dir = self._run_dir if panel is self.panels[0] else self._other_dir
        if run_dir is not None and 0 <= column < len(record):
            self._state.set_history_position(run_dir, float(record.positions[column]))
        self._place_marker()

    def _on_heat_clicked(self, panel: _RunPanel, event: Any) -> None:
        if panel.record is None:
            return
        pos = event.pos()
        self._go_to(panel, int(pos.x()), int(pos.y()))
        event.accept()

    def _on_finding_chosen(self, item: QListWidgetItem) -> None:
        finding = item.data(Qt.ItemDataRole.UserRole)
        record = self.panels[0].record
        if finding is None or record is None:
            return
        try:
            layer = record.layer_index(finding.layer)
        except KeyError:
            return
        column = int(np.searchsorted(record.steps, finding.step).clip(0, len(record) - 1))
        if finding.kind == "saturation" or finding.kind == "dead_units":
            self.figure_box.setCurrentIndex(3 if finding.kind == "saturation" else 5)
        elif finding.kind in ("vanishing_gradients", "exploding_gradients"):
            self.figure_box.setCurrentIndex(0)
        elif finding.kind == "update_ratio":
            self.figure_box.setCurrentIndex(1)
        elif finding.kind == "batchnorm_statistics":
            self.figure_box.setCurrentIndex(6)
        self._go_to(self.panels[0], column, layer)

    def select_layer(self, name: str) -> None:
        """Show `name`'s row (a block's concatenation counts as the block); ignored when not recorded."""
        record = self.panels[0].record
        name = name[: -len(".concat")] if name.endswith(".concat") else name
        if record is None:
            return
        try:
            index = record.layer_index(name)
        except KeyError:
            return
        self._go_to(self.panels[0], self.marker_column(), index)

    @property
    def selected_layer(self) -> str | None:
        record = self.panels[0].record
        return record.layers[self._layer].name if record is not None and record.layers else None

    def marker_column(self) -> int:
        return int(math.floor(self.panels[0].marker.value()))
