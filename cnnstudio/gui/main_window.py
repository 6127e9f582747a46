"""The main window: setup panel on the left, tabs on the right, status bar below.

It wires the pieces together and owns the lifecycle: the background import of torch after
the first paint, one training run at a time through `TrainingController`, every error
shown as a message with the UI back to idle, and a close that stops training
cooperatively, lets the trainer write last.pt, and only then lets the window go.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QWidget,
)

from cnnstudio.errors import CnnStudioError, DownloadError
from cnnstudio.gui.setup_panel import SetupPanel
from cnnstudio.gui.state import StudioState
from cnnstudio.gui.style import icon
from cnnstudio.gui.training_tab import TrainingTab
from cnnstudio.gui.worker import TrainingController

__all__ = ["MainWindow", "TAB_TITLES", "import_engine"]

# (module under cnnstudio.gui.widgets, class, tab title) — in the order the tabs appear.
_INSPECTION_TABS = (
    ("layers_tab", "LayersTab", "Layers"),
    ("kernels_tab", "KernelsTab", "Kernels"),
    ("feature_maps_tab", "FeatureMapsTab", "Feature maps"),
    ("classify_tab", "ClassifyTab", "Classify"),
    ("runs_tab", "RunsTab", "Runs"),
)
TAB_TITLES = ("Training", *(title for _, _, title in _INSPECTION_TABS))
# Tabs that show the model's weights at work: opened during a fit, they get a copy of the
# weights as they are then, not only at epoch ends (a VGG epoch on a CPU lasts minutes).
_LIVE_MODEL_TABS = ("Kernels", "Feature maps", "Classify")

_ENGINE_MODULES = (
    "torch",
    "torchvision",
    "cnnstudio.models.registry",
    "cnnstudio.data.transforms",
    "cnnstudio.inspect.summary",
    "cnnstudio.training.trainer",
)


def import_engine() -> None:
    """Import torch, torchvision and the engine's heavy modules (run off the GUI thread)."""
    # The import creates ~350,000 objects that live as long as the app. Collecting while it
    # runs frees next to nothing and took 0.5 s of a 2 s import; afterwards one collection
    # drops the import's garbage and freeze() moves the rest out of the collector's sight,
    # so later full collections (each a pause for every thread) need not walk them.
    gc.disable()
    try:
        for name in _ENGINE_MODULES:
            importlib.import_module(name)
    finally:
        gc.enable()
    gc.collect()
    gc.freeze()


def _make_tab(module: str, class_name: str, state: StudioState) -> QWidget:
    tab_class = getattr(importlib.import_module(f"cnnstudio.gui.widgets.{module}"), class_name)
    return tab_class(state)


