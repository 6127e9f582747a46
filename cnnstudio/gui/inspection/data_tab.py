"""The Data tab: the chosen dataset before any training — counts, examples, augmentations, unusable files.

It shows `data.overview.dataset_overview` of the dataset chosen in the setup form, split as a
run with the form's seed would split it: the counts per class and split as bars (imbalance is
visible at a glance), the file sizes, the normalisation's mean/std and the mean image, a row of
training images per class, and every file the scan could not use. The augmentation boxes show
the same images through the trainer's own transform (`augmented_examples`), live; "Draw again"
draws new random crops, flips and jitter.

Reading the dataset (a folder's scan, with progress and Cancel) and the augmentations run as
background jobs; the tab reads only when shown, again when the dataset, input size, seed or the
crop margin changes. A built-in dataset that is not downloaded yet is not fetched for a look:
a button asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QImage, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.errors import Cancelled, describe
from cnnstudio.gui.format import format_count
from cnnstudio.gui.state import Job, StudioState
from cnnstudio.gui.text import plain, tooltip

__all__ = ["DataTab"]

ROW_HEIGHT = 56  # pixels per class row of examples
STRIP_HEIGHT = ROW_HEIGHT - 4
PER_CLASS = 8
TICKS_UP_TO = 24  # classes named under the bars; more: every n-th
TRAIN_BRUSH = QColor(42, 120, 180)
VAL_BRUSH = QColor(240, 150, 50)
RELOAD_DELAY_MS = 250  # selection changes in a burst (a form being filled) read the data once


def _overview(dataset: str, root: str | None, val_fraction: float, seed: int, input_size: int,
              augment: tuple[str, ...], download: bool, *, progress: Any, cancel: Any) -> Any:
    """Background job: `dataset_overview` as a run with these settings would split the data."""
    from cnnstudio.data.overview import dataset_overview

    return dataset_overview(dataset, root=root, val_fraction=val_fraction, seed=seed, input_size=input_size,
                            augment=augment, per_class=PER_CLASS, download=download, progress=progress,
                            cancel=cancel)


def _strips(overview: Any, augment: tuple[str, ...], input_size: int, seed: int) -> list[QImage]:
    """Background job: one QImage per class, its examples side by side as the network is fed them,
    already scaled to the row's height (224 px images shrunk here, not in the GUI thread)."""
    from cnnstudio.data.overview import augmented_examples

    shown = augmented_examples(overview, augment, input_size=input_size, seed=seed)
    labels = np.asarray(overview.example_labels)
    strips = []
    for label in range(len(overview.classes)):
        images = shown[labels == label]
        strips.append(_scaled(_to_qimage(_side_by_side(images)), STRIP_HEIGHT) if len(images) else QImage())
    return strips


def _scaled(image: QImage, height: int) -> QImage:
    """`image` at `height` pixels: whole pixels when enlarged 2× or more (a 28 px digit), smooth otherwise."""
    mode = (Qt.TransformationMode.FastTransformation if image.height() * 2 <= height
            else Qt.TransformationMode.SmoothTransformation)
    return image.scaledToHeight(height, mode)


