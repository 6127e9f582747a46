"""The Features tab: what excites the network — images optimised for its classes or a layer's channels.

For the model on show (an opened run's weights or a running fit's live ones), Render asks
`inspect.dream` for one image per class (the input the network is surest is that class) or
per channel of a conv layer, a page of 16 at a time (the pattern the channel answers most).
The optimisation runs in the background (`StudioState.run_in_background` with progress and
Cancel); the tab draws the images it returns, each captioned with what the network makes of
it (class mode: its probability for the class).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.choices import ImageParam
from cnnstudio.errors import Cancelled, CnnStudioError, describe
from cnnstudio.gui.format import format_count
from cnnstudio.gui.state import Job, ModelHandle, StudioState
from cnnstudio.gui.text import plain, tooltip
from cnnstudio.gui.widgets.image_grid import StackedPanel, ThumbnailList

__all__ = ["FeaturesTab", "MODE_CHANNELS", "MODE_CLASSES"]

MODE_CLASSES = "classes"
MODE_CHANNELS = "channels"
PAGE = 16  # channels per render: a 4×4 page costs about one optimisation
TILE = 128
ALL_CLASSES = -1

EMPTY_TEXT = ("What excites the network?\n\nTrain a model or open a run (Runs tab), then press Render: "
              "for each class the image the network is surest of, or for a layer the pattern each channel "
              "answers most.")
READY_TEXT = ("Press Render: for each class, the image the network is surest of; for a layer, the pattern "
              "each channel answers most (256 steps take seconds for LeNet-5, minutes for VGG at 224 px).")


def _layers(handle: ModelHandle) -> list[tuple[str, int]]:
    """Background job: (name, channel count) of every layer whose channels can be optimised."""
    from cnnstudio.inspect.dream import dream_layers

    return [(layer.name, layer.shape[0]) for layer in dream_layers(handle.trained())]


def _render(handle: ModelHandle, layer: str | None, targets: tuple[int, ...] | None, steps: int, param: str, *,
            progress: Any, cancel: Any) -> Any:
    """Background job: the `inspect.dream.Dream` of `layer`'s channels `targets`, or (no layer) of
    the classes `targets` (None: every class)."""
    from cnnstudio.inspect.dream import dream_channels, dream_classes

    trained = handle.trained()
    if layer is not None:
        return dream_channels(trained, layer, targets, steps=steps, param=param, progress=progress, cancel=cancel)
    return dream_classes(trained, targets, steps=steps, param=param, progress=progress, cancel=cancel)


class FeaturesTab(QWidget):
    """Render → a grid of optimised images with the network's verdict under each."""

    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._key = f"features-tab-{id(self)}"
        self._job: Job | None = None
        self._dream: Any = None
        self._channels: dict[str, int] = {}

        self.model_label = plain(QLabel())
        self.model_label.setWordWrap(True)
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("Classes", MODE_CLASSES)
        self.mode_combo.addItem("Channels of a layer", MODE_CHANNELS)
        self.mode_combo.setToolTip("A class's image maximises its logit; a channel's, its mean output "
                                   "(the convolution's, before the activation)")
        self.mode_combo.currentIndexChanged.connect(self._on_mode_changed)
        self.class_combo = QComboBox()
        self.layer_combo = QComboBox()
        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.first_spin = QSpinBox()
        self.first_spin.setSingleStep(PAGE)
        self.first_spin.setToolTip(f"The first of the {PAGE} channels rendered together")
        self.first_spin.valueChanged.connect(self._update_page_label)
        self.page_label = plain(QLabel())
        self.page_label.setObjectName("hint")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 4096)
        self.steps_spin.setValue(256)
        self.steps_spin.setSingleStep(64)
        self.steps_spin.setToolTip("Adam steps at learning rate 0.05 (256–512 is the usual range)")
        self.param_combo = QComboBox()
        for param in ImageParam:
            self.param_combo.addItem(param.title, param.value)
        self.param_combo.setToolTip("What is optimised: the pixels, or a spectrum scaled by 1/f (Lucid's) "
                                    "whose low frequencies move first")
        self.render_button = QPushButton("Render")
        self.render_button.setObjectName("startButton")
        self.render_button.clicked.connect(self.render)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button = QPushButton("Save grid…")
        self.save_button.setToolTip("Save the images with their captions as one PNG (what `cnnstudio dream -o` writes)")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(220)
        self.summary_label = plain(QLabel())
        self.summary_label.setWordWrap(True)

        self._class_box = self._labelled("Class", self.class_combo)
        self._layer_box = self._labelled("Layer", self.layer_combo, "From channel", self.first_spin, self.page_label)
        controls = QHBoxLayout()
        controls.setSpacing(8)
        controls.addWidget(QLabel("Show"))
        controls.addWidget(self.mode_combo)
        controls.addWidget(self._class_box)
        controls.addWidget(self._layer_box)
        controls.addStretch(1)
        settings = QHBoxLayout()
        settings.setSpacing(8)
        for widget in (QLabel("Steps"), self.steps_spin, QLabel("Image"), self.param_combo, self.render_button,
                       self.cancel_button, self.progress):
            settings.addWidget(widget)
        settings.addStretch(1)
        settings.addWidget(self.save_button)

        self.grid = ThumbnailList(TILE)
        self.grid.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self._panel = StackedPanel(self.grid, EMPTY_TEXT)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addWidget(self.model_label)
        layout.addLayout(controls)
        layout.addLayout(settings)
        layout.addWidget(self.summary_label)
        layout.addWidget(self._panel, 1)

        state.model_changed.connect(self._on_model_changed)
        self._on_mode_changed()
        self._on_model_changed()

    @staticmethod
    def _labelled(*parts: Any) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        for part in parts:
            row.addWidget(QLabel(part) if isinstance(part, str) else part)
        return box

    # ------------------------------------------------------------------ public API
    @property
    def dream(self) -> Any:
        """The `inspect.dream.Dream` on screen, or None."""
        return self._dream

    @property
    def running(self) -> bool:
        """Whether a render is in progress."""
        return self._job is not None

    def captions(self) -> list[str]:
        """The captions under the images, in order."""
        return [self.grid.item(i).text() for i in range(self.grid.count())]

    def set_mode(self, mode: str) -> None:
        """Switch between MODE_CLASSES and MODE_CHANNELS."""
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    def render(self) -> None:
        """Optimise the images chosen above for the model on show."""
        handle = self._state.model_handle
        if handle is None or self._job is not None:
            return
        layer: str | None = None
        if self.mode_combo.currentData() == MODE_CHANNELS:
            layer = self.layer_combo.currentData()
            if layer is None:
                self.summary_label.setText("This network has no conv layer to look at.")
                return
            first = self.first_spin.value()
            targets: tuple[int, ...] | None = tuple(range(first, min(first + PAGE, self._channels[layer])))
        else:
            target = self.class_combo.currentData()
            targets = None if target is None or target == ALL_CLASSES else (int(target),)
        self.summary_label.setText("Optimising…")
        self.progress.setValue(0)
        self.render_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._job = self._state.run_in_background(
            _render, handle, layer, targets, self.steps_spin.value(), str(self.param_combo.currentData()),
            on_done=lambda result: self._on_rendered(result, handle), on_error=self._on_failed, key=self._key,
            on_progress=self._on_progress)

    def save_grid(self, path: str) -> None:
        """Write the images on show, captioned, to `path` as PNG; the status line says where, or why not."""
        from cnnstudio.inspect.dream import dream_grid
        from cnnstudio.inspect.pictures import save_png

        if self._dream is None:
            return
        try:
            save_png(path, dream_grid(self._dream))
        except (CnnStudioError, OSError, ValueError) as exc:
            self._state.report("error", f"The grid was not saved: {describe(exc)}")
        else:
            self._state.report("info", f"Saved the grid to {path}")

    def _on_save_clicked(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, "Save the grid", "features.png", "PNG picture (*.png)")
        if path:
            self.save_grid(path)

    def cancel(self) -> None:
        """Stop the render in progress (at its next step)."""
        if self._job is not None:
            self._job.cancel()

    # ------------------------------------------------------------------ reactions
    def _on_mode_changed(self) -> None:
        channels = self.mode_combo.currentData() == MODE_CHANNELS
        self._class_box.setVisible(not channels)
        self._layer_box.setVisible(channels)

    def _on_model_changed(self) -> None:
        handle = self._state.model_handle
        self.model_label.setText(f"Model: {handle.describe()}" if handle is not None
                                 else "Model: none yet — train one, or open a run in the Runs tab")
        self.render_button.setEnabled(handle is not None and self._job is None)
        if handle is None:
            self._panel.show_empty(EMPTY_TEXT)
            return
        if not self._panel.showing_content:
            self._panel.show_empty(READY_TEXT)
        chosen = self.class_combo.currentData()
        self.class_combo.clear()
        self.class_combo.addItem(f"all {format_count(len(handle.spec.classes))}", ALL_CLASSES)
        for i, name in enumerate(handle.spec.classes):
            self.class_combo.addItem(name, i)
            self.class_combo.setItemData(i + 1, tooltip(name), Qt.ItemDataRole.ToolTipRole)
        if chosen is not None and self.class_combo.findData(chosen) >= 0:
            self.class_combo.setCurrentIndex(self.class_combo.findData(chosen))
        self._state.run_in_background(_layers, handle, on_done=self._on_layers, key=f"{self._key}-layers",
                                      on_error=lambda exc: self._state.report("error", describe(exc, doing="Features")))

    def _on_layers(self, layers: list[tuple[str, int]]) -> None:
        chosen = self.layer_combo.currentData()
        self._channels = dict(layers)
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        for name, count in layers:
            self.layer_combo.addItem(f"{name} ({count} channels)", name)
        index = self.layer_combo.findData(chosen)
        self.layer_combo.setCurrentIndex(index if index >= 0 else 0)
        self.layer_combo.blockSignals(False)
        self._on_layer_changed()

    def _on_layer_changed(self) -> None:
        count = self._channels.get(str(self.layer_combo.currentData()), 0)
        self.first_spin.setRange(0, max(count - 1, 0))
        self._update_page_label()

    def _update_page_label(self) -> None:
        count = self._channels.get(str(self.layer_combo.currentData()), 0)
        first = self.first_spin.value()
        self.page_label.setText(f"channels {first}–{min(first + PAGE, count) - 1} of {count}" if count else "")

    def _on_progress(self, done: int, total: int) -> None:
        if self._job is not None and total > 0:
            self.progress.setValue(int(1000 * done / total))
            self.summary_label.setText(f"Optimising… step {format_count(done)} / {format_count(total)}")

    def _finish_job(self) -> None:
        self._job = None
        self.cancel_button.setEnabled(False)
        self.render_button.setEnabled(self._state.model_handle is not None)

    def _on_rendered(self, dream: Any, handle: ModelHandle) -> None:
        self._finish_job()
        self._dream = dream
        self.save_button.setEnabled(True)
        self.progress.setValue(1000)
        what = (f"{len(dream.targets)} channels of {dream.layer}" if dream.kind == "channel"
                else f"{len(dream.targets)} class image{'s' if len(dream.targets) != 1 else ''}")
        how = "the network's probability for each image's class" if dream.kind == "class" else \
            "each channel's mean output for the random start, then for its image"
        self.summary_label.setText(f"{what} · {handle.describe()} · {dream.steps} steps in {dream.param} space · "
                                   f"{dream.seconds:.1f} s · captions: {how}")
        self.grid.set_thumbnails([(i, image, caption) for i, (image, caption)
                                  in enumerate(zip(dream.images, dream.captions()))])
        for i in range(len(dream.targets)):
            called, p = dream.predicted(i)
            self.grid.item(i).setToolTip(tooltip(f"{dream.names[i]}: the network calls this image {called} ({p:.1%})"))
        self._panel.show_content()

    def _on_failed(self, exc: BaseException) -> None:
        self._finish_job()
        self.progress.setValue(0)
        self.summary_label.setText("Rendering cancelled." if isinstance(exc, Cancelled) else describe(exc))
