"""The Evaluate tab: where the model is wrong, and why.

Evaluate the model on show (an opened run's best or last weights, or a running fit's live
weights) on exactly the validation split it trained with, optionally with the papers'
test-time augmentation. The confusion matrix is a heat map with counts (hover names the
cell); beside it the largest confusions and the per-class precision / recall / F1. Clicking
a cell, or a confusion, shows those images — the most confident mistakes first — and
clicking one explains it in the detail view (Grad-CAM, top-5, feature maps, neighbours).

The pass runs in the background (`StudioState.run_in_background` with progress and
Cancel) through `inspect.evaluate`; the window only draws its records.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsRectItem,
    QHeaderView,
    QHBoxLayout,
    QLabel,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.choices import TestTime
from cnnstudio.errors import Cancelled, describe
from cnnstudio.gui.format import format_count, format_percent
from cnnstudio.gui.state import Job, ModelHandle, StudioState
from cnnstudio.gui.text import plain
from cnnstudio.gui.inspection.image_detail import DetailSubject, ImageDetail
from cnnstudio.gui.widgets.image_grid import StackedPanel, Thumbnail, ThumbnailList
from cnnstudio.gui.widgets.table_models import Column, record_table

__all__ = ["EvaluateTab"]

NORMALISATIONS = (("true", "share of each true class"), ("pred", "share of each prediction"),
                  ("all", "share of all images"), ("none", "counts"))
MAX_CELL_IMAGES = 120  # thumbnails shown for one cell (most confident first)
COUNTS_UP_TO = 30  # classes up to which every cell shows its count and the axes name classes
THUMB = 64

EMPTY_TEXT = ("Where is the model wrong?\n\nOpen a run (Runs tab) or train one, then press Evaluate: "
              "the confusion matrix, the classes it mixes up, and the images behind every cell.")

# Splits already loaded, by what defines them: a second evaluation (another TTA, the last
# weights) reuses the images instead of loading and converting them again.
_SPLITS: dict[str, Any] = {}


def _evaluate(handle: ModelHandle, which: str, tta: str, *, progress: Any, cancel: Any) -> tuple[Any, Any]:
    """Background job: (TrainedModel, Evaluation) of `handle` — or its run's `which` weights —
    on the validation split it trained with."""
    from cnnstudio.inspect.evaluate import evaluate, validation_data
    from cnnstudio.inspect.inputs import TrainedModel
    from cnnstudio.training.fit.training_data import training_data_key

    trained = handle.trained()
    held = trained.checkpoint.stem if trained.checkpoint is not None else None
    if which != "shown" and handle.run_dir is not None and held != which:  # a run opened once: its weights reused
        trained = TrainedModel.from_run(handle.run_dir, which=which)
    if trained.config is None:
        from cnnstudio.errors import CnnStudioError

        raise CnnStudioError("these weights carry no record of their validation split; open a run to evaluate it")
    config = trained.config
    key = json.dumps([training_data_key(config), list(trained.classes)])
    data = _SPLITS.get(key)
    if data is None:
        data = validation_data(config, classes=trained.classes, cancel=cancel)
        _SPLITS.clear()  # one split at a time is enough
        _SPLITS[key] = data
    return trained, evaluate(trained, data, tta=tta, progress=progress, cancel=cancel)


def _thumbnails(evaluation: Any, indices: np.ndarray) -> list[Thumbnail]:
    """Background job: (index, uint8 H×W×C image, caption) of each sample of a cell."""
    out = []
    classes = evaluation.classes
    for index in indices[:MAX_CELL_IMAGES]:
        record = evaluation.record(int(index))
        caption = f"{classes[int(record['true'])]} → {classes[int(record['pred'])]}\np {record['p_pred']:.2f}"
        out.append((int(index), evaluation.image(int(index)), caption))
    return out


def _metric(value: float | None) -> str:
    return "–" if value is None else format_percent(value)


def _class_columns() -> list[Column]:
    """Per-class table over `inspect.evaluate.ClassMetrics`; 0/0 shown as "–"."""
    def key(value: float | None) -> float:
        return -1.0 if value is None else value

    return [
        Column("Class", lambda r: r.name),
        Column("Images", lambda r: format_count(r.support), sort_key=lambda r: r.support, numeric=True),
        Column("Precision", lambda r: _metric(r.precision), sort_key=lambda r: key(r.precision), numeric=True),
        Column("Recall", lambda r: _metric(r.recall), sort_key=lambda r: key(r.recall), numeric=True),
        Column("F1", lambda r: _metric(r.f1), sort_key=lambda r: key(r.f1), numeric=True),
    ]


def _confusion_columns() -> list[Column]:
    """Top-confusions table over `inspect.evaluate.Confusion`."""
    return [
        Column("True", lambda r: r.true_name),
        Column("Predicted", lambda r: r.pred_name),
        Column("Images", lambda r: format_count(r.count), sort_key=lambda r: r.count, numeric=True),
        Column("% of class", lambda r: format_percent(r.fraction), sort_key=lambda r: r.fraction, numeric=True),
    ]


class _ConfusionPlot(pg.GraphicsLayoutWidget):
    """The confusion matrix as a heat map: rows true classes, columns predictions."""

    def __init__(self, on_hover: Any, on_click: Any) -> None:
        super().__init__()
        self.setBackground("w")
        self.plot = self.addPlot()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setLabel("left", "true class")
        self.plot.setLabel("bottom", "predicted class")
        self.image = pg.ImageItem()
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        # What a cell's colour stands for (a count, or a share of its row).
        self.colour_bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get("viridis"), interactive=False,
                                          width=12)
        self.colour_bar.setImageItem(self.image, insert_in=self.plot)
        self._texts: list[pg.TextItem] = []
        # The cell whose images are shown, outlined.
        self.selection = QGraphicsRectItem(0, 0, 1, 1)
        self.selection.setPen(pg.mkPen("#e8413c", width=3))
        self.selection.setVisible(False)
        self.plot.addItem(self.selection)
        self._on_hover, self._on_click = on_hover, on_click
        self._size = 0
        self.scene().sigMouseMoved.connect(self._moved)
        self.scene().sigMouseClicked.connect(self._clicked)

    def set_matrix(self, shown: np.ndarray, counts: np.ndarray, classes: tuple[str, ...]) -> None:
        c = len(classes)
        self._size = c
        self.image.setImage(shown.astype(np.float32), autoLevels=False, levels=(0.0, max(float(shown.max()), 1e-9)))
        self.colour_bar.setLevels((0.0, max(float(shown.max()), 1e-9)))
        self.image.setRect(0, 0, c, c)
        for text in self._texts:
            self.plot.removeItem(text)
        self._texts = []
        if c <= COUNTS_UP_TO:
            top = float(shown.max()) or 1.0
            for t in range(c):
                for p in range(c):
                    if counts[t, p]:
                        colour = "k" if shown[t, p] > 0.6 * top else "w"
                        item = pg.TextItem(str(int(counts[t, p])), color=colour, anchor=(0.5, 0.5))
                        item.setPos(p + 0.5, t + 0.5)
                        self.plot.addItem(item)
                        self._texts.append(item)
            ticks = [(i + 0.5, name[:12]) for i, name in enumerate(classes)]
        else:
            ticks = []
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setTicks([ticks] if ticks else None)
        self.plot.setRange(xRange=(0, c), yRange=(0, c), padding=0.02)

    def select(self, true: int, pred: int) -> None:
        """Outline the cell (`true` row, `pred` column)."""
        self.selection.setRect(pred, true, 1, 1)
        self.selection.setVisible(True)

    def cell_at(self, scene_pos: Any) -> tuple[int, int] | None:
        if not self._size or not self.plot.sceneBoundingRect().contains(scene_pos):
            return None
        point = self.plot.vb.mapSceneToView(scene_pos)
        p, t = int(np.floor(point.x())), int(np.floor(point.y()))
        return (t, p) if 0 <= t < self._size and 0 <= p < self._size else None

    def _moved(self, pos: Any) -> None:
        self._on_hover(self.cell_at(pos))

    def _clicked(self, event: Any) -> None:
        cell = self.cell_at(event.scenePos())
        if cell is not None:
            self._on_click(*cell)


class EvaluateTab(QWidget):
    """Confusion matrix → the images of a cell → one image explained."""

    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._key = f"evaluate-tab-{id(self)}"
        self._job: Job | None = None
        self._evaluation: Any = None
        self._trained: Any = None
        self._cell: tuple[int, int] | None = None

        self.model_label = plain(QLabel())
        self.model_label.setWordWrap(True)
        self.weights_combo = QComboBox()
        self.tta_combo = QComboBox()
        for tta in TestTime:
            self.tta_combo.addItem(tta.title, tta.value)
        self.tta_combo.setToolTip("Test-time augmentation: the softmax averaged over the views (AlexNet, VGG); "
                                  "flip and ten crops add mirror images, which lowers accuracy on digits and letters")
        self.norm_combo = QComboBox()
        for norm, title in NORMALISATIONS:
            self.norm_combo.addItem(title, norm)
        self.norm_combo.setToolTip("What each cell's colour shows; the numbers are always image counts")
        self.norm_combo.currentIndexChanged.connect(self._draw_matrix)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setObjectName("startButton")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(220)
        self.summary_label = plain(QLabel())
        self.summary_label.setWordWrap(True)
        self.hover_label = plain(QLabel(" "))
        self.hover_label.setObjectName("hint")

        controls = QHBoxLayout()
        controls.setSpacing(8)
        for widget in (QLabel("Weights"), self.weights_combo, QLabel("Test-time"), self.tta_combo,
                       self.evaluate_button, self.cancel_button, self.progress):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(QLabel("Colour"))
        controls.addWidget(self.norm_combo)

        self.matrix_view = _ConfusionPlot(self._on_hover, self.show_cell)
        self._confusions_model, self.confusions_view = record_table(_confusion_columns(), self)
        self.confusions_view.clicked.connect(self._on_confusion_clicked)
        self._classes_model, self.classes_view = record_table(_class_columns(), self)
        for view in (self.confusions_view, self.classes_view):
            view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            view.verticalHeader().setDefaultSectionSize(22)
        tables = QTabWidget()
        tables.addTab(self.confusions_view, "Top confusions")
        tables.addTab(self.classes_view, "Per class")
        # Wide enough for every column of the top confusions (their headers are the widest
        # cells), so the splitter never hides "% of class" behind a horizontal scroll bar.
        header = self.confusions_view.horizontalHeader()
        tables.setMinimumWidth(header.length() + self.confusions_view.verticalHeader().sizeHint().width()
                               + self.confusions_view.verticalScrollBar().sizeHint().width() + 16)
        top = QSplitter(Qt.Orientation.Horizontal)
        matrix_box = QWidget()
        matrix_column = QVBoxLayout(matrix_box)
        matrix_column.setContentsMargins(0, 0, 0, 0)
        matrix_column.addWidget(self.matrix_view, 1)
        matrix_column.addWidget(self.hover_label)
        top.addWidget(matrix_box)
        top.addWidget(tables)
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 1)

        self.cell_label = plain(QLabel("Click a cell (or a confusion) to see its images."))
        self.cell_list = ThumbnailList(THUMB)
        self.cell_list.itemClicked.connect(self._on_image_clicked)
        self.detail = ImageDetail(state)
        cells = QWidget()
        cell_column = QVBoxLayout(cells)
        cell_column.setContentsMargins(0, 0, 0, 0)
        cell_column.addWidget(self.cell_label)
        cell_column.addWidget(self.cell_list, 1)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(cells)
        bottom.addWidget(self.detail)
        bottom.setStretchFactor(0, 1)
        bottom.setStretchFactor(1, 2)
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(top)
        body.addWidget(bottom)
        body.setStretchFactor(0, 3)  # the matrix gets the height: it keeps its cells square
        body.setStretchFactor(1, 2)
        body.setSizes([520, 360])
        self._panel = StackedPanel(body, EMPTY_TEXT)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addWidget(self.model_label)
        layout.addLayout(controls)
        layout.addWidget(self.summary_label)
        layout.addWidget(self._panel, 1)

        state.model_changed.connect(self._on_model_changed)
        self._on_model_changed()

    # ------------------------------------------------------------------ public API
    @property
    def evaluation(self) -> Any:
        """The `inspect.evaluate.Evaluation` on screen, or None."""
        return self._evaluation

    @property
    def running(self) -> bool:
        """Whether an evaluation is in progress."""
        return self._job is not None

    def cell_images(self) -> list[int]:
        """The dataset indices of the thumbnails shown, in their order."""
        return [int(self.cell_list.item_data(i)) for i in range(self.cell_list.count())]

    def evaluate(self) -> None:
        """Evaluate the model on show with the chosen weights and test-time augmentation."""
        handle = self._state.model_handle
        if handle is None or self._job is not None:
            return
        which = str(self.weights_combo.currentData())
        tta = str(self.tta_combo.currentData())
        from cnnstudio.data.catalog import mirroring_tta_warning

        warning = mirroring_tta_warning(tta, channels=handle.spec.channels)
        if warning:  # said where it is chosen, as the command line does
            self._state.report("warning", warning[0].upper() + warning[1:])
        self.summary_label.setText("Evaluating…")
        self.detail.clear()  # the last evaluation's image and heat map are not this one's
        self.cell_list.clear()
        self.progress.setValue(0)
        self.evaluate_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._job = self._state.run_in_background(
            _evaluate, handle, which, tta, on_done=self._on_evaluated, on_error=self._on_failed, key=self._key,
            on_progress=self._on_progress)

    def cancel(self) -> None:
        """Stop the evaluation in progress (at its next batch)."""
        if self._job is not None:
            self._job.cancel()

    def show_cell(self, true: int, pred: int) -> None:
        """Show the images of class `true` predicted as `pred`, the most confident first."""
        evaluation = self._evaluation
        if evaluation is None:
            return
        self._cell = (true, pred)
        indices = evaluation.cell(true, pred)
        classes = evaluation.classes
        more = f" (the {MAX_CELL_IMAGES} most confident shown)" if len(indices) > MAX_CELL_IMAGES else ""
        # "of class 3", never "of 3": with digit classes a bare name reads as a count ("2 images of 3").
        images = f"{format_count(len(indices))} image{'s' if len(indices) != 1 else ''} of class {classes[true]}"
        what = f"{images} mistaken for class {classes[pred]}" if true != pred else f"{images} recognised"
        self.cell_label.setText(f"{what}, most confident first{more}")
        self.matrix_view.select(true, pred)
        self.cell_list.clear()
        if len(indices):
            self._state.run_in_background(_thumbnails, evaluation, indices, on_done=self._on_thumbnails,
                                          key=f"{self._key}-cell")

    # ------------------------------------------------------------------ reactions
    def _on_model_changed(self) -> None:
        handle = self._state.model_handle
        self.model_label.setText(f"Model: {handle.describe()}" if handle is not None
                                 else "Model: none yet — train one, or open a run in the Runs tab")
        self.weights_combo.clear()
        if handle is not None and handle.run_dir is not None:
            self.weights_combo.addItem("the weights on show", "shown")
            self.weights_combo.addItem("best (best.pt)", "best")
            self.weights_combo.addItem("last (last.pt)", "last")
        else:
            self.weights_combo.addItem("the weights on show", "shown")
        self.evaluate_button.setEnabled(handle is not None and self._job is None)

    def _on_progress(self, done: int, total: int) -> None:
        if self._job is not None and total > 0:
            self.progress.setValue(int(1000 * done / total))
            self.summary_label.setText(f"Evaluating… {format_count(done)} / {format_count(total)} images")

    def _finish_job(self) -> None:
        self._job = None
        self.cancel_button.setEnabled(False)
        self.evaluate_button.setEnabled(self._state.model_handle is not None)

    def _on_evaluated(self, result: tuple[Any, Any]) -> None:
        self._finish_job()
        self._trained, evaluation = result
        self._evaluation = evaluation
        self.progress.setValue(1000)
        top5 = f" · top-5 {format_percent(evaluation.top5)}" if evaluation.top5 is not None else ""
        tta = TestTime(evaluation.tta).title
        where = evaluation.data.description if evaluation.data is not None else ""
        self.summary_label.setText(
            f"top-1 {format_percent(evaluation.top1)}{top5} · {where}"
            f" · test-time: {tta} · {evaluation.seconds:.2g} s")
        self._confusions_model.set_records(list(evaluation.top_confusions(n=50)))
        self._classes_model.set_records(list(evaluation.class_metrics()))
        self._panel.show_content()
        self._draw_matrix()
        self.cell_list.clear()
        self.cell_label.setText("Click a cell (or a confusion) to see its images.")
        confusions = evaluation.top_confusions(n=1)
        if confusions:  # the biggest mistake, ready to look at
            self.show_cell(confusions[0].true, confusions[0].pred)

    def _on_failed(self, exc: BaseException) -> None:
        self._finish_job()
        self.progress.setValue(0)
        self.summary_label.setText("Evaluation cancelled." if isinstance(exc, Cancelled) else describe(exc))

    def _draw_matrix(self) -> None:
        evaluation = self._evaluation
        if evaluation is None:
            return
        counts = evaluation.confusion()
        norm = str(self.norm_combo.currentData())
        shown = counts.astype(np.float64) if norm == "none" else evaluation.confusion(norm)
        self.matrix_view.set_matrix(shown, counts, evaluation.classes)

    def _on_hover(self, cell: tuple[int, int] | None) -> None:
        evaluation = self._evaluation
        if evaluation is None or cell is None:
            self.hover_label.setText(" ")
            return
        t, p = cell
        counts = evaluation.confusion()
        support = int(counts[t].sum())
        share = (f" ({format_percent(counts[t, p] / support)} of the images of class {evaluation.classes[t]})"
                 if support else "")
        self.hover_label.setText(f"true class {evaluation.classes[t]} → predicted class {evaluation.classes[p]}: "
                                 f"{int(counts[t, p]):,}{share} · click to see them")

    def _on_confusion_clicked(self, index: Any) -> None:
        row = self.confusions_view.model().mapToSource(index).row()
        confusion = self._confusions_model.record(row)
        self.show_cell(confusion.true, confusion.pred)

    def _on_thumbnails(self, thumbs: list[Thumbnail]) -> None:
        self.cell_list.set_thumbnails(thumbs)

    def open_image(self, row: int) -> None:
        """Explain the cell's `row`-th image in the detail view."""
        self._on_image_clicked(self.cell_list.item(row))

    def _on_image_clicked(self, item: QListWidgetItem | None) -> None:
        evaluation = self._evaluation
        if evaluation is None or item is None:
            return
        index = int(item.data(Qt.ItemDataRole.UserRole))
        record = evaluation.record(index)
        true, pred = evaluation.classes[int(record["true"])], evaluation.classes[int(record["pred"])]
        # Explained with the very weights that made this mistake.
        handle = ModelHandle.from_trained(self._trained)
        self.detail.show_subject(DetailSubject(
            caption=f"Validation image {index}: a {true}, predicted {pred} ({format_percent(float(record['p_pred']))})",
            image=evaluation.image(index), true_class=true), handle)
