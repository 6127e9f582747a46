"""The Runs tab: past trainings compared side by side, and opened, resumed or exported.

A compare view: one row per run folder with what tells it apart (the settings in which the
runs shown differ), its best top-1 / top-5, training time and speed, sortable by any column
(numbers as numbers) and filtered by a line of text and a status; the selected runs' curves
are overlaid below (`compare_chart.CompareChart`, smoothed like TensorBoard), and the table
exports as CSV (`training.compare.write_csv`, the rows shown in the order shown).

The runs are listed and their histories read by the engine (`runs.list_runs`,
`compare.RunCache`: JSON only, torch-free) off the GUI thread; the cache re-reads only the
runs whose metrics.jsonl changed, so the view follows a run that trains (refreshed at its
epoch ends, at most every `LIVE_REFRESH_MS`). Opening a run rebuilds its network with its
best (or last) weights in the background and makes it the model every other tab inspects;
resuming and drawing a run beside the live curves are requests the window routes to the
Training tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.errors import CnnStudioError, describe
from cnnstudio.gui.format import format_duration, format_percent, format_rate
from cnnstudio.gui.training.session import TrainingSession, TrainingState
from cnnstudio.gui.state import ModelHandle, StudioState
from cnnstudio.gui.text import plain, tooltip
from cnnstudio.gui.runs.compare_chart import ChartRun, CompareChart
from cnnstudio.gui.widgets.image_grid import StackedPanel
from cnnstudio.gui.widgets.table_models import Column, record_table

__all__ = ["RunEntry", "RunsTab", "run_columns"]

# pixels; see RunsTab._fit_columns. 320 let one long "what differs" push Time and Images/s off a
# laptop's screen.
MAX_COLUMN_WIDTH = 200

EMPTY_TEXT = (
    "No runs yet.\n\nEvery training is saved as a run: its settings, curves and best weights.\n"
    "Press Start in the Training tab, and the run appears here to open, resume or compare."
)
ALL_STATUSES = "all"
LIVE_REFRESH_MS = 2000  # while a run trains and the tab is on screen: its curves follow, at this pace


def _dataset_name(dataset: str) -> str:
    """A catalog name as is; a folder dataset (stored as its path) by its folder's name."""
    if "/" not in dataset and "\\" not in dataset:
        return dataset
    return Path(dataset.rstrip("/\\")).name or dataset


@dataclass(frozen=True)
class RunEntry:
    """A row of the table: the run as listed (`RunInfo` or `UnreadableRun`) and, for a readable
    run, its comparison row (`compare.ComparisonRow`; `differs` among the runs shown)."""

    info: Any
    row: Any = None
    baseline: bool = False

    @property
    def path(self) -> Path:
        return Path(self.info.path)

    @property
    def search_text(self) -> str:
        """What the filter line matches: names, dataset, status and every setting, lower case."""
        info, row = self.info, self.row
        parts = [info.name, info.arch, info.dataset, info.status, info.hyperparameters_text]
        if row is not None:
            parts += [row.variant, row.settings_text]
        return " ".join(parts).lower()


def _figure(entry: RunEntry, name: str) -> Any:
    return None if entry.row is None else getattr(entry.row, name)


def _sort_number(value: float | None) -> float:
    return -1e18 if value is None else float(value)  # runs without the figure sort below every figure


