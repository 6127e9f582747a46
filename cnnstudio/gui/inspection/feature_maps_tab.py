"""The Feature maps tab: what any convolution layer of the current model sees in one image.

The image is a validation image of the current dataset (chosen by index) or an image
file (opened here, or the one last selected in the Classify tab). It goes through the
engine's evaluation transform, so it is seen exactly as validation images are; the
chosen layer's output is tiled into one grid, each map scaled on its own.

"Probe image (history)" shows a run's stored history instead (`training/history.py`): the
probe images chosen at its start (one per class) through its two stored layers, at every
snapshot, on the `HistoryStrip`'s slider; all frames of a probe share one scale unless
"per-frame contrast" is ticked. The maps of every snapshot are read once, in the background.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.errors import CnnStudioError, describe
from cnnstudio.gui.format import format_count
from cnnstudio.gui.state import ModelHandle, StudioState, setup_caption
from cnnstudio.gui.text import plain
from cnnstudio.gui.text import IMAGE_FILTER
from cnnstudio.gui.inspection.history_strip import HistoryStrip, load_curves
from cnnstudio.gui.widgets.image_grid import ImageView, StackedPanel
from cnnstudio.training.config import TrainConfig

__all__ = ["FeatureMapsTab"]

EMPTY_TEXT = "Train or open a run to see feature maps."
MAX_MAPS = 256  # more would make each map a few pixels wide; the label says how many are shown
DEBOUNCE_MS = 120

SOURCE_VALIDATION = "Validation image"
SOURCE_FILE = "Image file"
SOURCE_HISTORY = "Probe image (history)"
NO_HISTORY_TEXT = ("This model has no history of its feature maps: runs keep one from this version on "
                   "(unless trained with --no-history). Train or open such a run.")


@dataclass(frozen=True)
class _Request:
    """What to compute: which image (a validation index or a file) through which layer."""

    layer: str
    path: str | None = None  # an image file, or None for the validation image below
    dataset: str = ""  # whose validation split, when the model carries no config of its own
    index: int = 0
    split: TrainConfig | None = None  # the config whose validation split the model trained with


@dataclass(frozen=True)
class _Result:
    """A computed grid, with what the labels need to describe it."""

    grid: np.ndarray  # H×W in [0, 1]
    maps_shape: tuple[int, int, int]  # the layer's output for this image: C, H, W
    shown: int  # how many maps the grid holds
    image: np.ndarray  # the input as the model sees it (grey H×W or H×W×3, in [0, 1])
    caption: str  # where the image came from ("validation image 3 · class 7")
    validation_size: int | None  # how many validation images the dataset has


# Validation sets for this tab, by what defines a split: the running fit's own
# (`use_dataset`) or loaded here. Held for the process: reloading MNIST-sized data for every
# index change would make the spin box useless.
_VALIDATION_CACHE: dict[str, Any] = {}


def _validation_image(dataset: str, index: int, split: TrainConfig | None) -> tuple[Any, str, int]:
    """A validation image (uint8 C×H×W), its caption and the set's size (loads the set once).

    With `split`, it is the very split that config trained with (its seed and fraction,
    through the trainer's own loading), so no training image is ever shown as a validation
    one; without, `dataset` split with the defaults.
    """
    from cnnstudio.training.fit.training_data import training_data_key

    key = training_data_key(split) if split is not None else json.dumps(["defaults", dataset])
    bundle = _VALIDATION_CACHE.get(key)
    if bundle is None:
        if split is not None:
            from cnnstudio.training.fit.training_data import load_training_data

            bundle = load_training_data(split, download=False)
        else:
            from cnnstudio.data.loaders import load_dataset

            bundle = load_dataset(dataset, download=False)
        _VALIDATION_CACHE.clear()  # one dataset at a time is enough
        _VALIDATION_CACHE[key] = bundle
    val = bundle.val
    count = len(val)
    if count == 0:
        raise CnnStudioError(f"{dataset} has no validation images; open an image file instead")
    index = min(max(index, 0), count - 1)
    if val.images is not None:
        image = val.images[index]
    else:  # a large folder streams from its files
        from cnnstudio.data.images import image_to_tensor, load_image

        image = image_to_tensor(load_image(val.paths[index]), bundle.spec.channels)
    label = val.labels[index]
    return image, f"validation image {index} of {format_count(count)} · class {bundle.spec.classes[int(label)]}", count


def _compute(handle: ModelHandle, request: _Request) -> _Result:
    """Background job: the chosen layer's maps for the chosen image, tiled into a grid."""
    from cnnstudio.data.images import image_to_tensor, load_image
    from cnnstudio.data.transforms import to_model_input
    from cnnstudio.inspect.activations import feature_maps, tile_feature_maps

    count = None
    if request.path is not None:
        image = image_to_tensor(load_image(request.path), handle.spec.channels)
        caption = Path(request.path).name
    else:
        image, caption, count = _validation_image(request.dataset, request.index, request.split)
    x = to_model_input(image, handle.spec, input_size=handle.input_size, in_channels=handle.in_channels)[0]
    maps = feature_maps(handle.model, request.layer, x)
    shown = min(len(maps), MAX_MAPS)
    grid = tile_feature_maps(maps, max_maps=MAX_MAPS)
    # What the network sees, for the picture beside the maps: rescaled per image to [0, 1].
    seen = x.float()
    seen = ((seen - seen.min()) / (seen.max() - seen.min()).clamp_min(1e-8)).permute(1, 2, 0).numpy()
    seen = seen[..., 0] if seen.shape[2] == 1 else seen
    return _Result(grid, tuple(maps.shape), shown, seen, caption, count)


@dataclass(frozen=True)
class _History:
    """A run's stored probes and the maps of its stored layers over every snapshot."""

    run_dir: str
    probes: Any  # training.history.Probes
    layers: tuple[Any, ...]  # inspect.history.MapHistory per stored layer
    curves: tuple[Any, ...]  # EpochStats


def _map_history(run_dir: str) -> _History | None:
    """Background job: a run's probes and map histories (None when it has none)."""
    from cnnstudio.inspect.history import MapHistory, NoHistoryError
    from cnnstudio.training.store.snapshots import read_probes

    probes = read_probes(run_dir)
    if probes is None or not len(probes.images):
        return None
    layers = []
    for index in range(2):
        try:
            layers.append(MapHistory.load(run_dir, index))
        except NoHistoryError:
            break
    return _History(run_dir, probes, tuple(layers), load_curves(run_dir)) if layers else None


class FeatureMapsTab(QWidget):
    """Activation maps of a chosen conv layer for a chosen image."""

    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._path: str | None = None
        self._result: _Result | None = None
        self._stale = False
        self._key = f"feature-maps-tab-{id(self)}"

        self._source = QComboBox()
        self._source.addItems([SOURCE_VALIDATION, SOURCE_FILE, SOURCE_HISTORY])
        self._history: _History | None = None
        self._source.currentTextChanged.connect(self._on_source_changed)
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, 999_999)
        self.index_spin.setPrefix("# ")
        self.index_spin.setKeyboardTracking(False)
        self.index_spin.setMaximumWidth(110)
        self.index_spin.valueChanged.connect(self._schedule)
        open_button = QPushButton("Open image…")
        open_button.clicked.connect(self._on_open_clicked)
        self._layer = QComboBox()
        self._layer.setMinimumContentsLength(14)
        self._layer.currentTextChanged.connect(self._schedule)

        self.probe_combo = QComboBox()  # one probe per class
        self.probe_combo.setMinimumContentsLength(10)
        self.probe_combo.currentIndexChanged.connect(lambda _i: self._show_history_frame())
        self.history_layer = QComboBox()  # the layers the history stored
        self.history_layer.setMinimumContentsLength(14)
        self.history_layer.currentIndexChanged.connect(lambda _i: self._show_history_frame())
        self._open_button = open_button

        controls = QHBoxLayout()
        controls.setSpacing(8)
        controls.addWidget(QLabel("Image"))
        controls.addWidget(self._source)
        controls.addWidget(self.index_spin)
        controls.addWidget(open_button)
        controls.addWidget(self.probe_combo)
        controls.addSpacing(16)
        controls.addWidget(QLabel("Layer"))
        controls.addWidget(self._layer)
        controls.addWidget(self.history_layer)
        controls.addStretch(1)
        self.history_strip = HistoryStrip(state)
        self.history_strip.frame_changed.connect(lambda _i: self._show_history_frame())
        self.history_strip.contrast_changed.connect(lambda _on: self._show_history_frame())

        self.model_label = plain(QLabel())  # which model's maps these are (a run's name)
        self.model_label.setWordWrap(True)
        self._shape_label = plain(QLabel())
        self._shape_label.setObjectName("tabTitle")
        self.caption_label = plain(QLabel())  # a file's name, a class name
        self.caption_label.setWordWrap(True)

        self._input_view = ImageView()
        self._input_view.setMinimumWidth(120)
        # Grey like the kernels: the engine pads the tiles in white, which a colour map
        # would turn into loud stripes.
        self._maps_view = ImageView()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._input_view)
        splitter.addWidget(self._maps_view)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 4)
        self._panel = StackedPanel(splitter, EMPTY_TEXT)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(controls)
        layout.addWidget(self.history_strip)
        layout.addWidget(self.model_label)
        layout.addWidget(self._shape_label)
        layout.addWidget(self.caption_label)
        layout.addWidget(self._panel, 1)

        # Spin-box arrows and combo scrolling come in bursts; compute for the last value.
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._request)
        state.model_changed.connect(self._on_model_changed)
        state.selection_changed.connect(self._on_selection_changed)
        self._on_source_changed(self._source.currentText())
        self._on_model_changed()

    # ------------------------------------------------------------------ public API
    def use_dataset(self, config: TrainConfig, bundle: Any) -> None:
        """Take validation images from `bundle`, already loaded for `config` (a fit's own
        copy), instead of loading a second copy of the same data."""
        _VALIDATION_CACHE.clear()
        from cnnstudio.training.fit.training_data import training_data_key

        _VALIDATION_CACHE[training_data_key(config)] = bundle

    def show_image(self, path: str) -> None:
        """Use this image file (e.g. the one selected in the Classify tab).

        Computed now when the tab is visible, else when it is next shown: a drop in the
        Classify tab must not pay for a second forward pass nobody looks at.
        """
        self._path = str(path)
        with QSignalBlocker(self._source):
            self._source.setCurrentText(SOURCE_FILE)
        self._on_source_changed(SOURCE_FILE)

    def set_layer(self, name: str) -> None:
        """Choose a conv layer by its qualified name (as the combo box would)."""
        index = self._layer.findText(name)
        if index < 0:
            raise ValueError(f"no conv layer {name!r}; layers: {self.layers()}")
        self._layer.setCurrentIndex(index)

    def layers(self) -> list[str]:
        """The conv layers offered (qualified names, input to output)."""
        return [self._layer.itemText(i) for i in range(self._layer.count())]

    @property
    def maps_shape(self) -> tuple[int, int, int] | None:
        """The shown layer's output shape (channels, height, width), or None."""
        return self._result.maps_shape if self._result is not None and self._panel.showing_content else None

    @property
    def shape_text(self) -> str:
        """The line describing the shown layer's output."""
        return self._shape_label.text()

    @property
    def message_text(self) -> str | None:
        """The message shown in place of the maps (no model, an unreadable image), or None."""
        return None if self._panel.showing_content else self._panel.empty.text()

    @property
    def grid(self) -> np.ndarray | None:
        """The tiled maps on screen, or None."""
        return self._maps_view.image if self._panel.showing_content else None

    # ------------------------------------------------------------------ events
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self._debounce.start()

    def _on_model_changed(self) -> None:
        handle = self._state.model_handle
        if handle is not None and handle.history_dir is not None:
            run_dir = handle.history_dir
            self._state.run_in_background(_map_history, run_dir, on_done=self._on_history,
                                          on_error=lambda exc: self._on_history(None),
                                          key=f"{self._key}-history")
        else:
            self._on_history(None)
        self._layer.setEnabled(handle is not None)
        self.model_label.setText(f"Model: {handle.describe()}" if handle is not None
                                 else f"Model: none yet ({setup_caption(self._state)})")
        if handle is None:
            with QSignalBlocker(self._layer):
                self._layer.clear()
            self._result = None
            self._panel.show_empty(EMPTY_TEXT)
            self._shape_label.clear()
            self.caption_label.clear()
            return
        from cnnstudio.inspect.activations import conv_layers

        names = conv_layers(handle.model)
        if names != self.layers():
            current = self._layer.currentText()
            with QSignalBlocker(self._layer):
                self._layer.clear()
                self._layer.addItems(names)
                if current in names:
                    self._layer.setCurrentText(current)
        if not names:
            self._panel.show_empty(f"{handle.arch_name or 'This model'} has no convolution layers.")
            return
        self._schedule()  # an epoch end during training: computed only when someone looks

    def _on_selection_changed(self) -> None:
        if self._source.currentText() == SOURCE_VALIDATION and self._state.model_handle is not None:
            self._schedule()

    def _on_source_changed(self, text: str) -> None:
        history = text == SOURCE_HISTORY
        self.index_spin.setVisible(text == SOURCE_VALIDATION)
        self._open_button.setVisible(not history)
        self._layer.setVisible(not history)
        for widget in (self.probe_combo, self.history_layer):
            widget.setVisible(history)
        self.history_strip.setVisible(history and self._history is not None)
        if history:
            self._show_history_frame()
            return
        if text == SOURCE_FILE and self._path is None:
            self.caption_label.setText("Open an image file, or select one in the Classify tab.")
            return
        self._schedule()

    @Slot()
    def _on_open_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image", "", IMAGE_FILTER)
        if path:
            self.show_image(path)

    # ------------------------------------------------------------------ history
    def show_history(self) -> None:
        """Show the stored probes' maps across training (the "Probe image (history)" source)."""
        self._source.setCurrentText(SOURCE_HISTORY)

    @property
    def history(self) -> _History | None:
        """The run history loaded for the model on show, or None."""
        return self._history

    def _on_history(self, history: _History | None) -> None:
        self._history = history
        if history is not None:
            classes = self._state.model_handle.spec.classes if self._state.model_handle is not None else ()
            probes = [f"{classes[int(label)] if int(label) < len(classes) else label} (image {int(index)})"
                      for label, index in zip(history.probes.labels, history.probes.indices)]
            names = [layer.layer for layer in history.layers]
            for combo, items in ((self.probe_combo, probes), (self.history_layer, names)):
                if [combo.itemText(i) for i in range(combo.count())] != items:
                    keep = combo.currentIndex()
                    with QSignalBlocker(combo):
                        combo.clear()
                        combo.addItems(items)
                        combo.setCurrentIndex(keep if 0 <= keep < len(items) else 0)
            # The strip keeps its moment for the same run, and for a new one takes the moment another
            # view chose (the Kernels tab starts at the weights on show), else the run's end.
            self.history_strip.set_history(history.run_dir, history.layers[0].snapshots, history.curves)
        if self._source.currentText() == SOURCE_HISTORY:
            self._on_source_changed(SOURCE_HISTORY)

    def _show_history_frame(self) -> None:
        if self._source.currentText() != SOURCE_HISTORY:
            return
        history = self._history
        self.history_strip.setVisible(history is not None)
        if history is None:
            self._result = None
            self._shape_label.clear()
            self.caption_label.clear()
            self._panel.show_empty(NO_HISTORY_TEXT)
            return
        which = min(max(self.history_layer.currentIndex(), 0), len(history.layers) - 1)
        layer = history.layers[which]
        probe = min(max(self.probe_combo.currentIndex(), 0), len(history.probes.images) - 1)
        snap = self.history_strip.snapshot
        if snap is None:
            return
        # The stored layers were snapshotted together; the nearest moment covers a file that lost one.
        index = min(range(len(layer.snapshots)), key=lambda i: abs(layer.snapshots[i].x - snap.x))
        contrast = self.history_strip.per_frame_contrast
        grid = layer.frame(index, probe, per_frame_contrast=contrast)
        stored = layer.maps[index].shape[1:]
        full = layer.snapshots[index].map_shapes[which]
        scale = "each frame on its own scale" if contrast else "one scale for all frames of this probe"
        self._shape_label.setText(
            f"{layer.layer} at {layer.snapshots[index].label}: {stored[0]} of {full[0]} maps, "
            f"{stored[1]} × {stored[2]} (the layer gives {full[1]} × {full[2]}) · {scale}")
        image = history.probes.images[probe].astype(np.float32) / 255.0
        image = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        self.caption_label.setText(f"Input: probe {self.probe_combo.currentText()}, stored when the run started "
                                   "· mid-grey is 0")
        self._result = _Result(grid, tuple(layer.maps[index].shape[1:]), stored[0], image,
                               self.probe_combo.currentText(), None)
        self._input_view.set_image(image)
        self._maps_view.set_image(grid)
        if contrast:
            self._maps_view.set_scale("its lowest", "its highest", title="each map")
        else:
            self._maps_view.set_scale("−largest", "+largest", middle="0", title="all frames")
        self._panel.show_content()

    # ------------------------------------------------------------------ work
    def _schedule(self, *_: Any) -> None:
        """Compute soon when the tab is visible; hidden, only remember that the maps are out of date."""
        if self._source.currentText() == SOURCE_HISTORY:
            return  # the history's frames are drawn from what is loaded
        if not self.isVisible():
            self._stale = True
            return
        self._debounce.start()

    def _request(self) -> None:
        handle = self._state.model_handle
        layer = self._layer.currentText()
        if handle is None or not layer or self._source.currentText() == SOURCE_HISTORY:
            return
        if self._source.currentText() == SOURCE_FILE:
            if self._path is None:
                return
            request = _Request(layer, path=self._path)
        else:
            request = _Request(layer, dataset=self._dataset_of(handle), index=self.index_spin.value(),
                               split=handle.config)
        self._stale = False
        self.caption_label.setText("Computing…")
        self._state.run_in_background(_compute, handle, request, on_done=self._on_result,
                                      on_error=self._on_failed, key=self._key)

    def _dataset_of(self, handle: ModelHandle) -> str:
        """The dataset the model was trained on: the chosen one, unless an opened run used another."""
        chosen = self._state.dataset
        name = getattr(handle.spec, "name", None)
        # A folder dataset's spec is named after the folder, the selection holds its path.
        if not name or name == chosen or name == Path(chosen.rstrip("/\\")).name:
            return chosen
        return name

    def _on_result(self, result: _Result) -> None:
        self._result = result
        channels, height, width = result.maps_shape
        more = f" (first {result.shown} shown)" if result.shown < channels else ""
        self._shape_label.setText(
            f"{self._layer.currentText()} → {channels} × {height} × {width}: "
            f"{format_count(channels)} maps of {height} × {width}{more}"
        )
        self.caption_label.setText(f"Input: {result.caption}")
        if result.validation_size is not None:
            with QSignalBlocker(self.index_spin):
                self.index_spin.setMaximum(result.validation_size - 1)
        self._input_view.set_image(result.image)
        self._maps_view.set_image(result.grid)
        self._maps_view.set_scale("its lowest", "its highest", title="each map")
        self._panel.show_content()

    def _on_failed(self, exc: BaseException) -> None:
        self._result = None
        self._shape_label.clear()
        self.caption_label.clear()
        if isinstance(exc, CnnStudioError):
            # An unreadable file, a dataset that is not downloaded: the engine says what to do.
            self._panel.show_empty(f"{exc}\n\nOpen another image, or pick a validation image.")
        else:
            self._panel.show_empty(f"Could not compute feature maps: {exc}")
            self._state.report("error", describe(exc, doing="Feature maps"))