def _side_by_side(images: np.ndarray, gap: int = 2) -> np.ndarray:
    """uint8 N×C×S×S → one H×W(×3) strip with a white gap between the images."""
    n, c, s, _ = images.shape
    strip = np.full((s, n * s + (n - 1) * gap, c), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        strip[:, i * (s + gap):i * (s + gap) + s] = image.transpose(1, 2, 0)
    return strip[..., 0] if c == 1 else strip


def _to_qimage(array: np.ndarray) -> QImage:
    """uint8 H×W or H×W×3 → a QImage owning its pixels (may be made off the GUI thread)."""
    array = np.ascontiguousarray(array)
    h, w = array.shape[:2]
    if array.ndim == 2:
        return QImage(array.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QImage(array.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class _CountsPlot(pg.PlotWidget):
    """Training and validation images per class, as bars side by side."""

    def __init__(self) -> None:
        super().__init__(background="w")
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setLabel("left", "images")
        self.addLegend(offset=(-10, 10))
        self.train_bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush=TRAIN_BRUSH, pen=None, name="train")
        self.val_bars = pg.BarGraphItem(x=[], height=[], width=0.4, brush=VAL_BRUSH, pen=None, name="validation")
        self.addItem(self.train_bars)
        self.addItem(self.val_bars)

    def set_counts(self, classes: tuple[str, ...], train: tuple[int, ...], val: tuple[int, ...]) -> None:
        x = np.arange(len(classes), dtype=float)
        self.train_bars.setOpts(x=x - 0.2, height=np.asarray(train, float))
        self.val_bars.setOpts(x=x + 0.2, height=np.asarray(val, float))
        every = max(1, -(-len(classes) // TICKS_UP_TO))
        self.getAxis("bottom").setTicks([[(i, name[:10]) for i, name in enumerate(classes) if i % every == 0]])
        self.setXRange(-0.6, len(classes) - 0.4, padding=0)
        self.setYRange(0, max([*train, *val, 1]) * 1.25, padding=0)  # headroom: the legend sits above the bars

    def heights(self) -> tuple[list[int], list[int]]:
        """(training, validation) bar heights in class order."""
        return ([int(v) for v in self.train_bars.opts["height"]], [int(v) for v in self.val_bars.opts["height"]])


class DataTab(QWidget):
    """The chosen dataset as numbers and pictures, before training (see the module docstring)."""

    def __init__(self, state: StudioState, config: Callable[[], Any] | None = None,
                 parent: QWidget | None = None) -> None:
        """`config` gives the form's current `TrainConfig` (its seed, validation fraction, data root
        and augmentations); without one the defaults of a run are assumed."""
        super().__init__(parent)
        self._state = state
        self._config = config
        self._key = f"data-tab-{id(self)}"
        self._job: Job | None = None
        self._loaded_key: tuple[Any, ...] | None = None
        self._wanted_key: tuple[Any, ...] | None = None
        self._download = False
        self._draw_seed = 0
        self.overview: Any = None
        self._strip_images: list[QImage] = []

        self.title = plain(QLabel("Data"))
        self.title.setObjectName("tabTitle")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(200)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.download_button = QPushButton("Download and show")
        self.download_button.clicked.connect(self._on_download_clicked)
        self.download_button.hide()
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)
        top.addWidget(self.download_button)

        self.status_label = plain(QLabel("The chosen dataset is read when this tab is shown."))
        self.status_label.setObjectName("hint")
        self.status_label.setWordWrap(True)

        # Left: counts, facts, mean image, unusable files.
        self.counts_plot = _CountsPlot()
        self.counts_plot.setMinimumHeight(180)
        self.facts_label = plain(QLabel())
        self.facts_label.setWordWrap(True)
        self.facts_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.mean_view = QLabel()
        self.mean_view.setFixedSize(84, 84)
        self.mean_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.mean_view.setObjectName("networkInput")
        self.mean_view.setToolTip("The mean image of the training split")
        mean_caption = plain(QLabel("mean\nimage"))
        mean_caption.setObjectName("hint")
        facts_row = QHBoxLayout()
        facts_row.addWidget(self.facts_label, 1)
        facts_row.addWidget(self.mean_view, 0, Qt.AlignmentFlag.AlignTop)
        facts_row.addWidget(mean_caption, 0, Qt.AlignmentFlag.AlignTop)
        self.unreadable_title = plain(QLabel())
        self.unreadable_list = QListWidget()
        self.unreadable_list.setMaximumHeight(120)
        self.unreadable_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.counts_plot, 3)
        left_layout.addLayout(facts_row)
        left_layout.addWidget(self.unreadable_title)
        left_layout.addWidget(self.unreadable_list, 1)

        # Right: augmentation switches, then one row of training images per class.
        from cnnstudio.data.catalog import AUGMENTATIONS

        self.augment_boxes: dict[str, QCheckBox] = {}
        switches = QHBoxLayout()
        switches.addWidget(plain(QLabel("Show through:")))
        for augmentation in AUGMENTATIONS:
            box = QCheckBox({"pca": "fancy PCA", "scale": "scale jitter"}.get(augmentation.name, augmentation.name))
            box.setToolTip(augmentation.description)
            box.toggled.connect(self._on_augment_toggled)
            self.augment_boxes[augmentation.name] = box
            switches.addWidget(box)
        self.again_button = QPushButton("Draw again")
        self.again_button.setToolTip("New random crops, flips and jitter for the same images")
        self.again_button.clicked.connect(self._on_again_clicked)
        switches.addWidget(self.again_button)
        switches.addStretch(1)
        self.seen_label = plain(QLabel())
        self.seen_label.setObjectName("hint")
        self._rows = QWidget()
        self._rows_layout = QGridLayout(self._rows)
        self._rows_layout.setContentsMargins(4, 4, 4, 4)
        self._rows_layout.setHorizontalSpacing(10)
        self._rows_layout.setVerticalSpacing(4)
        self._row_widgets: list[tuple[QLabel, QLabel]] = []
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._rows)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(switches)
        right_layout.addWidget(self.seen_label)
        right_layout.addWidget(scroll, 1)

        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        self._splitter.addWidget(left)
        self._splitter.addWidget(right)
        self._splitter.setStretchFactor(0, 2)
        self._splitter.setStretchFactor(1, 3)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(top)
        layout.addWidget(self.status_label)
        layout.addWidget(self._splitter, 1)

        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(RELOAD_DELAY_MS)
        self._reload_timer.timeout.connect(self._reload_if_needed)
        state.selection_changed.connect(self._on_selection_changed)
        self._show_overview_widgets(False)

    # ------------------------------------------------------------------ public API
    def refresh(self) -> None:
        """Read the chosen dataset again (the form's seed, fraction and input size)."""
        self._loaded_key = None
        self._reload_if_needed()

    def settings_changed(self) -> None:
        """The form changed something the split depends on (its seed): read again if shown."""
        self._on_selection_changed()

    def cancel(self) -> None:
        """Stop reading the dataset."""
        if self._job is not None:
            self._job.cancel()

    @property
    def loading(self) -> bool:
        return self._job is not None

    def augmentations(self) -> tuple[str, ...]:
        """The ticked augmentations, in the catalog's order."""
        return tuple(name for name, box in self.augment_boxes.items() if box.isChecked())

    def example_rows(self) -> list[QImage]:
        """Each class's row of examples as shown now (QImages `STRIP_HEIGHT` high; empty before anything is read)."""
        return list(self._strip_images)

    # ------------------------------------------------------------------ reading
    def _settings(self) -> tuple[Any, ...]:
        """What the overview depends on: dataset, data root, fraction, seed, input size, crop margin."""
        config = self._config() if self._config is not None else None
        root = getattr(config, "data_root", None)
        val_fraction = float(getattr(config, "val_fraction", 0.1))
        seed = int(getattr(config, "seed", 0))
        margin = tuple(sorted({"crop", "scale"} & set(getattr(config, "augment", ()) or ())))
        return (self._state.dataset, root, val_fraction, seed, int(self._state.input_size), margin)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        self._reload_if_needed()

    def _on_selection_changed(self) -> None:
        if self.isVisible():
            self._reload_timer.start()

    def _reload_if_needed(self) -> None:
        key = self._settings()
        if key == self._loaded_key or key == self._wanted_key:
            return
        self._start(key)

    def _start(self, key: tuple[Any, ...]) -> None:
        if self._job is not None:
            self._job.cancel()
        self._wanted_key = key
        dataset, root, val_fraction, seed, input_size, margin = key
        from pathlib import Path

        shown = Path(dataset).name if ("/" in dataset or "\\" in dataset) else dataset
        self.title.setText(f"Data · {shown}")
        self.title.setToolTip(tooltip(dataset))
        self.status_label.setText(f"Reading {shown}…")
        self.download_button.hide()
        self.progress.setValue(0)
        self.progress.setRange(0, 0)  # busy until the first count arrives
        self.progress.show()
        self.cancel_button.show()
        self._job = self._state.run_in_background(
            _overview, dataset, root, val_fraction, seed, input_size, margin, self._download,
            on_done=lambda overview, k=key: self._on_overview(k, overview),
            on_error=lambda exc, k=key: self._on_failed(k, exc),
            on_progress=self._on_progress, key=self._key)
        self._download = False

    def _on_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * done / total))

    def _finish_job(self) -> None:
        self._job = None
        self._wanted_key = None
        self.progress.hide()
        self.cancel_button.hide()

    def _on_failed(self, key: tuple[Any, ...], exc: BaseException) -> None:
        self._finish_job()
        self._loaded_key = key  # not retried until something changes (or Download is pressed)
        if isinstance(exc, Cancelled):
            self.status_label.setText("Reading the dataset was cancelled; change the dataset or show this tab again.")
            self._loaded_key = None
            return
        text = describe(exc, doing="Reading the dataset")
        self.status_label.setText(text)
        self.download_button.setVisible("not downloaded" in str(exc))
        self._show_overview_widgets(False)

    def _on_download_clicked(self) -> None:
        self._download = True
        self.refresh()

    def _on_overview(self, key: tuple[Any, ...], overview: Any) -> None:
        self._finish_job()
        self._loaded_key = key
        self.overview = overview
        self._show_overview_widgets(True)
        self.counts_plot.set_counts(overview.classes, overview.train_counts, overview.val_counts)
        where = {"split": f"{overview.val_fraction:g} of each class held out (seed {overview.seed}), "
                          "as a run with this seed splits it",
                 "val folder": "validation: the folder's own validation folder",
                 "test split": "validation: the official test split"}[overview.validation]
        mean = ", ".join(f"{m:.3f}" for m in overview.spec.mean)
        std = ", ".join(f"{s:.3f}" for s in overview.spec.std)
        self.status_label.setText(
            f"{len(overview.classes)} classes · {format_count(sum(overview.train_counts))} training and "
            f"{format_count(sum(overview.val_counts))} validation images · {where}")
        self.facts_label.setText(
            f"Files: {overview.sizes.sentence()}\n"
            f"Normalised with mean {mean} and std {std} (the training split's, per channel)\n"
            f"Imbalance: the largest class has {overview.imbalance():.2f}× the smallest's training images")
        mean_image = np.round(overview.mean_image * 255).astype(np.uint8)
        self.mean_view.setPixmap(QPixmap.fromImage(_scaled(_to_qimage(mean_image[..., 0] if mean_image.shape[-1] == 1
                                                                      else mean_image), 80)))
        self.unreadable_list.clear()
        for path, reason in overview.unreadable:
            self.unreadable_list.addItem(f"{path} — {reason}")
            self.unreadable_list.item(self.unreadable_list.count() - 1).setToolTip(tooltip(f"{path} — {reason}"))
        if overview.unreadable_count > len(overview.unreadable):
            self.unreadable_list.addItem(f"… and {overview.unreadable_count - len(overview.unreadable)} more")
        self.unreadable_title.setText(f"{overview.unreadable_count} files could not be used:"
                                      if overview.unreadable_count else "Every file could be used.")
        self.unreadable_list.setVisible(bool(overview.unreadable_count))
        self._build_rows(overview.classes)
        self._start_strips()

    def _show_overview_widgets(self, shown: bool) -> None:
        self._splitter.setVisible(shown)

    # ------------------------------------------------------------------ examples
    def _build_rows(self, classes: tuple[str, ...]) -> None:
        for name_label, image_label in self._row_widgets:
            name_label.deleteLater()
            image_label.deleteLater()
        self._row_widgets = []
        for row, name in enumerate(classes):
            name_label = plain(QLabel(name))
            name_label.setToolTip(tooltip(name))
            name_label.setMaximumWidth(120)
            image_label = QLabel()
            image_label.setFixedHeight(ROW_HEIGHT)
            self._rows_layout.addWidget(name_label, row, 0, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._rows_layout.addWidget(image_label, row, 1, Qt.AlignmentFlag.AlignLeft)
            self._row_widgets.append((name_label, image_label))
        self._rows_layout.setColumnStretch(1, 1)
        self._rows_layout.setRowStretch(len(classes), 1)

    def _start_strips(self) -> None:
        if self.overview is None:
            return
        augment = self.augmentations()
        size = int(self._state.input_size)
        self.seen_label.setText(
            f"Training images at {size}×{size}, " + (f"through {', '.join(augment)} (the trainer's own transform)"
                                                     if augment else "as the network is given them (no augmentation)"))
        self._state.run_in_background(_strips, self.overview, augment, size, self._draw_seed,
                                      on_done=self._on_strips, key=f"{self._key}-strips")

    def _on_strips(self, strips: list[QImage]) -> None:
        self._strip_images = strips
        for (_name, label), image in zip(self._row_widgets, strips):
            label.setPixmap(QPixmap.fromImage(image) if not image.isNull() else QPixmap())

    def _on_augment_toggled(self, _on: bool) -> None:
        self._start_strips()

    def _on_again_clicked(self) -> None:
        self._draw_seed += 1
        self._start_strips()
