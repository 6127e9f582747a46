"""The main window: setup panel on the left, tabs on the right, status bar below.

It keeps layout, actions, settings, messages and drops. A fit's whole life is the
`TrainingSession`'s (`gui/session.py`): the window hands it `SetupPanel.config()` and
shows what it says; the tabs listen to the session and the shared `StudioState`
themselves. Closing stops a fit cooperatively, lets the trainer write last.pt, and only
then lets the window go.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Slot
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QWidget,
)

from cnnstudio.errors import describe
from cnnstudio.gui.training.queue_panel import QueuePanel
from cnnstudio.gui.training.session import TrainingSession, TrainingState
from cnnstudio.gui.training.setup_panel import SetupPanel
from cnnstudio.gui.state import ModelHandle, StudioState
from cnnstudio.gui.style import icon
from cnnstudio.gui.text import plain
from cnnstudio.gui.training.training_tab import TrainingTab
from cnnstudio.gui.inspection.classify_tab import ClassifyTab
from cnnstudio.gui.inspection.data_tab import DataTab
from cnnstudio.gui.inspection.dynamics_tab import DynamicsTab
from cnnstudio.gui.inspection.graph_tab import GraphTab
from cnnstudio.gui.inspection.evaluate_tab import EvaluateTab
from cnnstudio.gui.inspection.feature_maps_tab import FeatureMapsTab
from cnnstudio.gui.inspection.features_tab import FeaturesTab
from cnnstudio.gui.inspection.kernels_tab import KernelsTab
from cnnstudio.gui.inspection.layers_tab import LayersTab
from cnnstudio.gui.runs.runs_tab import RunsTab

__all__ = ["MainWindow", "TAB_TITLES"]

TAB_TITLES = ("Training", "Dynamics", "Data", "Layers", "Graph", "Kernels", "Feature maps", "Features", "Classify",
              "Evaluate", "Runs")
# The tabs' least size: with the form (at most 420 px) the window fits a 1366×768 laptop screen.
MIN_TABS_WIDTH, MIN_TABS_HEIGHT = 760, 420


class MainWindow(QMainWindow):
    """cnnstudio's window: pick, train live, look inside."""

    def __init__(self, state: StudioState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else StudioState(self)
        self.session = TrainingSession(self.state, self)
        self.error_box: QMessageBox | None = None
        self._close_pending = False
        self._import_started = False
        self.setWindowTitle("cnnstudio")
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        # No docks or toolbars to animate; animated, every relayout (a status text) slid the
        # central widget's geometry at 60 frames a second, repainting the whole window.
        self.setAnimated(False)

        state, session = self.state, self.session
        self.setup_panel = SetupPanel(state, session)
        self.training_tab = TrainingTab(state, session)
        self.dynamics_tab = DynamicsTab(state)
        self.data_tab = DataTab(state, self.setup_panel.config)  # the form's seed and fraction: the run's split
        self.layers_tab = LayersTab(state)
        self.graph_tab = GraphTab(state)
        self.kernels_tab = KernelsTab(state)
        self.feature_maps_tab = FeatureMapsTab(state)
        self.features_tab = FeaturesTab(state)
        self.classify_tab = ClassifyTab(state)
        self.evaluate_tab = EvaluateTab(state)
        self.runs_tab = RunsTab(state, session)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(False)
        for tab, title in zip(self._tab_widgets(), TAB_TITLES):
            self.tabs.addTab(tab, title)

        # The queue sits under the form, in view whichever tab shows the curves.
        self.queue_panel = QueuePanel(state, session)
        self.left_splitter = QSplitter(Qt.Orientation.Vertical)
        self.left_splitter.addWidget(self.setup_panel)
        self.left_splitter.addWidget(self.queue_panel)
        self.left_splitter.setStretchFactor(0, 1)
        self.left_splitter.setStretchFactor(1, 0)
        self.left_splitter.setCollapsible(0, False)
        self.left_splitter.setCollapsible(1, True)  # drag it down to give the form all the height
        self.left_splitter.setSizes([600, 170])  # the form gets the room; an empty queue needs little
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.left_splitter)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setCollapsible(0, False)
        self.splitter.setSizes([340, 940])
        # The window never grows unasked: a tab's content (a long caption, a row of controls)
        # must not raise the window's minimum size past a laptop's screen; the page is laid out
        # in what the tab gets instead.
        self.tabs.setMinimumSize(MIN_TABS_WIDTH, MIN_TABS_HEIGHT)
        self.setCentralWidget(self.splitter)

        self.status_label = plain(QLabel("Loading PyTorch…"))  # run names, paths, errors: the user's text
        self.device_label = plain(QLabel("Device: …"))
        self.device_label.setToolTip("The device training runs on")
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.device_label)

        self._build_actions()
        self._connect()
        self._restore_settings()

    def _tab_widgets(self) -> tuple[QWidget, ...]:
        """The tabs in TAB_TITLES' order."""
        return (self.training_tab, self.dynamics_tab, self.data_tab, self.layers_tab, self.graph_tab, self.kernels_tab, self.feature_maps_tab,
                self.features_tab, self.classify_tab, self.evaluate_tab, self.runs_tab)

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
        self.pause_action = action("&Pause / resume", "Ctrl+P", self.session.toggle_pause, "pause")
        self.stop_action = action("S&top", "Ctrl+.", self.session.stop, "stop")
        self.open_folder_action = action("Open image &folder…", QKeySequence.StandardKey.Open,
                                         self._open_folder, "folder")
        self.quit_action = action("&Quit", QKeySequence.StandardKey.Quit, self.close)

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_folder_action)
        # torchvision's ImageNet weights: drop a photo for its ImageNet top-5, no training.
        pretrained = file_menu.addMenu("Pretrained ImageNet weights (torchvision)")
        from cnnstudio.models.pretrained import PRETRAINED

        for info in PRETRAINED:
            act = QAction(f"{info.name}  (from torch's hub cache; downloaded when missing)", self)
            act.triggered.connect(lambda _checked=False, name=info.name: self.load_pretrained(name))
            pretrained.addAction(act)
        pretrained.addSeparator()
        from_file = QAction("From a weights file (offline)…", self)
        from_file.triggered.connect(self._load_pretrained_file)
        pretrained.addAction(from_file)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        train_menu = self.menuBar().addMenu("&Training")
        for act in (self.start_action, self.pause_action, self.stop_action):
            train_menu.addAction(act)
        train_menu.addSeparator()
        # When a fit ends, the inspection tabs switch from its live weights to saved ones.
        after = train_menu.addMenu("When training ends, inspect")
        group = QActionGroup(self)
        self.weights_after_fit_actions: dict[str, QAction] = {}
        for which, text in (("best", "the best epoch's weights (best.pt)"), ("last", "the last weights (last.pt)")):
            act = QAction(text, self, checkable=True)
            act.setChecked(self.session.weights_after_fit == which)
            act.toggled.connect(lambda on, w=which: on and setattr(self.session, "weights_after_fit", w))
            group.addAction(act)
            after.addAction(act)
            self.weights_after_fit_actions[which] = act
        view_menu = self.menuBar().addMenu("&View")
        for index, title in enumerate(TAB_TITLES):
            act = QAction(title, self)
            act.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
            act.triggered.connect(lambda _checked=False, i=index: self.tabs.setCurrentIndex(i))
            view_menu.addAction(act)
        from cnnstudio.gui.help import install_help

        install_help(self)  # Help ▸ About this view (F1), Getting started, Keyboard shortcuts

    def _connect(self) -> None:
        state, panel, session = self.state, self.setup_panel, self.session
        panel.start_requested.connect(self.start_training)
        panel.pause_requested.connect(session.toggle_pause)
        panel.stop_requested.connect(session.stop)
        panel.queue_requested.connect(lambda: self.queue_panel.add_config(panel.config()))
        panel.study_requested.connect(lambda: self.queue_panel.add_study(panel.config(), width=panel.study_width))
        state.message.connect(self._on_message)
        state.engine_ready.connect(self._on_engine_ready)
        session.state_changed.connect(self._on_training_state_changed)
        session.preparing.connect(lambda _request: self.tabs.setCurrentWidget(self.training_tab))
        session.started.connect(lambda _info: self.device_label.setText(f"Device: {session.device_label}"))
        session.status.connect(self._set_status)
        session.notice.connect(lambda text: self._on_message("warning", text))
        session.failed.connect(self._on_failed)
        session.finished.connect(self._on_fit_finished)
        # The fit's own copy of the data serves the Feature maps tab's validation images.
        session.dataset_loaded.connect(self.feature_maps_tab.use_dataset)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        panel.seed_spin.valueChanged.connect(self.data_tab.settings_changed)  # the seed picks the split shown
        self.classify_tab.image_selected.connect(self.feature_maps_tab.show_image)  # the last drop feeds Feature maps
        # Files dropped in a fit's first epoch need not wait for its end.
        self.classify_tab.model_wanted.connect(session.request_live_snapshot)
        self.runs_tab.resume_requested.connect(self.resume_run)
        # A click on the graph opens that layer where it can be looked at.
        self.graph_tab.maps_requested.connect(self._show_layer_maps)
        self.graph_tab.kernels_requested.connect(lambda: self.tabs.setCurrentWidget(self.kernels_tab))
        self.graph_tab.dynamics_requested.connect(self._show_layer_dynamics)
        self.runs_tab.dynamics_requested.connect(self._show_run_dynamics)
        self.runs_tab.overlay_requested.connect(self._on_overlay_requested)
        self._on_training_state_changed(session.state)

    def _show_layer_maps(self, layer: str) -> None:
        self.tabs.setCurrentWidget(self.feature_maps_tab)
        if layer in self.feature_maps_tab.layers():
            self.feature_maps_tab.set_layer(layer)

    def _show_run_dynamics(self, run_dir: str, beside: str | None) -> None:
        self.tabs.setCurrentWidget(self.dynamics_tab)
        self.dynamics_tab.show_run(run_dir, beside=beside)

    def _show_layer_dynamics(self, layer: str) -> None:
        self.tabs.setCurrentWidget(self.dynamics_tab)
        self.dynamics_tab.select_layer(layer)

    # ------------------------------------------------------------------ engine import
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        """Start importing torch once the window is on screen (after its first paint)."""
        super().showEvent(event)
        if not self._import_started:
            self._import_started = True
            QTimer.singleShot(0, lambda: self.state.load_engine(on_error=self._on_import_failed))

    def _on_import_failed(self, exc: BaseException) -> None:
        self.show_error(f"PyTorch could not be loaded, so training and inspection are unavailable: {exc}")
        self._set_status("PyTorch could not be loaded")

    @Slot()
    def _on_engine_ready(self) -> None:
        from cnnstudio.training.fit.devices import device_title

        self._import_started = True
        self.device_label.setText(f"Device: {device_title(self.setup_panel.config().device)}")
        self._on_training_state_changed(self.session.state)
        self._set_status("Ready — press Start (Ctrl+Return) to train")

    # ------------------------------------------------------------------ training
    @Slot()
    def start_training(self) -> None:
        """Train what the setup panel shows (the session validates it and says what is wrong)."""
        self.session.start(self.setup_panel.config())

    @Slot(str)
    def resume_run(self, run_dir: str) -> None:
        """Continue a saved run where it stopped; a finished run gets the panel's epochs more."""
        self.session.resume(run_dir, more_epochs=self.setup_panel.config().epochs)

    def load_pretrained(self, name: str, weights: str | None = None) -> None:
        """Make torchvision's ImageNet weights `name` the model on show (in the background)."""
        state = self.state
        self._set_status(f"Loading torchvision's {name} ImageNet weights…")

        def loaded(handle: ModelHandle) -> None:
            state.model_handle = handle
            self.tabs.setCurrentWidget(self.classify_tab)
            self._set_status(f"{handle.describe()} — drop photos on the window for their ImageNet top-5")

        def failed(exc: BaseException) -> None:
            self._set_status("The pretrained weights could not be loaded")
            self.show_error(describe(exc))

        state.run_in_background(ModelHandle.from_pretrained, name, weights, on_done=loaded, on_error=failed,
                                key="pretrained", on_progress=lambda done, total: self._set_status(
                                    f"Downloading {name}'s weights… {100 * done / total:.0f} %" if total else
                                    f"Downloading {name}'s weights…"))

    def _load_pretrained_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open torchvision weights (e.g. vgg16-397923af.pth)", "",
                                              "PyTorch weights (*.pth *.pt)")
        if path:
            # torchvision's file names start with the builder's name: vgg16_bn-6c64b313.pth
            self.load_pretrained(Path(path).name.split("-")[0], path)

    def _on_overlay_requested(self, label: str, history: list) -> None:
        self.training_tab.add_overlay(label, history)
        self.tabs.setCurrentWidget(self.training_tab)

    @Slot()
    def toggle_pause(self) -> None:
        """Pause a running fit, or resume a paused one."""
        self.session.toggle_pause()

    @Slot()
    def stop_training(self) -> None:
        """Ask the fit to stop after the current batch; the run and last.pt are kept."""
        self.session.stop()

    def _on_tab_changed(self, index: int) -> None:
        # Opened during a fit, the tabs that show the weights at work get them as they are
        # now, not only at epoch ends (a VGG epoch on a CPU lasts minutes).
        if self.tabs.widget(index) in (self.kernels_tab, self.feature_maps_tab, self.features_tab, self.classify_tab,
                                       self.evaluate_tab):
            self.session.request_live_snapshot()

    def _on_failed(self, text: str, retryable: bool) -> None:
        self.show_error(text, retry=self.session.retry if retryable else None)

    def _on_fit_finished(self, _result: object, _error: object) -> None:
        if self._close_pending:
            self.close()

    # ------------------------------------------------------------------ messages & status
    def show_error(self, text: str, *, retry: Callable[[], object] | None = None) -> None:
        """Show `text` in a window-modal message box that does not block the event loop.

        With `retry`, the box offers a Retry button that calls it (a failed download, say).
        """
        if self.error_box is not None:
            self.error_box.close()
        buttons = QMessageBox.StandardButton.Ok
        if retry is not None:
            buttons = QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Cancel
        box = QMessageBox(QMessageBox.Icon.Warning, "cnnstudio", text, buttons, self)
        box.setTextFormat(Qt.TextFormat.PlainText)  # paths and class names are the user's, not markup
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
        idle = training == TrainingState.IDLE
        controls = self.session.controls(training)
        self.start_action.setEnabled(controls.start)
        self.pause_action.setEnabled(controls.pause)
        self.stop_action.setEnabled(controls.stop)
        self.open_folder_action.setEnabled(idle)

    def _open_folder(self) -> None:
        self.setup_panel.open_folder()

    # ------------------------------------------------------------------ drops
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        """Accept files dragged anywhere on the window (the Classify tab judges them)."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        """Classify dropped image files: show the Classify tab and hand it the drop."""
        self.tabs.setCurrentWidget(self.classify_tab)
        if self.classify_tab.classify_mime(event.mimeData()):
            event.acceptProposedAction()

    # ------------------------------------------------------------------ settings & lifecycle
    def _restore_settings(self) -> None:
        settings = QSettings()
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
            self._fit_to_screen()  # a size saved on a bigger screen (or grown) never overhangs this one
        else:
            self._default_geometry()
        for key, splitter in (("window/splitter", self.splitter), ("window/left_splitter", self.left_splitter)):
            saved = settings.value(key)
            if isinstance(saved, QByteArray) and not saved.isEmpty():
                splitter.restoreState(saved)
        self.setup_panel.restore_settings(settings)
        which = settings.value("training/weights_after_fit", "best")
        if which in self.weights_after_fit_actions:
            self.weights_after_fit_actions[which].setChecked(True)
        # By title, not position: a tab added in a later version must not shift the one reopened.
        tab = settings.value("window/tab", TAB_TITLES[0])
        if tab in TAB_TITLES:
            self.tabs.setCurrentIndex(TAB_TITLES.index(tab))

    def _fit_to_screen(self) -> None:
        """Shrink and move the window into the screen's available area if it overhangs it."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None or self.isMaximized() or self.isFullScreen():
            return
        available = screen.availableGeometry()
        frame = self.frameGeometry()
        extra_w, extra_h = frame.width() - self.width(), frame.height() - self.height()
        width = min(self.width(), available.width() - extra_w)
        height = min(self.height(), available.height() - extra_h)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        frame = self.frameGeometry()
        x = min(max(frame.x(), available.x()), available.right() - frame.width() + 1)
        y = min(max(frame.y(), available.y()), available.bottom() - frame.height() + 1)
        if (x, y) != (frame.x(), frame.y()):
            self.move(x, y)

    def _default_geometry(self) -> None:
        screen = QGuiApplication.primaryScreen()
        width, height = 1400, 860  # a 1366×768 laptop gets its whole screen (less the frame)
        if screen is not None:
            available = screen.availableGeometry()
            width, height = min(width, available.width()), min(height, available.height())
        self.resize(width, height)
        self._fit_to_screen()

    def save_settings(self) -> None:
        """Remember the geometry, the panel's choices and the open tab."""
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/splitter", self.splitter.saveState())
        settings.setValue("window/left_splitter", self.left_splitter.saveState())
        settings.setValue("window/tab", TAB_TITLES[self.tabs.currentIndex()])
        settings.setValue("training/weights_after_fit", self.session.weights_after_fit)
        self.setup_panel.save_settings(settings)
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        """Stop training cooperatively first; the window closes once the worker has saved."""
        if self.session.active:
            self._close_pending = True
            if self.queue_panel.runner.running:
                self.queue_panel.runner.pause()  # no next run while the window winds down
            self.session.stop()
            self._set_status("Saving the last checkpoint, then closing…")
            event.ignore()
            return
        self.save_settings()
        self.queue_panel.cancel_estimate()  # a study's time estimate is not worth waiting for
        self.state.close()  # nothing new starts, nothing more is delivered to the widgets going now
        event.accept()

    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Stop everything and wait (blocking) — for application exit paths that skip closeEvent."""
        if self.session.active:
            self.session.stop()
            self.session.wait(timeout_ms)
        self.state.close(timeout_ms)
