"""The setup side panel: architecture, dataset, hyper-parameters, device, and Start/Pause/Stop.

Everything it lists comes from the engine's torch-free catalogs (`models.catalog`,
`data.catalog`, `training.config`), so the panel is filled before torch has loaded; the
parts that need torch (devices, augmentations, the parameter count) fill in once
`StudioState.engine_ready` fires. The panel writes the selection into the shared state,
turns its widgets into a `TrainConfig` (`config()`, what the training session takes) and
enables its own buttons from the session's state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.choices import Choice, DeviceKind, Init, Optimizer, Schedule
from cnnstudio.data import catalog as data_catalog
from cnnstudio.data.layout import detect_layout
from cnnstudio.errors import CnnStudioError, UnknownNameError, describe
from cnnstudio.gui.format import format_compact
from cnnstudio.gui.training.session import FitRequest, TrainingSession, TrainingState
from cnnstudio.gui.state import StudioState
from cnnstudio.gui.style import icon
from cnnstudio.gui.text import plain, tooltip
from cnnstudio.gui.widgets.wheel_guard import WheelGuard
from cnnstudio.models import catalog as model_catalog
from cnnstudio.training.config import TrainConfig, default_config, paper_defaults

__all__ = ["SetupPanel"]

_OPEN_FOLDER = "\x00open-folder"  # the dataset combo's "Open image folder…" entry
_SETTINGS_KEY = "setup/config"
_FOLDERS_KEY = "setup/folders"


def _count_params(arch: str, options: dict[str, Any], in_channels: int, num_classes: int, size: int) -> int:
    """Parameters of `arch` at this dataset (built on the meta device: instant)."""
    from cnnstudio.inspect.summary import summarize_arch

    return summarize_arch(arch, in_channels=in_channels, num_classes=num_classes, input_size=size,
                          **options).total_params


def _estimate(config: TrainConfig) -> Any:
    """Background job: the engine's estimate of `config` (loads its data, runs a few steps)."""
    from cnnstudio.training.fit.estimate import estimate_training
    from cnnstudio.training.fit.training_data import load_training_data

    return estimate_training(config, bundle=load_training_data(config, download=False))


def _folder_class_count(path: str) -> int | None:
    """An image folder's class count as training will see it (its layout only: no image is read)."""
    try:
        return len(detect_layout(path).classes) or None
    except CnnStudioError:
        return None


