"""One image, explained: what the network saw, its top-5, Grad-CAM, feature maps, neighbours.

Used by the Evaluate tab (a validation image picked from a confusion cell) and the
Classify tab (a dropped file). Everything is computed by the engine in background jobs
(`inspect.cam.Explainer`, `inspect.activations`, `inspect.neighbours`); a newer request
for the same view drops the older one's answer. Clicking another class in the top-5 shows
why *that* class: Grad-CAM is recomputed for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.errors import describe
from cnnstudio.gui.format import format_percent
from cnnstudio.gui.state import ModelHandle, StudioState
from cnnstudio.gui.text import plain
from cnnstudio.gui.widgets.image_grid import ImageView, Thumbnail, ThumbnailList

__all__ = ["CAM_METHOD_TITLES", "DetailSubject", "ImageDetail"]

#: The explanation methods offered, in `inspect.cam.CAM_METHODS`' names.
CAM_METHOD_TITLES = (("gradcam", "Grad-CAM"), ("gradcam++", "Grad-CAM++"), ("guided-gradcam", "Guided Grad-CAM"),
                     ("guided-backprop", "Guided backprop"))
NEIGHBOURS_K = 8


@dataclass(frozen=True, eq=False)
class DetailSubject:
    """The image to explain: stored pixels (uint8 H×W×C, before the model's transform) or a file."""

    caption: str
    image: np.ndarray | None = None
    path: str | None = None
    true_class: str | None = None


@dataclass(frozen=True, eq=False)
class _Prepared:
    """A subject made ready for one model (cached per subject and model)."""

    trained: Any  # inspect.inputs.TrainedModel
    explainer: Any  # inspect.cam.Explainer (its own copy of the weights)
    x: Any  # 1×C×S×S model input
    seen: np.ndarray  # the input as the network saw it, float H×W(×3) in [0, 1]
    raw: np.ndarray  # uint8 H×W×C of what was shown to the network, for neighbour tiles
    note: str | None
    layers: tuple[str, ...]  # Grad-CAM layers (conv outputs and blocks), input order
    default_layer: str
    conv_layers: tuple[str, ...]


def _prepare(handle: ModelHandle, subject: DetailSubject) -> _Prepared:
    """Background job: the model input of `subject` and an explainer for `handle`'s model."""
    import torch

    from cnnstudio.data.transforms import from_model_input
    from cnnstudio.inspect.activations import conv_layers
    from cnnstudio.inspect.cam import Explainer
    from cnnstudio.inspect.inputs import prepare_image

    trained = handle.trained()
    note = None
    if subject.path is not None:
        prepared = prepare_image(subject.path, trained)
        x, seen_chw, note = prepared.x, prepared.seen, prepared.note
    else:
        chw = torch.from_numpy(np.ascontiguousarray(subject.image)).permute(2, 0, 1)
        x = trained.to_input(chw)
        seen_chw = from_model_input(x, trained.spec, in_channels=trained.in_channels)[0].cpu()
    raw = seen_chw.permute(1, 2, 0).numpy()
    seen = raw.astype(np.float32) / 255.0
    seen = seen[..., 0] if seen.shape[2] == 1 else seen
    explainer = Explainer(trained)
    layers = tuple(layer.name for layer in explainer.layers())
    return _Prepared(trained, explainer, x, seen, raw, note, layers, explainer.default_layer(), tuple(conv_layers(handle.model)))


def _explain(prepared: _Prepared, method: str, layer: str, target: int | None) -> tuple[np.ndarray, Any]:
    """Background job: the heat map over the image (float H'×W'×3) and the `Explanation`."""
    from cnnstudio.inspect.cam import guided_image, overlay

    explanation = prepared.explainer.explain(prepared.x, method=method, layer=layer, target=target)
    if method == "guided-backprop" or method == "guided-gradcam":
        picture = guided_image(explanation.guided)
    else:
        picture = overlay(prepared.raw, explanation.heatmap)
    return picture.astype(np.float32) / 255.0, explanation


def _maps(prepared: _Prepared, layer: str) -> np.ndarray:
    """Background job: `layer`'s feature maps of the image, tiled (grey in [0, 1])."""
    from cnnstudio.inspect.activations import feature_maps, tile_feature_maps

    return tile_feature_maps(feature_maps(prepared.trained.model, layer, prepared.x[0]), max_maps=64)


def _neighbours(prepared: _Prepared, *, progress: Any = None, cancel: Any = None) -> list[Thumbnail]:
    """Background job: the image, then its nearest training images by the last hidden layer, captioned."""
    from cnnstudio.inspect.neighbours import query_features, run_feature_bank

    bank, data = run_feature_bank(prepared.trained, split="train", progress=progress, cancel=cancel)
    query, _probs = query_features(prepared.trained, prepared.x)
    found = bank.query(query, k=NEIGHBOURS_K, exclude_self=True)
    classes = prepared.trained.classes
    labels = data.labels
    thumbs: list[Thumbnail] = [(None, prepared.raw, "this image")]
    for index, distance in zip(found.indices[0], found.distances[0]):
        if index >= 0:
            thumbs.append((int(index), data.image(int(index)), f"{classes[int(labels[int(index)])]}\nd = {distance:.2f}"))
    return thumbs


class ImageDetail(QWidget):
    """The detail view of one image for the model on show (see the module docstring)."""

    #: The user asked to see this image's file in the Feature maps tab (a dropped file's path).
    feature_maps_requested = Signal(str)

    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._key = f"image-detail-{id(self)}"
        self._subject: DetailSubject | None = None
        self._prepared: _Prepared | None = None
        self._target: int | None = None  # None: the predicted class

        self.caption_label = plain(QLabel("Pick an image to see why the network answered as it did."))
        self.caption_label.setObjectName("tabTitle")
        self.caption_label.setWordWrap(True)
        self.note_label = plain(QLabel())
        self.note_label.setObjectName("hint")
        self.note_label.setWordWrap(True)
        self.seen_view = ImageView()
        self.cam_view = ImageView()
        self.maps_view = ImageView()
        self.neighbours_view = ThumbnailList(64, one_row=True)
        self.neighbours_view.setToolTip("Training images by distance in the last hidden layer (red: this image)")
        for view in (self.seen_view, self.cam_view, self.maps_view):
            view.setMinimumSize(96, 96)  # 140 left the confusion matrix 90 px tall on a 768-px screen
        self.neighbours_view.setMinimumHeight(self.neighbours_view.gridSize().height() + 24)  # and a scroll bar

        self.top5_list = QListWidget()
        self.top5_list.setToolTip("Click a class to see which pixels speak for it")
        self.top5_list.setMaximumHeight(120)
        self.top5_list.itemClicked.connect(self._on_class_clicked)
        self.method_combo = QComboBox()
        for method, title in CAM_METHOD_TITLES:
            self.method_combo.addItem(title, method)
        self.layer_combo = QComboBox()
        self.layer_combo.setMinimumContentsLength(12)
        self.maps_combo = QComboBox()
        self.maps_combo.setMinimumContentsLength(12)
        self.method_combo.currentIndexChanged.connect(self._request_explanation)
        self.layer_combo.currentIndexChanged.connect(self._request_explanation)
        self.maps_combo.currentIndexChanged.connect(self._request_maps)
        self.neighbours_button = QPushButton("Find nearest training images")
        self.neighbours_button.setToolTip("Images whose last hidden layer is closest (AlexNet §6.1); "
                                          "the first search extracts the training set's features once")
        self.neighbours_button.clicked.connect(self._request_neighbours)
        self.status_label = plain(QLabel())
        self.status_label.setObjectName("hint")
        self.status_label.setWordWrap(True)

        def titled(title: str, widget: QWidget) -> QWidget:
            box = QWidget()
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(2)
            label = QLabel(title)
            label.setObjectName("statName")
            column.addWidget(label)
            column.addWidget(widget, 1)
            return box

        pickers = QHBoxLayout()
        pickers.addWidget(QLabel("Method"))
        pickers.addWidget(self.method_combo)
        pickers.addWidget(QLabel("Layer"))
        pickers.addWidget(self.layer_combo)
        pickers.addSpacing(12)
        pickers.addWidget(QLabel("Feature maps of"))
        pickers.addWidget(self.maps_combo)
        pickers.addStretch(1)
        grid = QGridLayout()
        grid.addWidget(titled("What the network saw", self.seen_view), 0, 0)
        grid.addWidget(titled("Why (heat map over the image)", self.cam_view), 0, 1)
        grid.addWidget(titled("Feature maps", self.maps_view), 0, 2)
        grid.addWidget(titled("Top-5 (click a class)", self.top5_list), 1, 0)
        neighbours = QVBoxLayout()
        neighbours.addWidget(self.neighbours_button, 0, Qt.AlignmentFlag.AlignLeft)
        neighbours.addWidget(self.neighbours_view, 1)
        grid.addLayout(neighbours, 1, 1, 1, 2)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.caption_label)
        layout.addWidget(self.note_label)
        layout.addLayout(pickers)
        layout.addLayout(grid, 1)
        layout.addWidget(self.status_label)
        self._set_enabled(False)

    # ------------------------------------------------------------------ public API
    def show_subject(self, subject: DetailSubject, handle: ModelHandle | None = None) -> None:
        """Explain `subject` with `handle`'s model (default: the model on show), predicted class first."""
        handle = handle if handle is not None else self._state.model_handle
        self._subject, self._prepared, self._target = subject, None, None
        self.caption_label.setText(subject.caption)
        for view in (self.seen_view, self.cam_view, self.maps_view, self.neighbours_view):
            view.clear()
        self.top5_list.clear()
        if handle is None:
            self.status_label.setText("Train a model or open a run first.")
            return
        self.status_label.setText("Preparing…")
        self._state.run_in_background(_prepare, handle, subject, on_done=self._on_prepared,
                                      on_error=self._on_failed, key=f"{self._key}-prepare")

    def clear(self) -> None:
        """Show no image (the one on show belonged to an evaluation or model that is gone)."""
        self._subject, self._prepared, self._target = None, None, None
        self.caption_label.setText("Pick an image to see why the network answered as it did.")
        self.note_label.setText("")
        for view in (self.seen_view, self.cam_view, self.maps_view, self.neighbours_view):
            view.clear()
        self.top5_list.clear()
        self.status_label.setText("")
        self._set_enabled(False)

    @property
    def prepared(self) -> bool:
        """Whether the image is ready (its network input shown, the pickers filled)."""
        return self._prepared is not None

    def top5(self) -> list[str]:
        """The top-5 rows as shown."""
        return [self.top5_list.item(i).text() for i in range(self.top5_list.count())]

    # ------------------------------------------------------------------ results
    def _set_enabled(self, on: bool) -> None:
        for widget in (self.method_combo, self.layer_combo, self.maps_combo, self.neighbours_button, self.top5_list):
            widget.setEnabled(on)

    def _on_prepared(self, prepared: _Prepared) -> None:
        if self._subject is None:
            return  # cleared while it was prepared
        self._prepared = prepared
        self.note_label.setText(prepared.note or "")
        self.seen_view.set_image(prepared.seen)
        for combo, names, default in ((self.layer_combo, prepared.layers, prepared.default_layer),
                                      (self.maps_combo, prepared.conv_layers, prepared.conv_layers[0]
                                       if prepared.conv_layers else "")):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(list(names))
            combo.setCurrentText(default)
            combo.blockSignals(False)
        self._set_enabled(True)
        self.neighbours_button.setEnabled(prepared.trained.config is not None)
        self.neighbours_button.setToolTip(self.neighbours_button.toolTip() if prepared.trained.config is not None
                                          else "These weights carry no training split to search")
        self.status_label.setText("")
        self._request_explanation()
        self._request_maps()

    def _request_explanation(self, *_: Any) -> None:
        prepared = self._prepared
        if prepared is None or not self.layer_combo.currentText():
            return
        method = str(self.method_combo.currentData())
        self.layer_combo.setEnabled(method != "guided-backprop")
        self._state.run_in_background(_explain, prepared, method, self.layer_combo.currentText(), self._target,
                                      on_done=self._on_explained, on_error=self._on_failed,
                                      key=f"{self._key}-explain")

    def _on_explained(self, result: tuple[np.ndarray, Any]) -> None:
        if self._prepared is None:
            return  # cleared meanwhile
        picture, explanation = result
        self.cam_view.set_image(picture)
        classes = self._prepared.trained.classes if self._prepared is not None else ()
        top = explanation.topk(classes, k=min(5, len(classes)))
        self.top5_list.blockSignals(True)
        self.top5_list.clear()
        for name, p in top:
            marks = []
            if classes.index(name) == explanation.target:
                marks.append("explained")
            if self._subject is not None and name == self._subject.true_class:
                marks.append("true class")
            item = QListWidgetItem(f"{name}   {format_percent(p)}" + (f"   ← {', '.join(marks)}" if marks else ""))
            item.setData(Qt.ItemDataRole.UserRole, classes.index(name))
            self.top5_list.addItem(item)
        self.top5_list.blockSignals(False)
        target = explanation.target_name or str(explanation.target)
        where = f" at {explanation.layer}" if explanation.layer else ""
        self.status_label.setText(f"{dict(CAM_METHOD_TITLES)[explanation.method]} for “{target}”{where}")

    def _on_class_clicked(self, item: QListWidgetItem) -> None:
        self._target = int(item.data(Qt.ItemDataRole.UserRole))
        self._request_explanation()

    def _request_maps(self, *_: Any) -> None:
        prepared = self._prepared
        if prepared is None or not self.maps_combo.currentText():
            return
        self._state.run_in_background(_maps, prepared, self.maps_combo.currentText(),
                                      on_done=self._on_maps, on_error=self._on_failed,
                                      key=f"{self._key}-maps")

    def _on_maps(self, picture: np.ndarray) -> None:
        if self._prepared is not None:  # not cleared meanwhile
            self.maps_view.set_image(picture)

    def _request_neighbours(self) -> None:
        prepared = self._prepared
        if prepared is None:
            return
        self.neighbours_button.setEnabled(False)
        self.status_label.setText("Finding the nearest training images…")

        def shown(thumbs: list[Thumbnail]) -> None:
            if self._prepared is not prepared:
                return  # another image (or none) is on show now
            self.neighbours_view.set_thumbnails(thumbs, highlight=0)
            self.neighbours_button.setEnabled(True)
            self.status_label.setText(f"The {NEIGHBOURS_K} nearest training images by the last hidden layer "
                                      "(red: this image)")

        def failed(exc: BaseException) -> None:
            self.neighbours_button.setEnabled(True)
            self._on_failed(exc)

        self._state.run_in_background(_neighbours, prepared, on_done=shown, on_error=failed,
                                      key=f"{self._key}-neighbours",
                                      on_progress=lambda done, total: self.status_label.setText(
                                          f"Extracting the training set's features… {done:,} / {total:,}"))

    def _on_failed(self, exc: BaseException) -> None:
        self.status_label.setText(describe(exc))
