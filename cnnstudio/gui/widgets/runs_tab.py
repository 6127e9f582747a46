"""The Runs tab: past trainings, to open (inspect and classify with), resume or compare.

The list is read from the run folders by the engine (`runs.list_runs`, JSON only) off
the GUI thread. Opening a run rebuilds its network with its best (or last) weights in the
background and makes it the model every other tab inspects; resuming and overlaying
curves are requests the window routes to the Training tab.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.errors import describe
from cnnstudio.gui.format import format_percent
from cnnstudio.gui.session import TrainingSession, TrainingState
from cnnstudio.gui.state import ModelHandle, StudioState
from cnnstudio.gui.text import plain, tooltip
from cnnstudio.gui.widgets.image_grid import StackedPanel
from cnnstudio.gui.widgets.table_models import Column, record_table

__all__ = ["RunsTab", "run_columns"]

EMPTY_TEXT = (
    "No runs yet.\n\nEvery training is saved as a run: its settings, curves and best weights.\n"
    "Press Start in the Training tab, and the run appears here to open, resume or compare."
)


def _dataset_name(dataset: str) -> str:
    """A catalog name as is; a folder dataset (stored as its path) by its folder's name."""
    if "/" not in dataset and "\\" not in dataset:
        return dataset
    return Path(dataset.rstrip("/\\")).name or dataset


def run_columns() -> list[Column]:
    """The Runs table's columns over `runs.RunInfo` (and `UnreadableRun`) records."""
    return [
        Column("Run", lambda r: r.variant if r.readable else r.name, tooltip=lambda r: tooltip(str(r.path))),
        Column("Dataset", lambda r: _dataset_name(r.dataset), tooltip=lambda r: tooltip(r.dataset)),
        Column("Date", lambda r: r.created.strftime("%Y-%m-%d %H:%M") if r.created else "–",
               sort_key=lambda r: r.created.timestamp() if r.created else 0.0),
        Column("Status", lambda r: r.status),
        # Where the checkpoint on disk stands ("stopped in epoch 1 at batch 10/36"), or what is wrong.
        Column("Progress", lambda r: r.progress_text, sort_key=lambda r: r.epochs_done,
               tooltip=lambda r: tooltip("\n".join((r.progress_text, *r.problems)))),
        Column("Best val accuracy", lambda r: format_percent(r.best_val_acc),
               sort_key=lambda r: -1.0 if r.best_val_acc is None else r.best_val_acc, numeric=True),
        Column("Settings", lambda r: r.hyperparameters_text, tooltip=lambda r: tooltip(r.scan_summary or "")),
    ]


def _export(run_dir: str, fmt: str, path: str, *, progress: Any, cancel: Any) -> Any:
    """Background job: the engine's verified export of a run (an `ExportReport`)."""
    from cnnstudio.training.export import export_run

    return export_run(run_dir, fmt, path, progress=progress, cancel=cancel)


def _list_runs(root: str | None) -> list[Any]:
    from cnnstudio.training.runs import list_runs

    return list_runs(root)


class RunsTab(QWidget):
    """Past runs: open one for inspection, resume it, overlay its curves, or reveal its folder."""

    #: The user asked to continue training this run folder (the window starts a resume).
    resume_requested = Signal(str)
    #: The user asked to draw this run's curves beside the current ones: (run name, list[EpochStats]).
    overlay_requested = Signal(str, list)
    #: A run was opened and is now the state's model (its folder).
    run_opened = Signal(str)

    def __init__(self, state: StudioState, session: TrainingSession, parent: QWidget | None = None, *,
                 root: str | Path | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._session = session
        self._root = str(root) if root is not None else None
        self._key = f"runs-tab-{id(self)}"
        self._loaded_once = False
        self._export_job: Any = None

        self.refresh_button = QPushButton("Refresh")
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Load the run's weights to inspect and classify with them")
        self.checkpoint_combo = QComboBox()
        self.checkpoint_combo.addItem("best weights", "best")
        self.checkpoint_combo.addItem("last weights", "last")
        self.checkpoint_combo.setToolTip("Open the epoch with the best validation accuracy (best.pt), or the last one")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue training this run where it stopped")
        self.overlay_button = QPushButton("Overlay curves")
        self.overlay_button.setToolTip("Draw this run's curves beside the current training's")
        self.reveal_button = QPushButton("Reveal folder")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the run's best weights as ONNX or a torch.export program (.pt2), "
                                      "checked against PyTorch before it is kept")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.overlay_button.clicked.connect(self._on_overlay_clicked)
        self.reveal_button.clicked.connect(self._on_reveal_clicked)
        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(self.open_button)
        bar.addWidget(self.checkpoint_combo)
        for button in (self.resume_button, self.overlay_button, self.export_button, self.reveal_button):
            bar.addWidget(button)
        bar.addStretch(1)
        bar.addWidget(self.refresh_button)

        self._model, self.table_view = record_table(run_columns(), self)
        self.table_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table_view.horizontalHeader().setStretchLastSection(True)
        self.table_view.doubleClicked.connect(lambda _index: self._on_open_clicked())
        self.table_view.selectionModel().selectionChanged.connect(self._update_buttons)
        self.content_panel = StackedPanel(self.table_view, EMPTY_TEXT)

        self.status_label = plain(QLabel())  # run names, folders, errors
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(bar)
        layout.addWidget(self.content_panel, 1)
        layout.addWidget(self.status_label)

        # A training that just ended has left a new run folder.
        session.state_changed.connect(self._on_training_state_changed)
        self._update_buttons()
        self.refresh()

    # ------------------------------------------------------------------ public API
    @Slot()
    def refresh(self) -> None:
        """Re-read the run folders (in the background)."""
        # Listing reads JSON only, so it need not wait for torch to finish importing.
        self._state.run_in_background(_list_runs, self._root, on_done=self._on_listed,
                                      on_error=self._on_list_failed, key=f"{self._key}-list", before_engine=True)

    def runs(self) -> list[Any]:
        """The `RunInfo` records listed, in the engine's order (newest first)."""
        return self._model.records

    def select_run(self, run_dir: str | Path) -> None:
        """Select the row of this run folder."""
        for row, info in enumerate(self._model.records):
            if Path(info.path) == Path(run_dir):
                self.table_view.selectRow(self.table_view.model().mapFromSource(self._model.index(row, 0)).row())
                return
        raise ValueError(f"{run_dir} is not listed")

    def selected_run(self) -> Any:
        """The selected `RunInfo`, or None."""
        rows = self.table_view.selectionModel().selectedRows()
        if not rows:
            return None
        return self._model.record(self.table_view.model().mapToSource(rows[0]).row())

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

    def _on_listed(self, runs: list[Any]) -> None:
        selected = self.selected_run()
        self._loaded_once = True
        self._model.set_records(runs)
        if runs:
            self.content_panel.show_content()
            if selected is not None and any(r.path == selected.path for r in runs):
                self.select_run(selected.path)
        else:
            self.content_panel.show_empty(EMPTY_TEXT)
        where = self._root or _default_root()
        self.status_label.setText(f"{len(runs)} run{'s' if len(runs) != 1 else ''} in {where}")
        self._update_buttons()

    def _on_list_failed(self, exc: BaseException) -> None:
        self.content_panel.show_empty(f"Could not read the runs folder: {exc}")
        self.status_label.clear()

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

    # ------------------------------------------------------------------ actions
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
        self.run_opened.emit(run_dir)

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
    from cnnstudio.training.runs import default_runs_dir

    return str(default_runs_dir())