class SetupPanel(QWidget):
    """The left-hand panel: what to train, on what, how — and the buttons that start it."""

    start_requested = Signal()
    pause_requested = Signal()
    stop_requested = Signal()
    queue_requested = Signal()  # queue `config()` (Add to queue)
    study_requested = Signal()  # queue the tricks study on `config()`'s dataset and budget, at `study_width`

    def __init__(self, state: StudioState, session: TrainingSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("setupPanel")
        self._state = state
        self._session = session
        self._arch_infos = {info.name: info for info in model_catalog.list_models()}
        self._option_values: dict[str, dict[str, Any]] = {}  # per architecture, kept while switching
        self._recipe_arch: str | None = None  # whose quick-start recipe the training settings show
        self.option_widgets: dict[str, QWidget] = {}
        self._folders: list[str] = []
        self._folder_sizes: dict[str, int | None] = {}  # a folder's typical image side, once measured
        self._folder_channels: dict[str, int | None] = {}  # 1 or 3 from a folder's first headers, once read
        self._counted_channels: int | None = None  # the channels the parameter count shown was made for
        self._pending_device: str | None = None
        self._augment_boxes: dict[str, QCheckBox] = {}
        self._build()
        self._fill_catalogs()
        self._on_arch_changed()
        state.engine_ready.connect(self._on_engine_ready)
        state.selection_changed.connect(self._on_selection_changed)
        session.state_changed.connect(self._on_training_state_changed)
        session.preparing.connect(self._on_preparing)
        if state.torch_ready:
            self._on_engine_ready()
        self._on_training_state_changed(session.state)

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 4, 8)
        outer.setSpacing(8)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        body = QWidget()
        body.setObjectName("setupPanel")
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 6, 0)
        column.setSpacing(6)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)

        # Model
        model_box = QGroupBox("Model")
        model_form = QFormLayout(model_box)
        self._form_defaults(model_form)
        self.arch_combo = QComboBox()
        self.arch_combo.setToolTip("The network to train, from the papers")
        model_form.addRow("Architecture", self.arch_combo)
        self.arch_facts = plain(QLabel())
        self.arch_facts.setObjectName("archFacts")
        self.arch_facts.setWordWrap(True)
        # Two lines reserved: a wrapping label in a form is not given a second line when its
        # text grows later (the parameter count arrives after the first paint).
        self.arch_facts.ensurePolished()
        self.arch_facts.setMinimumHeight(2 * self.arch_facts.fontMetrics().lineSpacing() + 2)
        model_form.addRow(self.arch_facts)
        self.options_box = QWidget()
        self.options_form = QFormLayout(self.options_box)
        self._form_defaults(self.options_form)
        self.options_form.setContentsMargins(0, 0, 0, 0)
        model_form.addRow(self.options_box)
        self.input_size_spin = QSpinBox()
        self.input_size_spin.setRange(1, 1024)
        self.input_size_spin.setSuffix(" px")
        self.input_size_spin.setToolTip("Side of the square image the network sees; images are resized to it")
        self.paper_size_button = QPushButton("Paper size")
        self.paper_size_button.setToolTip("Train at the paper's input size: slower and far heavier on small "
                                          "datasets, whose images hold no more detail than their own size")
        self.paper_size_button.clicked.connect(lambda: self.apply_size_rule(paper_size=True))
        model_form.addRow("Input size", self.input_size_spin)
        # On its own row: beside the spin box it widened the panel past its width for VGG.
        model_form.addRow("", self.paper_size_button)
        self.size_hint = plain(QLabel())
        self.size_hint.setObjectName("hint")
        self.size_hint.setWordWrap(True)
        model_form.addRow(self.size_hint)
        self.input_error = plain(QLabel())  # the engine's message may name a folder
        self.input_error.setObjectName("inlineError")
        self.input_error.setWordWrap(True)
        self.input_error.hide()
        model_form.addRow(self.input_error)
        column.addWidget(model_box)

        # Data
        data_box = QGroupBox("Data")
        data_form = QFormLayout(data_box)
        self._form_defaults(data_form)
        self.dataset_combo = QComboBox()
        self.dataset_combo.setToolTip("A built-in dataset, or a folder with one sub-folder per class")
        data_form.addRow("Dataset", self.dataset_combo)
        self.dataset_facts = plain(QLabel())
        self.dataset_facts.setObjectName("hint")
        self.dataset_facts.setWordWrap(True)
        data_form.addRow(self.dataset_facts)
        self.augment_box = QWidget()
        self.augment_layout = QVBoxLayout(self.augment_box)
        self.augment_layout.setContentsMargins(0, 0, 0, 0)
        self.augment_layout.setSpacing(2)
        for augmentation in data_catalog.AUGMENTATIONS:
            box = QCheckBox(augmentation.name.replace("_", " "))
            box.setToolTip(augmentation.description)
            self.augment_layout.addWidget(box)
            self._augment_boxes[augmentation.name] = box
        data_form.addRow("Augment", self.augment_box)
        # What an augmentation does to this dataset's images (pca on grey, flip on digits).
        self.augment_note = plain(QLabel())
        self.augment_note.setObjectName("inlineError")
        self.augment_note.setWordWrap(True)
        self.augment_note.hide()
        data_form.addRow(self.augment_note)
        self._augment_channels: int | None = None
        for box in self._augment_boxes.values():
            box.toggled.connect(self._update_augment_notes)
        column.addWidget(data_box)

        # Training
        train_box = QGroupBox("Training")
        train_form = QFormLayout(train_box)
        self._form_defaults(train_form)
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 10_000)
        train_form.addRow("Epochs", self.epochs_spin)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 65_536)
        train_form.addRow("Batch size", self.batch_spin)
        self.optimizer_combo = self._choice_combo(Optimizer)
        train_form.addRow("Optimizer", self.optimizer_combo)
        self.lr_spin = self._float_spin(1e-6, 10.0, decimals=6, step=0.001)
        self.find_lr_button = QPushButton("Find LR")
        self.find_lr_button.setToolTip("The LR range test: up to 100 steps of this training at a growing learning "
                                       "rate on a fresh model; plots the loss and suggests a rate to take")
        self.find_lr_button.clicked.connect(self.find_lr)
        lr_row = QHBoxLayout()
        lr_row.setContentsMargins(0, 0, 0, 0)
        lr_row.addWidget(self.lr_spin, 1)
        lr_row.addWidget(self.find_lr_button)
        train_form.addRow("Learning rate", lr_row)
        self._lr_row = lr_row
        self.lr_dialog: Any = None  # the Find LR dialog while it is open
        self.study_dialog: Any = None  # the Tricks study dialog, last opened
        self.study_width: float | None = None  # the width the last accepted study dialog chose
        self.momentum_spin = self._float_spin(0.0, 0.999, decimals=3, step=0.05)
        train_form.addRow("Momentum", self.momentum_spin)
        self.weight_decay_spin = self._float_spin(0.0, 1.0, decimals=6, step=0.0001)
        train_form.addRow("Weight decay", self.weight_decay_spin)
        self.schedule_combo = self._choice_combo(Schedule)
        train_form.addRow("LR schedule", self.schedule_combo)
        self.init_combo = self._choice_combo(Init)
        train_form.addRow("Initialisation", self.init_combo)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        train_form.addRow("Seed", self.seed_spin)
        self.device_combo = QComboBox()
        self.device_combo.addItem("Loading PyTorch…", DeviceKind.AUTO.value)
        self.device_combo.setEnabled(False)
        self.device_combo.setToolTip("The window trains in one process on one device; for several GPUs or "
                                     "machines, train from the command line with torchrun (see the README)")
        train_form.addRow("Device", self.device_combo)
        device_note = QLabel("One process here; several GPUs or machines: torchrun (README)")
        device_note.setObjectName("hint")
        device_note.setWordWrap(True)
        train_form.addRow(device_note)
        # What the run records about itself as it trains (both on by default, both cheap).
        self.history_box = QCheckBox("History (kernels, feature maps)")
        self.history_box.setToolTip("Snapshots of the first layer's kernels and the probe images' feature maps "
                                    "across training, for the Kernels and Feature maps tabs' slider")
        self.dynamics_box = QCheckBox("Dynamics (gradients, activations)")
        self.dynamics_box.setToolTip("Per-layer gradient norms, update ratios and activation statistics at sampled "
                                     "steps, for the Dynamics tab and its diagnosis (a few % of the training time)")
        record = QVBoxLayout()
        record.setContentsMargins(0, 0, 0, 0)
        record.setSpacing(2)
        record.addWidget(self.history_box)
        record.addWidget(self.dynamics_box)
        train_form.addRow("Record", record)
        # Settings kept by hand across an architecture switch: said, with a way back.
        self._train_form = train_form
        self._kept: dict[str, Any] = {}  # recipe field → the new architecture's recipe value
        self.kept_note = plain(QLabel())
        self.kept_note.setObjectName("hint")
        self.kept_note.setWordWrap(True)
        self.kept_note.hide()
        train_form.addRow(self.kept_note)
        self.recipe_button = QPushButton("Use the recipe")
        self.recipe_button.hide()
        self.recipe_button.clicked.connect(self.use_quick_start_recipe)
        train_form.addRow(self.recipe_button)
        self.defaults_button = QPushButton(icon("defaults"), "Paper defaults")
        self.defaults_button.setToolTip("Set the training settings to the architecture's paper recipe")
        train_form.addRow(self.defaults_button)
        self.estimate_button = QPushButton("Estimate time and memory")
        self.estimate_button.setToolTip("Measure a few training steps on the chosen device: time per epoch, "
                                        "total time and peak memory, before committing to a long run")
        self.estimate_button.clicked.connect(self.estimate)

        self.estimate_label = plain(QLabel())
        self.estimate_label.setObjectName("hint")
        self.estimate_label.setWordWrap(True)

        column.addWidget(train_box)
        column.addStretch(1)
        # Long titles ("VGG config E (19 layers)", a folder's name) must not widen the panel.
        for combo in body.findChildren(QComboBox):
            self._compact(combo)
        self._wheel_guard = WheelGuard(scroll)  # scrolling the form never edits it
        self._wheel_guard.guard(body)
        self._estimate_for: TrainConfig | None = None  # the settings the estimate shown is for
        self._watch_for_stale_estimate(body)

        # Controls stay visible below the scroll area.
        controls = QHBoxLayout()
        controls.setSpacing(6)
        self.start_button = QPushButton(icon("start"), "Start")
        self.start_button.setObjectName("startButton")
        self.start_button.setToolTip("Start training (Ctrl+Return)")
        self.pause_button = QPushButton(icon("pause"), "Pause")
        self.pause_button.setToolTip("Pause or resume training (Ctrl+P)")
        self.stop_button = QPushButton(icon("stop"), "Stop")
        self.stop_button.setToolTip("Stop training after the current batch and keep the run (Ctrl+.)")
        for button in (self.start_button, self.pause_button, self.stop_button):
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            controls.addWidget(button)
        # Queueing: the form's training, or the tricks study on its dataset and budget.
        queueing = QHBoxLayout()
        queueing.setSpacing(6)
        self.queue_button = QPushButton("Add to queue")
        self.queue_button.setToolTip("Queue this training: queued runs train one after another (the queue "
                                     "is below)")
        self.study_button = QPushButton("Tricks study")
        for button in (self.queue_button, self.study_button):
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            queueing.addWidget(button)
        # The estimate stays in view below the form, next to Start, whatever the scroll position.
        outer.addWidget(self.estimate_button)
        outer.addWidget(self.estimate_label)
        outer.addLayout(controls)
        outer.addLayout(queueing)

        self.start_button.clicked.connect(self.start_requested)
        self.queue_button.clicked.connect(self.queue_requested)
        self.study_button.clicked.connect(self.ask_study)
        self.pause_button.clicked.connect(self.pause_requested)
        self.stop_button.clicked.connect(self.stop_requested)
        self.arch_combo.currentIndexChanged.connect(self._on_arch_changed)
        self.dataset_combo.activated.connect(self._on_dataset_activated)
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_changed)
        self.input_size_spin.valueChanged.connect(self._on_input_size_changed)
        self.defaults_button.clicked.connect(self.apply_paper_defaults)
        self.optimizer_combo.currentIndexChanged.connect(self._on_optimizer_changed)
        for widget in self._recipe_widgets().values():  # a kept setting set back to the recipe loses its mark
            signal = widget.currentIndexChanged if isinstance(widget, QComboBox) else widget.valueChanged
            signal.connect(self._show_kept)
        self.setMinimumWidth(300)
        self.setMaximumWidth(420)

    @staticmethod
    def _form_defaults(form: QFormLayout) -> None:
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(6)

    @staticmethod
    def _compact(combo: QComboBox) -> None:
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(8)

    @staticmethod
    def _choice_combo(choices: type[Choice]) -> QComboBox:
        combo = QComboBox()
        for member in choices:
            combo.addItem(member.title, member.value)
        return combo

    @staticmethod
    def _float_spin(low: float, high: float, *, decimals: int, step: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(low, high)
        spin.setDecimals(decimals)
        spin.setSingleStep(step)
        return spin

    def _fill_catalogs(self) -> None:
        with QSignalBlocker(self.arch_combo):
            for info in self._arch_infos.values():
                self.arch_combo.addItem(info.title, info.name)
                self.arch_combo.setItemData(self.arch_combo.count() - 1, info.description, Qt.ItemDataRole.ToolTipRole)
        with QSignalBlocker(self.dataset_combo):
            for info in data_catalog.list_datasets():
                self.dataset_combo.addItem(info.title, info.name)
                self.dataset_combo.setItemData(self.dataset_combo.count() - 1, info.description,
                                               Qt.ItemDataRole.ToolTipRole)
            self.dataset_combo.insertSeparator(self.dataset_combo.count())
            self.dataset_combo.addItem(icon("folder"), "Open image folder…", _OPEN_FOLDER)
        self._select_data(self.dataset_combo, data_catalog.DEFAULT_DATASET)
        self.apply_config(default_config(self.arch_name), select_dataset=False)
        self._recipe_arch = self.arch_name

    # ------------------------------------------------------------------ reading & writing
    @property
    def arch_name(self) -> str:
        """The chosen architecture's registry name."""
        return str(self.arch_combo.currentData())

    @property
    def dataset(self) -> str:
        """The chosen dataset: a catalog name or a folder path."""
        return str(self.dataset_combo.currentData())

    def arch_options(self) -> dict[str, Any]:
        """The chosen architecture's options to build it with.

        Options a ticked switch sets itself (all_tricks' BatchNorm, say) are shown at the
        values in force but sent at their defaults, as the builder wants them.
        """
        info = self._arch_infos[self.arch_name]
        values = {name: self._widget_value(widget) for name, widget in self.option_widgets.items()}
        for switch, implied in info.implied:
            if values.get(switch):
                values.update({name: info.option(name).default for name, _ in implied})
        return values

    @staticmethod
    def _widget_value(widget: QWidget) -> Any:
        if isinstance(widget, QCheckBox):
            return widget.isChecked()
        if isinstance(widget, QComboBox):
            return widget.currentData()
        return float(widget.value())  # a QDoubleSpinBox

    def _show_implied_options(self) -> None:
        """Show the options in force: those a ticked switch sets are shown at its values, disabled."""
        info = self._arch_infos[self.arch_name]
        saved = self._option_values.get(info.name, {})
        for switch, implied in info.implied:
            on = bool(self._widget_value(self.option_widgets[switch]))
            for name, value in implied:
                widget = self.option_widgets[name]
                shown = value if on else saved.get(name, info.option(name).default)
                with QSignalBlocker(widget):
                    if isinstance(widget, QCheckBox):
                        widget.setChecked(bool(shown))
                    elif isinstance(widget, QComboBox):
                        self._select_data(widget, shown)
                    else:
                        widget.setValue(float(shown))
                widget.setEnabled(not on)
                widget.setToolTip(f"set by {switch.replace('_', ' ')}" if on else info.option(name).help)

    def augmentations(self) -> tuple[str, ...]:
        """The ticked augmentations."""
        return tuple(name for name, box in self._augment_boxes.items() if box.isChecked())

    def device(self) -> str:
        """The chosen device string (``"auto"`` until the device list is known)."""
        return str(self.device_combo.currentData() or DeviceKind.AUTO.value)

    def config(self) -> TrainConfig:
        """The settings as a `TrainConfig` (not yet validated)."""
        return TrainConfig(
            arch=self.arch_name,
            arch_options=self.arch_options(),
            dataset=self.dataset,
            input_size=int(self.input_size_spin.value()),
            epochs=int(self.epochs_spin.value()),
            batch_size=int(self.batch_spin.value()),
            optimizer=str(self.optimizer_combo.currentData()),
            lr=float(self.lr_spin.value()),
            momentum=float(self.momentum_spin.value()),
            weight_decay=float(self.weight_decay_spin.value()),
            schedule=str(self.schedule_combo.currentData()),
            init=str(self.init_combo.currentData()),
            augment=self.augmentations(),
            seed=int(self.seed_spin.value()),
            device=self.device(),
            history=self.history_box.isChecked(),
            dynamics=self.dynamics_box.isChecked(),
        )

    def apply_config(self, config: TrainConfig, *, select_dataset: bool = True) -> None:
        """Show `config` in the widgets (unknown names in it are skipped, not fatal)."""
        if config.arch in self._arch_infos:
            self._option_values[config.arch] = dict(config.arch_options)
            if self.arch_name == config.arch:
                self._rebuild_options()
            else:
                self._select_data(self.arch_combo, config.arch)
        if select_dataset:
            if os.path.isdir(config.dataset):
                self._add_folder(config.dataset)
            self._select_data(self.dataset_combo, config.dataset)
        if config.input_size:
            self.input_size_spin.setValue(int(config.input_size))
        self.apply_hyperparameters(config)
        if hasattr(self, "_kept"):  # settings shown as a whole (a run's, a queued one's): nothing was kept
            self._kept = {}
            self._show_kept()

    def apply_hyperparameters(self, config: TrainConfig) -> None:
        """Show `config`'s training settings (not the architecture or dataset)."""
        self.epochs_spin.setValue(config.epochs)
        self.batch_spin.setValue(config.batch_size)
        self._select_data(self.optimizer_combo, config.optimizer)
        self.lr_spin.setValue(config.lr)
        self.momentum_spin.setValue(config.momentum)
        self.weight_decay_spin.setValue(config.weight_decay)
        self._select_data(self.schedule_combo, config.schedule)
        self._select_data(self.init_combo, config.init)
        self.seed_spin.setValue(config.seed)
        self.history_box.setChecked(config.history)
        self.dynamics_box.setChecked(config.dynamics)
        for name, box in self._augment_boxes.items():
            box.setChecked(name in config.augment)
        if config.device != DeviceKind.AUTO:
            self._pending_device = config.device
            self._select_data(self.device_combo, config.device)

    def apply_paper_defaults(self) -> None:
        """Set the training settings to the chosen architecture's paper recipe."""
        recipe = paper_defaults(self.arch_name)
        self.apply_hyperparameters(recipe.replace(device=self.device(), seed=int(self.seed_spin.value()),
                                                  history=self.history_box.isChecked(),
                                                  dynamics=self.dynamics_box.isChecked()))
        self._kept = {}
        self._show_kept()
        self._state.report("info", f"Training settings set to the {self._arch_infos[self.arch_name].title} paper's recipe")

    @staticmethod
    def _select_data(combo: QComboBox, value: Any) -> bool:
        index = combo.findData(value)
        if index >= 0:
            combo.setCurrentIndex(index)
        return index >= 0

    # ------------------------------------------------------------------ settings
    def save_settings(self, settings: QSettings) -> None:
        """Remember the current choices (and opened folders) for the next launch."""
        settings.setValue(_SETTINGS_KEY, json.dumps(self.config().to_dict()))
        settings.setValue(_FOLDERS_KEY, json.dumps(self._folders[-8:]))

    def restore_settings(self, settings: QSettings) -> None:
        """Bring back the last launch's choices; anything unreadable is ignored."""
        try:
            folders = json.loads(str(settings.value(_FOLDERS_KEY, "[]")))
            for folder in folders:
                if isinstance(folder, str) and os.path.isdir(folder):
                    self._add_folder(folder)
            raw = settings.value(_SETTINGS_KEY)
            if raw:
                self.apply_config(TrainConfig.from_dict(json.loads(str(raw))))
        except (ValueError, TypeError):
            pass  # settings from another version: start from the defaults

    # ------------------------------------------------------------------ reactions
    def _on_arch_changed(self) -> None:
        self._rebuild_options()
        self.apply_size_rule()
        self._follow_quick_start()
        self.study_button.setToolTip(
            "Queue the notes' eight runs of the tricks CNN on this dataset, each for these epochs: the plain "
            "sigmoid net, its BatchNorm baseline, each trick on that baseline (Leaky ReLU, global average "
            "pooling, dropout 0.5, two 3×3 for each 5×5, multi-scale block), and all tricks together"
            + ("" if self.arch_name == "tricks" else "; the runs use the tricks CNN's own training settings")
            + ". It asks for the net's width first (0.25: seconds an epoch on a CPU), with the estimate")

    def apply_size_rule(self, *, paper_size: bool = False) -> None:
        """Set the input size by the engine's rule: the dataset's own size raised to the
        architecture's minimum (VGG on 28×28 digits: 32), or the paper's with `paper_size`."""
        from cnnstudio.training.input_size import choose_input_size

        dataset = self.dataset
        if dataset == _OPEN_FOLDER:
            return
        try:
            data_catalog.get_info(dataset)
            native = None  # the rule reads the catalog's size
        except UnknownNameError:
            native = self._folder_sizes.get(dataset)  # measured in the background (below)
            if native is None and dataset not in self._folder_sizes and self._state.torch_ready:
                self._measure_folder(dataset)
            dataset_arg = None if native is None else dataset
            choice = choose_input_size(self.arch_name, dataset_arg, arch_options=self.arch_options(),
                                       native_size=native, paper_size=paper_size)
        else:
            choice = choose_input_size(self.arch_name, dataset, arch_options=self.arch_options(), paper_size=paper_size)
        with QSignalBlocker(self.input_size_spin):
            self.input_size_spin.setValue(choice.size)
        self.size_hint.setText(choice.sentence)
        self.paper_size_button.setText(f"Paper size ({choice.paper})")
        self.paper_size_button.setEnabled(choice.size != choice.paper)
        self._push_selection()

    def _measure_folder(self, folder: str) -> None:
        from cnnstudio.data.folders import typical_image_size

        self._folder_sizes[folder] = None  # measuring: asked once

        def measured(side: int | None) -> None:
            self._folder_sizes[folder] = side
            if side is not None and self.dataset == folder:
                self.apply_size_rule()

        self._state.run_in_background(typical_image_size, folder, on_done=measured, on_error=lambda _exc: None,
                                      key=f"folder-size-{id(self)}")

    # The settings an architecture's quick-start recipe may change (training.config.default_config).
    _RECIPE_FIELDS = ("batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule", "init")

    def _follow_quick_start(self) -> None:
        """Carry untouched training settings over to the new architecture's quick-start recipe.

        LeNet starts at LR 0.03, which would make a VGG diverge: when the shown settings are
        still the previous architecture's recipe, they follow the new one; anything the user
        changed by hand stays as it is.
        """
        previous, self._recipe_arch = self._recipe_arch, self.arch_name
        if previous is None or previous == self.arch_name:
            return
        shown, old = self.config(), default_config(previous)
        new = default_config(self.arch_name)
        # Each setting on its own: the untouched follow the new recipe; one changed by hand
        # (or kept at an earlier switch) stays, marked, with the recipe's value beside it.
        kept = {f for f in self._RECIPE_FIELDS
                if getattr(shown, f) != getattr(new, f) and (getattr(shown, f) != getattr(old, f) or f in self._kept)}
        self.apply_hyperparameters(shown.replace(**{f: getattr(new, f) for f in self._RECIPE_FIELDS if f not in kept}))
        self._kept = {f: getattr(new, f) for f in kept}
        self._show_kept()

    def use_quick_start_recipe(self) -> None:
        """Set the settings kept across a switch to the architecture's quick-start recipe."""
        self.apply_hyperparameters(self.config().replace(**self._kept))
        self._kept = {}
        self._show_kept()

    def _recipe_widgets(self) -> dict[str, QWidget]:
        return {"batch_size": self.batch_spin, "optimizer": self.optimizer_combo, "lr": self.lr_spin,
                "momentum": self.momentum_spin, "weight_decay": self.weight_decay_spin,
                "schedule": self.schedule_combo, "init": self.init_combo}

    def label_of(self, widget: QWidget) -> QWidget | None:
        """The form's label of a field (the LR's is its row's, which holds the Find LR button too)."""
        return self._train_form.labelForField(self._lr_row if widget is self.lr_spin else widget)

    def _show_kept(self, *_: object) -> None:
        """Mark the kept settings (a star on their label, the recipe's value in the note)."""
        if not hasattr(self, "_kept"):
            return
        shown = self.config()
        self._kept = {f: v for f, v in self._kept.items() if getattr(shown, f) != v}  # set back to it: no mark
        words = {"batch_size": "batch size", "lr": "LR", "weight_decay": "weight decay", "init": "initialisation"}
        for field, widget in self._recipe_widgets().items():
            label = self.label_of(widget)
            if isinstance(label, QLabel):
                label.setText(label.text().rstrip(" *") + (" *" if field in self._kept else ""))
            widget.setToolTip(f"Kept from your own setting; the {self._arch_infos[self.arch_name].title} recipe "
                              f"says {self._kept[field]}" if field in self._kept else "")
        if self._kept:
            title = self._arch_infos[self.arch_name].title
            parts = [f"{words.get(f, f)} {getattr(shown, f)}" for f in self._kept]
            recipe = [f"{self._kept[f]}" for f in self._kept]
            self.kept_note.setText(f"* kept from your settings: {', '.join(parts)} ({title}'s recipe: "
                                   f"{', '.join(recipe)})")
            self.recipe_button.setText(f"Use the {title} recipe")
        self.kept_note.setVisible(bool(self._kept))
        self.recipe_button.setVisible(bool(self._kept))

    def _rebuild_options(self) -> None:
        info = self._arch_infos[self.arch_name]
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        self.option_widgets.clear()
        saved = self._option_values.get(info.name, {})
        for spec in info.options:
            value = saved.get(spec.name, spec.default)
            widget: QWidget
            if spec.kind == "bool":
                widget = QCheckBox()
                widget.setChecked(bool(value))
                widget.toggled.connect(self._on_option_changed)
            elif spec.kind == "choice":
                widget = QComboBox()
                self._compact(widget)
                for choice in spec.choices:
                    widget.addItem(str(choice), choice)
                self._select_data(widget, value)
                widget.currentIndexChanged.connect(self._on_option_changed)
            else:
                low = spec.minimum if spec.minimum is not None else 0.0
                high = spec.maximum if spec.maximum is not None else max(1.0, 10 * float(spec.default))
                widget = self._float_spin(float(low), float(high), decimals=3, step=0.05)
                widget.setValue(float(value))
                widget.valueChanged.connect(self._on_option_changed)
            widget.setToolTip(spec.help)
            label = QLabel(spec.label)
            label.setToolTip(spec.help)
            self.options_form.addRow(label, widget)
            self.option_widgets[spec.name] = widget
            self._wheel_guard.guard(widget)
            self._watch_for_stale_estimate(widget)
        self.options_box.setVisible(bool(info.options))
        self._show_implied_options()
        self._push_selection()

    def _on_option_changed(self) -> None:
        # Remember the user's own values; a disabled widget shows a switch's value, not theirs.
        saved = self._option_values.setdefault(self.arch_name, {})
        for name, widget in self.option_widgets.items():
            if widget.isEnabled():
                saved[name] = self._widget_value(widget)
        self._show_implied_options()
        self._push_selection()

    def _on_input_size_changed(self) -> None:
        self.size_hint.setText(f"{self.input_size_spin.value()}×{self.input_size_spin.value()}: your choice")
        self._push_selection()

    def _on_dataset_activated(self, index: int) -> None:
        if self.dataset_combo.itemData(index) != _OPEN_FOLDER:
            return
        folder = self.ask_folder()
        if folder:
            self._add_folder(folder)
            self._select_data(self.dataset_combo, folder)
        else:
            self._select_data(self.dataset_combo, self._state.dataset)

    def estimate(self) -> None:
        """Measure a few steps of the configured training in the background and say what it costs."""
        config = self.config()
        try:
            config.validate()
        except CnnStudioError as exc:
            self._show_estimate(str(exc), warning=True)
            self._estimate_for = config  # cleared with the next change, as a figure is
            return
        self.estimate_button.setEnabled(False)
        self._show_estimate("Measuring a few training steps…", warning=False)
        self._estimate_for = config
        self._state.run_in_background(_estimate, config, on_done=self._on_estimated,
                                      on_error=lambda exc: self._on_estimated(exc), key=f"estimate-{id(self)}")

    def ask_study(self) -> None:
        """Ask for the tricks study's width, with its estimate beside it; queue it once accepted."""
        from cnnstudio.gui.training.study_dialog import StudyDialog

        if self.study_dialog is not None:
            self.study_dialog.close()
        self.study_dialog = dialog = StudyDialog(self._state, self.config(), self)

        def accepted() -> None:
            self.study_width = dialog.width()
            self.study_requested.emit()

        dialog.accepted.connect(accepted)
        dialog.open()
        dialog.estimate()

    def find_lr(self) -> None:
        """Open the Find LR dialog on the form's training: the range test runs in the background,
        and taking its suggestion sets the learning rate here."""
        from cnnstudio.gui.training.lr_finder_dialog import LRFinderDialog

        config = self.config()
        try:
            config.validate()
        except CnnStudioError as exc:
            self._show_estimate(str(exc), warning=True)
            return
        if self.lr_dialog is not None:
            self.lr_dialog.close()
        self.lr_dialog = dialog = LRFinderDialog(self._state, config, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.lr_taken.connect(self.lr_spin.setValue)
        dialog.destroyed.connect(lambda *_: setattr(self, "lr_dialog", None) if self.lr_dialog is dialog else None)
        dialog.show()
        dialog.start()

    def _on_estimated(self, result: Any) -> None:
        self.estimate_button.setEnabled(self._session.state == TrainingState.IDLE and self._state.torch_ready)
        if self._estimate_for is None or self.config() != self._estimate_for:
            return  # the form changed meanwhile: a figure for other settings is never shown
        if isinstance(result, BaseException):
            self._show_estimate(describe(result), warning=True)
        elif result.warning:
            self._show_estimate(f"{result.sentence}. {result.warning}", warning=True)
        else:
            self._show_estimate(result.sentence, warning=False)

    def _watch_for_stale_estimate(self, root: QWidget) -> None:
        """Clear the estimate when a setting under `root` changes (it was for the old settings)."""
        fields = [root, *root.findChildren(QWidget)]
        for field in fields:
            if isinstance(field, (QSpinBox, QDoubleSpinBox)):
                field.valueChanged.connect(self._drop_stale_estimate)
            elif isinstance(field, QComboBox):
                field.currentIndexChanged.connect(self._drop_stale_estimate)
            elif isinstance(field, QCheckBox):
                field.toggled.connect(self._drop_stale_estimate)

    def _drop_stale_estimate(self, *_: object) -> None:
        """Clear the estimate once the form no longer shows the settings it was measured for."""
        if self._estimate_for is None or self.config() == self._estimate_for:
            return
        self._estimate_for = None
        self._show_estimate("", warning=False)
        self.estimate_button.setEnabled(self._session.state == TrainingState.IDLE and self._state.torch_ready)

    def _show_estimate(self, text: str, *, warning: bool) -> None:
        self.estimate_label.setObjectName("inlineError" if warning else "hint")
        self.estimate_label.style().unpolish(self.estimate_label)
        self.estimate_label.style().polish(self.estimate_label)
        self.estimate_label.setText(text)

    def open_folder(self) -> None:
        """Ask for an image folder and choose it as the dataset (File ▸ Open image folder…)."""
        index = self.dataset_combo.findData(_OPEN_FOLDER)
        self.dataset_combo.setCurrentIndex(index)
        self._on_dataset_activated(index)

    def _on_preparing(self, request: FitRequest) -> None:
        # A resumed or queued run trains with its own settings: show those, not the form's
        # (a fit started from the form has no label: the form already shows it).
        if request.resume or request.label:
            self.apply_config(request.config)

    def ask_folder(self) -> str | None:
        """Ask the user for an image folder (a method so tests can stub the dialog)."""
        folder = QFileDialog.getExistingDirectory(self, "Open an image folder (one sub-folder per class)")
        return folder or None

    def _add_folder(self, folder: str) -> None:
        folder = str(Path(folder))
        if self.dataset_combo.findData(folder) >= 0:
            return
        self._folders.append(folder)
        with QSignalBlocker(self.dataset_combo):
            index = self.dataset_combo.findData(_OPEN_FOLDER)
            self.dataset_combo.insertItem(index, icon("folder"), Path(folder).name or folder, folder)
            self.dataset_combo.setItemData(index, tooltip(folder), Qt.ItemDataRole.ToolTipRole)

    def _on_dataset_changed(self) -> None:
        if self.dataset == _OPEN_FOLDER:
            return  # the dialog decides what happens next
        self.apply_size_rule()

    def _on_optimizer_changed(self) -> None:
        self.momentum_spin.setEnabled(self.optimizer_combo.currentData() == Optimizer.SGD)

    def _push_selection(self) -> None:
        """Write the selection into the shared state and refresh the facts shown here."""
        if getattr(self, "_estimate_for", None) is not None:  # a change made with signals blocked
            self._drop_stale_estimate()
        dataset = self.dataset
        if dataset == _OPEN_FOLDER:
            return
        try:
            dinfo = data_catalog.get_info(dataset)
            channels, classes = dinfo.channels, dinfo.num_classes
            self.dataset_facts.setText(
                f"{channels} channel{'s' if channels > 1 else ''} · {classes} classes · "
                f"{dinfo.native_size}×{dinfo.native_size} px"
                + ("" if not dinfo.downloadable else " · downloads on first use")
            )
        except UnknownNameError:
            channels, classes = self._show_folder_facts(dataset)
        # A folder's channels are known once scanned: the engine refuses then what cannot apply.
        self._augment_channels = channels if self._is_catalog(dataset) else None
        self._update_augment_notes()
        # The state keeps a loaded spec's real channels and classes while its dataset stays chosen.
        self._state.update_selection(
            arch_name=self.arch_name,
            arch_options=self.arch_options(),
            dataset=dataset,
            input_size=int(self.input_size_spin.value()),
            in_channels=channels,
            num_classes=classes,
            class_names=None,
        )
        self._refresh_arch_facts()

    @staticmethod
    def _is_catalog(dataset: str) -> bool:
        try:
            data_catalog.get_info(dataset)
        except UnknownNameError:
            return False
        return True

    def _update_augment_notes(self, *_: object) -> None:
        """Disable what cannot apply to the dataset (pca on grey) and say what changes meaning (flip)."""
        channels = self._augment_channels
        pca = self._augment_boxes.get("pca")
        if pca is not None:
            grey = channels == 1
            if grey and pca.isChecked():
                pca.setChecked(False)
            pca.setEnabled(not grey)
            description = next(a.description for a in data_catalog.AUGMENTATIONS if a.name == "pca")
            pca.setToolTip(f"{data_catalog.PCA_NEEDS_COLOUR}: this dataset is grey" if grey else description)
        flip = self._augment_boxes.get("flip")
        if flip is not None:
            description = next(a.description for a in data_catalog.AUGMENTATIONS if a.name == "flip")
            flip.setToolTip(f"{description}; {data_catalog.MIRROR_NOTE}")
        notes = data_catalog.augmentation_warnings(self.augmentations(), channels=channels) if channels else ()
        self.augment_note.setText(" ".join(n[0].upper() + n[1:] + "." for n in notes))
        self.augment_note.setVisible(bool(notes))

    def _show_folder_facts(self, dataset: str) -> tuple[int, int]:
        """Show what is known of an image folder; (channels, classes) to build the model for.

        Once its data are loaded (a fit started) the spec says; before, the class folders
        and the first images' headers (grey or colour) do, checked when training starts.
        """
        spec = self._state.spec
        if spec is not None and spec.name in (dataset, str(Path(dataset).resolve())):
            channels, classes = spec.channels, len(spec.classes)
            self.dataset_facts.setText(f"Image folder · {classes} classes · {'grey' if channels == 1 else 'colour'}"
                                       f" images")
            return channels, classes
        counted = _folder_class_count(dataset)
        channels = self._folder_channels.get(dataset)
        if channels is None and dataset not in self._folder_channels and self._state.torch_ready:
            self._measure_folder_channels(dataset)
        tone = "" if channels is None else f" · {'grey' if channels == 1 else 'colour'} images"
        self.dataset_facts.setText(
            f"Image folder · {counted} classes{tone} (checked when training starts)" if counted
            else "Image folder · classes are read when training starts"
        )
        return channels or 3, counted or 2

    def _measure_folder_channels(self, folder: str) -> None:
        from cnnstudio.data.folders import typical_channels

        self._folder_channels[folder] = None  # reading: asked once

        def read(channels: int | None) -> None:
            self._folder_channels[folder] = channels
            if channels is not None and self.dataset == folder:
                self._push_selection()

        self._state.run_in_background(typical_channels, folder, on_done=read, on_error=lambda _exc: None,
                                      key=f"folder-channels-{id(self)}")

    def _on_selection_changed(self) -> None:
        # A fit's spec arrived (or went): a folder's facts and parameter count follow what it says.
        dataset = self.dataset
        if dataset == _OPEN_FOLDER or self._is_catalog(dataset):
            return
        self._show_folder_facts(dataset)
        if self._counted_channels is not None and self._counted_channels != self._state.in_channels:
            self._refresh_arch_facts()

    def _refresh_arch_facts(self, params: int | None = None) -> None:
        info = self._arch_infos[self.arch_name]
        # Short enough for two lines of the narrow panel; the whole citation is in the tooltip.
        facts = f"{info.venue or info.year} · {info.depth} weight layers"
        if params is not None:
            facts += f" · {format_compact(params)} parameters here"
        self.arch_facts.setText(facts)
        self.arch_facts.setToolTip(tooltip(f"{info.citation}\n\n{info.description}"))
        if params is None and self._state.torch_ready:
            state = self._state
            self._counted_channels = state.in_channels
            self._state.run_in_background(
                _count_params, state.arch_name, state.arch_options, state.in_channels,
                state.num_classes, state.input_size,
                on_done=self._on_params_counted, on_error=self._on_params_failed, key="setup-params",
            )

    def _on_params_counted(self, params: int) -> None:
        self.input_error.hide()
        self._refresh_arch_facts(params)

    def _on_params_failed(self, exc: BaseException) -> None:
        # The engine's message (e.g. "vgg16 needs inputs of at least 32×32 pixels; got 16×16").
        self.input_error.setText(str(exc))
        self.input_error.show()

    def _on_engine_ready(self) -> None:
        """Fill what needs torch: the devices and the parameter count."""
        from cnnstudio.training.fit.devices import list_devices

        with QSignalBlocker(self.device_combo):
            self.device_combo.clear()
            for label, device in list_devices():
                self.device_combo.addItem(label, device)
            self.device_combo.setEnabled(True)
            if not (self._pending_device and self._select_data(self.device_combo, self._pending_device)):
                self.device_combo.setCurrentIndex(0)
        self._refresh_arch_facts()
        self._on_training_state_changed(self._session.state)  # Start is usable now

    def _on_training_state_changed(self, training: str) -> None:
        idle = training == TrainingState.IDLE
        ready = self._state.torch_ready
        controls = self._session.controls(training)
        self.start_button.setEnabled(controls.start)
        # Queueing validates the form (the model registry needs torch); the queue may be running.
        self.queue_button.setEnabled(ready)
        self.study_button.setEnabled(ready)
        self.start_button.setToolTip("Start training (Ctrl+Return)" if ready or not idle else "PyTorch is loading…")
        self.pause_button.setEnabled(controls.pause)
        self.stop_button.setEnabled(controls.stop)
        is_paused = training == TrainingState.PAUSED
        self.pause_button.setText("Resume" if is_paused else "Pause")
        self.pause_button.setIcon(icon("resume" if is_paused else "pause"))
        for widget in (self.arch_combo, self.options_box, self.input_size_spin, self.dataset_combo,
                       self.augment_box, self.epochs_spin, self.batch_spin, self.optimizer_combo,
                       self.lr_spin, self.momentum_spin, self.weight_decay_spin, self.schedule_combo,
                       self.init_combo, self.seed_spin, self.defaults_button, self.estimate_button):
            widget.setEnabled(idle)
        self.find_lr_button.setEnabled(idle and ready)
        self.device_combo.setEnabled(idle and self._state.torch_ready)
        if idle:
            self._on_optimizer_changed()