def describe_error(exc: BaseException) -> str:
    """One line for the user: the engine's own message, or a plain account of a bug."""
    if isinstance(exc, CnnStudioError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Out of memory: try a smaller batch size or input size."
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"Training failed: {type(exc).__name__}{': ' + text if text else ''}"


class MainWindow(QMainWindow):
    """cnnstudio's window: pick, train live, look inside."""

    def __init__(self, state: StudioState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else StudioState(self)
        self.controller = TrainingController(self)
        self.error_box: QMessageBox | None = None
        self._close_pending = False
        self._import_started = False
        self._snapshot_batch: tuple[int, int] | None = None  # (epoch, batch) of the weights on show
        self.setWindowTitle("cnnstudio")
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        # No docks or toolbars to animate; animated, every relayout (a status text) slid the
        # central widget's geometry at 60 frames a second, repainting the whole window.
        self.setAnimated(False)

        self.setup_panel = SetupPanel(self.state)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(False)
        self.training_tab = TrainingTab(self.state)
        self.tabs.addTab(self.training_tab, "Training")
        self.inspection_tabs: dict[str, QWidget] = {}
        for module, class_name, title in _INSPECTION_TABS:
            tab = _make_tab(module, class_name, self.state)
            self.inspection_tabs[title] = tab
            self.tabs.addTab(tab, title)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.setup_panel)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes([340, 940])
        self.setCentralWidget(self.splitter)

        self.status_label = QLabel("Loading PyTorch…")
        self.device_label = QLabel("Device: …")
        self.device_label.setToolTip("The device training runs on")
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.device_label)

        self._build_actions()
        self._connect()
        self._restore_settings()

    # ------------------------------------------------------------------ building
    def _build_actions(self) -> None:
        def action(text: str, shortcut: QKeySequence | str, slot: Callable[[], None], icon_name: str = "") -> QAction:
            act = QAction(icon(icon_name), text, self)
            act.setShortcut(QKeySequence(shortcut))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        self.start_action = action("&Start training", "Ctrl+Return", self.start_training, "start")
        self.pause_action = action("&Pause / resume", "Ctrl+P", self.toggle_pause, "pause")
        self.stop_action = action("S&top", "Ctrl+.", self.stop_training, "stop")
        self.open_folder_action = action("Open image &folder…", QKeySequence.StandardKey.Open,
                                         self._open_folder, "folder")
        self.quit_action = action("&Quit", QKeySequence.StandardKey.Quit, self.close)

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_folder_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        train_menu = self.menuBar().addMenu("&Training")
        for act in (self.start_action, self.pause_action, self.stop_action):
            train_menu.addAction(act)
        view_menu = self.menuBar().addMenu("&View")
        for index, title in enumerate(TAB_TITLES):
            act = QAction(title, self)
            act.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
            act.triggered.connect(lambda _checked=False, i=index: self.tabs.setCurrentIndex(i))
            view_menu.addAction(act)

    def _connect(self) -> None:
        state, panel, tab, ctl = self.state, self.setup_panel, self.training_tab, self.controller
        panel.start_requested.connect(self.start_training)
        panel.pause_requested.connect(self.toggle_pause)
        panel.stop_requested.connect(self.stop_training)
        state.message.connect(self._on_message)
        state.training_state_changed.connect(self._on_training_state_changed)
        state.engine_ready.connect(self._on_engine_ready)
        ctl.started.connect(self._on_fit_started)
        ctl.loading.connect(self._on_loading)
        # The fit's own copy of the data serves the Feature maps tab's validation images.
        ctl.dataset_loaded.connect(self.inspection_tabs["Feature maps"].use_dataset)
        ctl.progress.connect(tab.on_progress)
        ctl.epoch_finished.connect(tab.on_epoch)
        ctl.model_snapshot.connect(self._on_model_snapshot)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        ctl.notice.connect(lambda text: self._on_message("warning", text))
        ctl.finished.connect(self._on_fit_finished)
        classify, maps, runs = (self.inspection_tabs.get(t) for t in ("Classify", "Feature maps", "Runs"))
        if classify is not None and maps is not None:
            classify.image_selected.connect(maps.show_image)  # the last dropped image feeds Feature maps
        if classify is not None:
            # Files dropped in a fit's first epoch need not wait for its end.
            classify.model_wanted.connect(self._on_model_wanted)
        if runs is not None:
            runs.resume_requested.connect(self.resume_run)
            runs.overlay_requested.connect(self._on_overlay_requested)
        self._on_training_state_changed(state.training_state)

    # ------------------------------------------------------------------ engine import
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        """Start importing torch once the window is on screen (after its first paint)."""
        super().showEvent(event)
        if not self._import_started:
            self._import_started = True
            QTimer.singleShot(0, self.start_engine_import)

    def start_engine_import(self) -> None:
        """Import the heavy engine modules in the background; `engine_ready` fires when done."""
        if self.state.torch_ready:
            self._on_engine_ready()
            return
        self._set_status("Loading PyTorch…")
        self.state.run_in_background(import_engine, on_done=lambda _: self.state.mark_torch_ready(),
                                     on_error=self._on_import_failed, key="engine-import",
                                     before_engine=True)

    def _on_import_failed(self, exc: BaseException) -> None:
        self.show_error(f"PyTorch could not be loaded, so training and inspection are unavailable: {exc}")
        self._set_status("PyTorch could not be loaded")

    @Slot()
    def _on_engine_ready(self) -> None:
        self._import_started = True
        self.device_label.setText(f"Device: {self.setup_panel.device_label()}")
        self._on_training_state_changed(self.state.training_state)
        self._set_status("Ready — press Start (Ctrl+Return) to train")

    # ------------------------------------------------------------------ training
    @Slot()
    def start_training(self) -> None:
        """Validate the setup and start a fit on the worker thread."""
        if self.controller.active or self.state.training_state != "idle":
            return
        if not self.state.torch_ready:
            self._set_status("PyTorch is still loading; Start will be available in a moment")
            return
        config = self.setup_panel.config()
        try:
            config.validate()
        except CnnStudioError as exc:
            self.show_error(str(exc))
            return
        self.training_tab.reset()
        self.tabs.setCurrentWidget(self.training_tab)
        self.state.training_state = "running"
        self._set_status(f"Preparing {config.arch} on {config.dataset}…")
        self.controller.start(config)

    @Slot(str)
    def resume_run(self, run_dir: str) -> None:
        """Continue a saved run where it stopped, in its own folder, with its own settings.

        A finished run is extended by the number of epochs the setup panel shows.
        """
        if self.controller.active or self.state.training_state != "idle":
            self.show_error("A training is running; stop it before resuming another run.")
            return
        from cnnstudio.training.runs import open_run

        try:
            run = open_run(run_dir)
            config = run.config
        except CnnStudioError as exc:
            self.show_error(str(exc))
            return
        if run.epochs_done >= config.epochs:
            config = config.replace(epochs=run.epochs_done + int(self.setup_panel.epochs_spin.value()))
        self.setup_panel.apply_config(config)
        self.training_tab.reset()
        self.training_tab.add_overlay(f"{run.name} (before resume)", run.metrics())
        self.tabs.setCurrentWidget(self.training_tab)
        self.state.training_state = "running"
        self._set_status(f"Resuming {run.name} at epoch {run.epochs_done + 1} of {config.epochs}…")
        self.controller.start(config, run_dir=run_dir, resume=True)

    def _on_overlay_requested(self, run_dir: str, metrics: list) -> None:
        self.training_tab.add_overlay(Path(run_dir).name, metrics)
        self.tabs.setCurrentWidget(self.training_tab)

    @Slot()
    def toggle_pause(self) -> None:
        """Pause a running fit, or resume a paused one."""
        if self.state.training_state == "running":
            self.controller.pause()
            self.state.training_state = "paused"
            self._set_status("Paused — press Resume (Ctrl+P) to go on")
        elif self.state.training_state == "paused":
            self.controller.resume()
            self.state.training_state = "running"
            self._set_status("Training…")

    @Slot()
    def stop_training(self) -> None:
        """Ask the fit to stop after the current batch; the run and last.pt are kept."""
        if not self.controller.active:
            return
        if self.state.training_state == "paused":
            self.controller.resume()  # a paused trainer must wake up to see the stop
        self.controller.request_stop()
        self.state.training_state = "stopping"
        self._set_status("Stopping after the current batch…")

    def _on_fit_started(self, info: Any) -> None:
        # The device list's own name for it ("CPU", the GPU's name), not torch's "cuda:0".
        combo = self.setup_panel.device_combo
        index = combo.findData(info.device)
        device = combo.itemText(index) if index >= 0 else info.device
        self.training_tab.on_started(info, device_name=device)
        self._snapshot_batch = None
        if info.spec is not None:
            self.state.spec = info.spec
        self.device_label.setText(f"Device: {device}")
        if self.state.training_state == "running":
            self._set_status(f"Training {info.arch} on {info.spec.name}…")

    def _on_loading(self, done: int, total: int, message: str) -> None:
        self.training_tab.show_loading(done, total, message)
        self._set_status(f"{message or 'Loading the dataset…'} — Stop cancels")

    def _on_model_snapshot(self, handle: Any) -> None:
        self.state.model_handle = handle
        stats = self.training_tab.latest_batch  # an epoch end: its last batch
        self._snapshot_batch = (stats.epoch, stats.batch) if stats is not None else None

    def _on_model_wanted(self) -> None:
        if self.state.training_state in ("running", "paused"):
            self.request_live_snapshot()

    def _on_tab_changed(self, index: int) -> None:
        if self.state.training_state in ("running", "paused") and self.tabs.tabText(index) in _LIVE_MODEL_TABS:
            self.request_live_snapshot()

    def request_live_snapshot(self) -> None:
        """Show the inspection tabs the running fit's weights as they are now (copied in the
        background); nothing when the weights on show are already from the latest batch."""
        stats, worker = self.training_tab.latest_batch, self.controller.worker
        if stats is None or worker is None or (stats.epoch, stats.batch) == self._snapshot_batch:
            return
        self._snapshot_batch = (stats.epoch, stats.batch)
        shown = self.state.model_handle

        def show(handle: Any) -> None:
            # Dropped when an epoch-end snapshot (newer) came meanwhile, or the fit ended.
            if handle is not None and self.state.model_handle is shown:
                self.state.model_handle = handle

        self.state.run_in_background(
            worker.live_snapshot(), f"live · epoch {stats.epoch}, batch {stats.batch} of {stats.num_batches}",
            on_done=show, key="live-snapshot")

    def _on_fit_finished(self, result: Any, error: BaseException | None) -> None:
        self.training_tab.on_finished(result, failed=error is not None)
        self.state.training_state = "idle"
        if isinstance(error, DownloadError):
            self.show_error(f"{describe_error(error)}\n\nPut the files there by hand, or connect and retry.",
                            retry=self.start_training)
            self._set_status("The dataset could not be downloaded")
        elif error is not None:
            self.show_error(describe_error(error))
            self._set_status("Training ended with an error; saved runs are untouched")
        elif result is not None:
            self._set_status(f"{'Stopped' if result.stopped_early else 'Finished'} — run saved in {result.run_dir}")
        if self._close_pending:
            self.close()

    # ------------------------------------------------------------------ messages & status
    def show_error(self, text: str, *, retry: Callable[[], None] | None = None) -> None:
        """Show `text` in a window-modal message box that does not block the event loop.

        With `retry`, the box offers a Retry button that calls it (a failed download, say).
        """
        if self.error_box is not None:
            self.error_box.close()
        buttons = QMessageBox.StandardButton.Ok
        if retry is not None:
            buttons = QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Cancel
        box = QMessageBox(QMessageBox.Icon.Warning, "cnnstudio", text, buttons, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _result, b=box: self._forget_box(b))
        if retry is not None:
            # Queued: the box finishes closing before the retry can show a new one.
            box.button(QMessageBox.StandardButton.Retry).clicked.connect(lambda: QTimer.singleShot(0, retry))
        self.error_box = box
        box.open()

    def _forget_box(self, box: QMessageBox) -> None:
        if self.error_box is box:
            self.error_box = None

    @Slot(str, str)
    def _on_message(self, level: str, text: str) -> None:
        if level == "error":
            self.show_error(text)
        else:
            self.statusBar().showMessage(text, 8000)

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def _on_training_state_changed(self, training: str) -> None:
        idle = training == "idle"
        self.start_action.setEnabled(idle and self.state.torch_ready)
        self.setup_panel.start_button.setEnabled(idle and self.state.torch_ready)
        self.pause_action.setEnabled(training in ("running", "paused"))
        self.stop_action.setEnabled(training in ("running", "paused"))
        self.open_folder_action.setEnabled(idle)
        if idle and not self.state.torch_ready:
            self.setup_panel.start_button.setToolTip("PyTorch is loading…")
        else:
            self.setup_panel.start_button.setToolTip("Start training (Ctrl+Return)")

    def _open_folder(self) -> None:
        combo = self.setup_panel.dataset_combo
        index = combo.count() - 1  # "Open image folder…" is always last
        combo.setCurrentIndex(index)
        combo.activated.emit(index)

    # ------------------------------------------------------------------ drops
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        """Accept files dragged anywhere on the window (the Classify tab judges them)."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        """Classify dropped image files: show the Classify tab and hand it the drop."""
        classify = self.inspection_tabs.get("Classify")
        handler = getattr(classify, "classify_mime", None)
        if handler is None:
            return
        self.tabs.setCurrentWidget(classify)
        if handler(event.mimeData()):
            event.acceptProposedAction()

    # ------------------------------------------------------------------ settings & lifecycle
    def _restore_settings(self) -> None:
        settings = QSettings()
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self._default_geometry()
        splitter = settings.value("window/splitter")
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.splitter.restoreState(splitter)
        self.setup_panel.restore_settings(settings)
        tab = settings.value("window/tab", 0)
        try:
            self.tabs.setCurrentIndex(int(tab))
        except (TypeError, ValueError):
            pass

    def _default_geometry(self) -> None:
        screen = QGuiApplication.primaryScreen()
        width, height = 1280, 800
        if screen is not None:
            available = screen.availableGeometry()
            width, height = min(width, available.width()), min(height, available.height())
        self.resize(width, height)

    def save_settings(self) -> None:
        """Remember the geometry, the panel's choices and the open tab."""
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/splitter", self.splitter.saveState())
        settings.setValue("window/tab", self.tabs.currentIndex())
        self.setup_panel.save_settings(settings)
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Stop training cooperatively first; the window closes once the worker has saved."""
        if self.controller.active:
            self._close_pending = True
            self.stop_training()
            self._set_status("Saving the last checkpoint, then closing…")
            event.ignore()
            return
        self.save_settings()
        self.state.wait_for_background()
        event.accept()

    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Stop everything and wait (blocking) — for application exit paths that skip closeEvent."""
        if self.controller.active:
            self.controller.request_stop()
            self.controller.wait(timeout_ms)
        self.state.wait_for_background(timeout_ms)