def run_columns(colour: Any = None) -> list[Column]:
    """The Runs table's columns over `RunEntry` records; `colour(entry)` is the swatch of a drawn run."""
    return [
        Column("Run", lambda e: (e.info.variant if e.info.readable else e.info.name) + (" (baseline)" if e.baseline else ""),
               tooltip=lambda e: tooltip(str(e.info.path)), decoration=colour),
        Column("Dataset", lambda e: _dataset_name(e.info.dataset), tooltip=lambda e: tooltip(e.info.dataset)),
        # Among the runs shown: where this run leaves the usual value (the baseline's, or most runs');
        # filter to two runs and it names what tells those two apart.
        Column("What differs", lambda e: e.row.distinct_text if e.row is not None else "",
               tooltip=lambda e: tooltip(f"The runs shown differ in: {e.row.differs_text}\n\nThis run: "
                                         f"{e.row.settings_text}" if e.row is not None else "")),
        # Where the checkpoint on disk stands ("stopped in epoch 1 at batch 10/36"), or what is wrong.
        Column("Epochs", lambda e: e.info.progress_text, sort_key=lambda e: e.info.epochs_done,
               tooltip=lambda e: tooltip("\n".join((e.info.progress_text, *e.info.problems)))),
        Column("Best top-1", lambda e: format_percent(_figure(e, "best_top1")) if e.row else format_percent(e.info.best_val_acc),
               sort_key=lambda e: _sort_number(_figure(e, "best_top1") if e.row else e.info.best_val_acc), numeric=True,
               tooltip=lambda e: f"best validation top-1, at epoch {e.row.best_epoch}" if e.row and e.row.best_epoch else ""),
        Column("Top-5", lambda e: format_percent(_figure(e, "best_top5")),
               sort_key=lambda e: _sort_number(_figure(e, "best_top5")), numeric=True),
        Column("Δ top-1", lambda e: _signed_points(_figure(e, "delta_top1")),
               sort_key=lambda e: _sort_number(_figure(e, "delta_top1")), numeric=True),
        Column("Time", lambda e: format_duration(_figure(e, "train_seconds")),
               sort_key=lambda e: _sort_number(_figure(e, "train_seconds")), numeric=True,
               tooltip=lambda e: "the epochs' training and validation time, pauses left out"),
        Column("Images/s", lambda e: format_rate(_figure(e, "images_per_s")),
               sort_key=lambda e: _sort_number(_figure(e, "images_per_s")), numeric=True,
               tooltip=lambda e: "training speed of the median epoch"),
        Column("Status", lambda e: e.info.status),
        Column("Date", lambda e: e.info.created.strftime("%Y-%m-%d %H:%M") if e.info.created else "–",
               sort_key=lambda e: e.info.created.timestamp() if e.info.created else 0.0),
        Column("Settings", lambda e: e.info.hyperparameters_text,
               tooltip=lambda e: tooltip("\n".join(t for t in (e.info.hyperparameters_text, e.info.scan_summary) if t))),
    ]


DELTA_COLUMN = 6


def _signed_points(delta: float | None) -> str:
    return "–" if delta is None else f"{delta * 100:+.1f} pt"


class _RunFilter(QSortFilterProxyModel):
    """Sorts by the columns' numeric keys; shows the rows whose text holds every word typed
    (and whose status is the one chosen)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._words: list[str] = []
        self._status = ALL_STATUSES

    def set_filter(self, text: str, status: str) -> None:
        self.beginFilterChange()
        self._words, self._status = text.lower().split(), status
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:  # noqa: N802
        entry = self.sourceModel().record(source_row)
        if self._status != ALL_STATUSES and entry.info.status != self._status:
            return False
        text = entry.search_text
        return all(word in text for word in self._words)


def _export(run_dir: str, fmt: str, path: str, *, progress: Any, cancel: Any) -> Any:
    """Background job: the engine's verified export of a run (an `ExportReport`)."""
    from cnnstudio.training.weights.export import export_run

    return export_run(run_dir, fmt, path, progress=progress, cancel=cancel)


def _read_runs(root: str | None, cache: Any) -> tuple[list[Any], list[Any], dict[Path, Any]]:
    """Background job: the run folders (`list_runs`), and the readable ones' rows and curves (cached)."""
    from cnnstudio.training.store.runs import list_runs

    runs = list_runs(root)
    rows, curves = cache.read_all(runs)
    return runs, rows, curves


class RunsTab(QWidget):
    """Past runs compared: sort and filter them, overlay the selected runs' curves, export the
    table and the chart; open one for inspection, resume it, or reveal its folder."""

    #: The user asked to continue training this run folder (the window starts a resume).
    resume_requested = Signal(str)
    #: The user asked to draw this run's curves beside the current ones: (run name, list[EpochStats]).
    overlay_requested = Signal(str, list)
    dynamics_requested = Signal(str, object)  # a run folder, and one to draw beside it (or None)
    #: A refresh's rows and curves have arrived and are shown.
    runs_read = Signal()

    def __init__(self, state: StudioState, session: TrainingSession, parent: QWidget | None = None, *,
                 root: str | Path | None = None) -> None:
        super().__init__(parent)
        from cnnstudio.training.experiments.compare import RunCache

        self._state = state
        self._session = session
        self._root = str(root) if root is not None else None
        self._key = f"runs-tab-{id(self)}"
        self._loaded_once = False
        self._reading = False
        self._export_job: Any = None
        self._cache = RunCache()  # read from the pool's threads; it locks itself
        self._rows: dict[Path, Any] = {}  # each readable run's own row (differs among all listed)
        self._curves: dict[Path, Any] = {}
        self._baseline: Path | None = None

        self.refresh_button = QPushButton("Refresh")
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Load the run's weights to inspect and classify with them")
        self.checkpoint_combo = QComboBox()
        self.checkpoint_combo.addItem("best weights", "best")
        self.checkpoint_combo.addItem("last weights", "last")
        self.checkpoint_combo.setToolTip("Open the epoch with the best validation accuracy (best.pt), or the last one")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue training this run where it stopped")
        self.overlay_button = QPushButton("Beside live curves")
        self.overlay_button.setToolTip("Draw this run's validation curves on the Training tab, beside the current "
                                       "training's")
        self.reveal_button = QPushButton("Reveal folder")
        self.dynamics_button = QPushButton("Dynamics")
        self.dynamics_button.setToolTip("Why it trains: the run's per-layer gradients and activations on the Dynamics "
                                        "tab — select two runs to see them side by side on the same scales")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the run's best weights as ONNX or a torch.export program (.pt2), "
                                      "checked against PyTorch before it is kept")
        self.baseline_button = QPushButton("Set as baseline")
        self.export_csv_button = QPushButton("Save table…")
        self.export_csv_button.setToolTip("Save the rows shown, in the order shown, as CSV (accuracies as fractions, "
                                          "time in seconds)")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.overlay_button.clicked.connect(self._on_overlay_clicked)
        self.reveal_button.clicked.connect(self._on_reveal_clicked)
        self.dynamics_button.clicked.connect(self._on_dynamics_clicked)
        self.baseline_button.clicked.connect(self._on_baseline_clicked)
        self.export_csv_button.clicked.connect(self._on_export_csv_clicked)
        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(self.open_button)
        bar.addWidget(self.checkpoint_combo)
        for button in (self.resume_button, self.overlay_button, self.dynamics_button, self.export_button,
                       self.reveal_button):
            bar.addWidget(button)
        bar.addStretch(1)
        bar.addWidget(self.refresh_button)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: architecture, dataset or settings, e.g. relu lr=0.1")
        self.filter_edit.setClearButtonEnabled(True)
        self.status_combo = QComboBox()
        self.status_combo.addItem("every status", ALL_STATUSES)
        self.status_combo.setToolTip("Show the runs of one status only")
        self.filter_edit.textChanged.connect(self._on_filter_changed)
        self.status_combo.currentIndexChanged.connect(self._on_filter_changed)
        filters = QHBoxLayout()
        filters.setSpacing(8)
        filters.addWidget(self.filter_edit, 1)
        filters.addWidget(self.status_combo)
        filters.addWidget(self.baseline_button)
        filters.addWidget(self.export_csv_button)

        self._proxy = _RunFilter(self)
        self._model, self.table_view = record_table(run_columns(self._swatch), self, proxy=self._proxy)
        self.table_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.table_view.horizontalHeader()
        # Fitted to the contents when rows arrive (`_fit_columns`), then the user's to resize:
        # ResizeToContents measured every cell again at each selection change and refresh.
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table_view.setWordWrap(False)  # one line a run: the settings are elided, whole in the tooltip
        self.table_view.setColumnHidden(DELTA_COLUMN, True)  # until a baseline is chosen
        self.table_view.doubleClicked.connect(lambda _index: self._on_open_clicked())
        self.table_view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self._proxy.layoutChanged.connect(self._update_chart)  # a new sort order: the legend's too
        self.content_panel = StackedPanel(self.table_view, EMPTY_TEXT)

        self.chart = CompareChart()
        self.chart.message.connect(lambda text: self.status_label.setText(text))
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        table_part = QWidget()
        table_layout = QVBoxLayout(table_part)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.setSpacing(6)
        table_layout.addLayout(filters)
        table_layout.addWidget(self.content_panel, 1)
        self.splitter.addWidget(table_part)
        self.splitter.addWidget(self.chart)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([300, 600])  # the chart gets the room; the table scrolls

        self.status_label = plain(QLabel())  # run names, folders, errors
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status_label)

        # A run that trains: its row and curves follow at its epoch ends (while the tab is shown).
        self._live_timer = QTimer(self)
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(LIVE_REFRESH_MS)
        self._live_timer.timeout.connect(self._on_live_refresh)
        session.epoch_finished.connect(lambda _stats: self._live_timer.start() if not self._live_timer.isActive() else None)
        # A training that just ended has left a new run folder.
        session.state_changed.connect(self._on_training_state_changed)
        self._update_buttons()
        self.refresh()

    # ------------------------------------------------------------------ public API
    @Slot()
    def refresh(self) -> None:
        """Re-read the run folders and the changed histories (in the background)."""
        self._reading = True
        if not self._loaded_once:
            self.status_label.setText("Reading the runs…")
        # Listing reads JSON only, so it need not wait for torch to finish importing.
        self._state.run_in_background(_read_runs, self._root, self._cache, on_done=self._on_read,
                                      on_error=self._on_list_failed, key=f"{self._key}-list", before_engine=True)

    @property
    def reading(self) -> bool:
        """Whether a refresh is on its way (its rows have not arrived yet)."""
        return self._reading

    def runs(self) -> list[Any]:
        """The `RunInfo` records listed, in the engine's order (newest first)."""
        return [entry.info for entry in self._model.records]

    def shown_entries(self) -> list[RunEntry]:
        """The rows the filter lets through, in the order shown (sorted as the header says)."""
        return [self._entry_at(self._proxy.index(row, 0)) for row in range(self._proxy.rowCount())]

    def select_run(self, run_dir: str | Path) -> None:
        """Select the row of this run folder (alone)."""
        self.select_runs([run_dir])

    def select_runs(self, run_dirs: list[str | Path]) -> None:
        """Select the rows of these run folders (and no other): their curves are overlaid."""
        from PySide6.QtCore import QItemSelection, QItemSelectionModel

        rows = {Path(info.path): row for row, info in enumerate(self.runs())}
        selection = QItemSelection()
        for run_dir in run_dirs:
            if Path(run_dir) not in rows:
                raise ValueError(f"{run_dir} is not listed")
            index = self._proxy.mapFromSource(self._model.index(rows[Path(run_dir)], 0))
            if index.isValid():  # filtered out: not shown, so not selected
                selection.select(index, index)
        flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.table_view.selectionModel().select(selection, flags)
        if not selection.isEmpty():
            self.table_view.selectionModel().setCurrentIndex(
                selection.indexes()[0], QItemSelectionModel.SelectionFlag.NoUpdate)

    def _on_dynamics_clicked(self) -> None:
        runs = self.selected_runs()
        if len(runs) in (1, 2):
            self.dynamics_requested.emit(str(runs[0].path), str(runs[1].path) if len(runs) == 2 else None)

    def selected_runs(self) -> list[Any]:
        """The selected `RunInfo`s, in the order shown."""
        rows = sorted(index.row() for index in self.table_view.selectionModel().selectedRows())
        return [self._entry_at(self._proxy.index(row, 0)).info for row in rows]

    def selected_run(self) -> Any:
        """The selected `RunInfo` when exactly one run is selected, else None."""
        selected = self.selected_runs()
        return selected[0] if len(selected) == 1 else None

    def set_baseline(self, run_dir: str | Path | None) -> None:
        """Show each run's best top-1 minus this run's (None: no Δ column)."""
        self._baseline = None if run_dir is None else Path(run_dir)
        self._compare_shown()
        self.table_view.setColumnHidden(DELTA_COLUMN, self._baseline is None)
        self._fit_columns()  # "(baseline)" in its row, the Δ column
        self._update_buttons()

    def export_csv(self, path: str | Path) -> Path:
        """Write the rows shown, in the order shown, as CSV (`compare.write_csv`, atomic)."""
        from cnnstudio.training.experiments.compare import write_csv

        rows = [entry.row for entry in self.shown_entries() if entry.row is not None]
        try:
            written = write_csv(rows, path)
        except OSError as exc:
            raise CnnStudioError(f"cannot write {path}: {exc.strerror or exc}") from None
        self.status_label.setText(f"Saved {len(rows)} run{'s' if len(rows) != 1 else ''} as CSV to {written}")
        return written

    @Slot()
    def open_selected(self) -> None:
        """Load the selected run's chosen weights (best or last) and make it the model every tab uses."""
        self._on_open_clicked()

    # ------------------------------------------------------------------ events
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._loaded_once:
            self.refresh()

    def _on_training_state_changed(self, state: str) -> None:
        if state == TrainingState.IDLE:
            self.refresh()
        self._update_buttons()

    def _on_live_refresh(self) -> None:
        if self.isVisible() and not self._reading:
            self.refresh()

    def _on_read(self, result: tuple[list[Any], list[Any], dict[Path, Any]]) -> None:
        runs, rows, curves = result
        self._reading = False
        selected = [Path(info.path) for info in self.selected_runs()]
        self._loaded_once = True
        self._rows = {row.path: row for row in rows}
        self._curves = curves
        if self._baseline is not None and self._baseline not in self._rows:
            self._baseline = None
            self.table_view.setColumnHidden(DELTA_COLUMN, True)
        entries = [RunEntry(info, self._rows.get(Path(info.path))) for info in runs]
        self._update_status_choices(runs)
        same_rows = [e.path for e in self._model.records] == [e.path for e in entries]
        if same_rows and entries:
            self._model.replace_records(entries)  # a run that trains: the selection and scroll stay
        else:
            self._model.set_records(entries)
        self._compare_shown()
        if not same_rows:
            self._fit_columns()
        if runs:
            self.content_panel.show_content()
            if not same_rows:
                listed = {Path(info.path) for info in runs}
                self.select_runs([path for path in selected if path in listed])
        else:
            self.content_panel.show_empty(EMPTY_TEXT)
        where = self._root or _default_root()
        self.status_label.setText(f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {where}")
        self._update_chart()
        self._update_buttons()
        self.runs_read.emit()

    def _on_list_failed(self, exc: BaseException) -> None:
        self._reading = False
        self.content_panel.show_empty(f"Could not read the runs folder: {describe(exc)}")
        self.status_label.clear()

    def _fit_columns(self) -> None:
        """Each column as wide as its widest cell, up to MAX_COLUMN_WIDTH (a long "what differs",
        such as all tricks', is elided there and whole in its tooltip, and leaves the figures in view)."""
        self.table_view.resizeColumnsToContents()
        header = self.table_view.horizontalHeader()
        for column in range(header.count()):
            if header.sectionSize(column) > MAX_COLUMN_WIDTH:
                header.resizeSection(column, MAX_COLUMN_WIDTH)

    def _on_filter_changed(self, *_: Any) -> None:
        self._proxy.set_filter(self.filter_edit.text(), self.status_combo.currentData())
        self._compare_shown()
        self._fit_columns()  # "what differs" names other settings among other runs
        self._update_chart()  # a selected run the filter hides is no longer drawn
        self._update_buttons()

    def _on_selection_changed(self, *_: Any) -> None:
        self._update_chart()
        self._update_buttons()
        # A drawn run's colour swatch joins its name: the Run column grows to keep the name whole.
        header = self.table_view.horizontalHeader()
        wanted = min(self.table_view.sizeHintForColumn(0), MAX_COLUMN_WIDTH)
        if header.sectionSize(0) < wanted:
            header.resizeSection(0, wanted)

    def _update_status_choices(self, runs: list[Any]) -> None:
        chosen = self.status_combo.currentData()
        statuses = sorted({info.status for info in runs} | ({chosen} - {ALL_STATUSES}))
        if [self.status_combo.itemData(i) for i in range(1, self.status_combo.count())] == statuses:
            return
        self.status_combo.blockSignals(True)
        while self.status_combo.count() > 1:
            self.status_combo.removeItem(1)
        for status in statuses:
            self.status_combo.addItem(status, status)
        self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(chosen)))
        self.status_combo.blockSignals(False)

    # ------------------------------------------------------------------ comparing
    def _entry_at(self, proxy_index: QModelIndex) -> RunEntry:
        return self._model.record(self._proxy.mapToSource(proxy_index).row())

    def _compare_shown(self) -> None:
        """Name the differences among the runs shown (and the Δ to the baseline) in their rows."""
        from cnnstudio.training.experiments.compare import compare_rows

        shown = {entry.path for entry in self.shown_entries()}
        own = [row for path, row in self._rows.items() if path in shown]
        compared = {row.path: row for row in compare_rows(own, baseline=self._baseline)}
        entries = [RunEntry(e.info, compared.get(e.path, self._rows.get(e.path)), baseline=e.path == self._baseline)
                   for e in self._model.records]
        if entries:
            self._model.replace_records(entries)

    def _update_chart(self) -> None:
        """Overlay the selected runs' curves, labelled by their variant (and, where two share
        one, by what differs)."""
        chosen = [entry for entry in self._selected_entries() if entry.row is not None and entry.path in self._curves]
        labels = [entry.row.variant for entry in chosen]
        for i, entry in enumerate(chosen):
            if labels.count(entry.row.variant) > 1 and entry.row.distinct:
                labels[i] = f"{entry.row.variant} · {entry.row.distinct_text}"
        for i, entry in enumerate(chosen):
            if labels.count(labels[i]) > 1:
                labels[i] = f"{labels[i]} · {entry.info.name}"
        self.chart.set_runs([ChartRun(entry.path, label, self._curves[entry.path])
                             for entry, label in zip(chosen, labels)])
        self._model.refresh_values()  # the swatches of the runs drawn

    def _selected_entries(self) -> list[RunEntry]:
        rows = sorted(index.row() for index in self.table_view.selectionModel().selectedRows())
        return [self._entry_at(self._proxy.index(row, 0)) for row in rows]

    def _swatch(self, entry: RunEntry) -> Any:
        return self.chart.colour(entry.path)

    def _update_buttons(self, *_: Any) -> None:
        selected = self.selected_run()
        has = selected is not None
        usable = has and selected.readable  # an unreadable folder can only be revealed
        training = self._session.state != TrainingState.IDLE
        self.open_button.setEnabled(usable)
        self.resume_button.setEnabled(usable and not training)
        self.resume_button.setToolTip(
            "Stop the current training first" if training else "Continue training this run where it stopped")
        self.overlay_button.setEnabled(usable)
        self.export_button.setEnabled(usable and self._export_job is None)
        self.reveal_button.setEnabled(has)
        self.dynamics_button.setEnabled(len(self.selected_runs()) in (1, 2))
        is_baseline = has and self._baseline is not None and Path(selected.path) == self._baseline
        self.baseline_button.setText("Clear baseline" if is_baseline else "Set as baseline")
        self.baseline_button.setEnabled(is_baseline or (usable and Path(selected.path) in self._rows))
        self.baseline_button.setToolTip("Stop comparing with this run" if is_baseline else
                                        "Add a Δ top-1 column: each run's best top-1 minus this run's")
        self.export_csv_button.setEnabled(any(entry.row is not None for entry in self.shown_entries()))

    # ------------------------------------------------------------------ actions
    def _on_baseline_clicked(self) -> None:
        info = self.selected_run()
        if info is not None:
            self.set_baseline(None if Path(info.path) == self._baseline else info.path)

    def _on_export_csv_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the table", "runs-compared.csv", "CSV (*.csv)")
        if path:
            try:
                self.export_csv(path)
            except CnnStudioError as exc:
                self.status_label.setText(f"The table was not saved: {describe(exc)}")

    def _on_open_clicked(self) -> None:
        info = self.selected_run()
        if info is None:
            return
        self.status_label.setText(f"Opening {info.name}…")
        run_dir = str(info.path)
        self._state.run_in_background(ModelHandle.from_run, run_dir, self.checkpoint_combo.currentData(),
                                      on_done=lambda handle: self._on_opened(run_dir, handle),
                                      on_error=self._on_open_failed, key=f"{self._key}-open")

    def _on_opened(self, run_dir: str, handle: ModelHandle) -> None:
        self._state.model_handle = handle
        self.status_label.setText(f"Opened {Path(run_dir).name}: the other tabs now inspect and classify with its weights.")
        self._state.report("info", f"Opened {handle.describe()}")

    def _on_open_failed(self, exc: BaseException) -> None:
        text = describe(exc)
        self.status_label.setText(f"Could not open the run: {text}")
        self._state.report("error", f"Could not open the run: {text}")

    def _on_resume_clicked(self) -> None:
        info = self.selected_run()
        if info is not None:
            self.resume_requested.emit(str(info.path))

    def _on_overlay_clicked(self) -> None:
        info = self.selected_run()
        if info is None:
            return
        history = info.history()
        if not history:
            self._state.report("warning", f"{info.name} has no finished epoch to draw yet")
            return
        self.overlay_requested.emit(info.name, history)

    def _on_export_clicked(self) -> None:
        info = self.selected_run()
        if info is None:
            return
        path, chosen = QFileDialog.getSaveFileName(self, f"Export {info.name}", str(info.path / "model.onnx"),
                                                   "ONNX (*.onnx);;torch.export program (*.pt2)")
        if path:
            self.export_run(str(info.path), path)

    def export_run(self, run_dir: str, path: str) -> None:
        """Export the run's best weights to `path` (.onnx or .pt2) in the background, verified."""
        fmt = "pt2" if path.endswith(".pt2") else "onnx"
        self.status_label.setText(f"Exporting to {path}…")

        def done(report: Any) -> None:
            self._export_job = None
            self._update_buttons()
            self.status_label.setText(
                f"Exported {report.path} ({report.size_bytes / 1e6:.1f} MB): on batches of "
                f"{' and '.join(map(str, report.batch_sizes))} it gives PyTorch's outputs (max |Δ| "
                f"{report.max_abs_diff:.1e}); {report.sidecar} holds its classes and input")

        def failed(exc: BaseException) -> None:
            self._export_job = None
            self._update_buttons()
            self.status_label.setText(f"Not exported: {describe(exc)}")

        self._export_job = self._state.run_in_background(
            _export, run_dir, fmt, path, on_done=done, on_error=failed, key=f"{self._key}-export",
            on_progress=lambda d, t: self.status_label.setText(f"Exporting to {path}… step {d} of {t}"))
        self._update_buttons()

    def _on_reveal_clicked(self) -> None:
        info = self.selected_run()
        if info is not None and not QDesktopServices.openUrl(QUrl.fromLocalFile(str(info.path))):
            self._state.report("warning", f"Could not open a file browser; the run is in {info.path}")


def _default_root() -> str:
    from cnnstudio.training.store.runs import default_runs_dir

    return str(default_runs_dir())
