"""The Classify tab: drop image files (or open them) and see the model's top-5 for each.

Classification runs off the GUI thread with the current `ModelHandle` — the trainer's
snapshot during training (never the model being trained) or an opened run. Files that
cannot be used are listed with the engine's reason and summed up in one message; nothing
a user drops can crash the window. Files dropped before any model exists wait and are
classified as soon as one arrives. "Draw" swaps the files for a drawing pad
(`drawing_pad.DrawPanel`) whose top-5 follows the pen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QSignalBlocker, QSize, Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QPixmap, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.errors import ImageError, describe
from cnnstudio.gui.format import format_percent
from cnnstudio.gui.state import ModelHandle, StudioState
from cnnstudio.gui.text import IMAGE_FILTER, plain, tooltip
from cnnstudio.gui.inspection.drawing_pad import DrawPanel
from cnnstudio.gui.inspection.topk_view import TOP_K, TopKView
from cnnstudio.gui.inspection.image_detail import DetailSubject, ImageDetail
from cnnstudio.gui.widgets.image_grid import StackedPanel

__all__ = ["ClassifyTab", "TopKView", "paths_from_mime"]

EMPTY_TEXT = "Drop images here to classify them\n\nor use “Open image…” above."
NO_MODEL_TEXT = "Train a model or open a run first"
PREVIEW_SIDE = 320  # pixels: the preview is decoded at this size, not at the file's
SEEN_SIDE = 112  # pixels: the box for the network's input (a 32 px input shown at 3×)

def paths_from_mime(mime: QMimeData) -> list[str]:
    """The dropped items as strings: local files as paths, anything else as its URL.

    Non-local URLs (a picture dragged from a browser) are kept so the engine can refuse
    them with its reason, instead of the drop silently doing nothing.
    """
    items = []
    for url in mime.urls():
        items.append(url.toLocalFile() if url.isLocalFile() else url.toString())
    return items


@dataclass
class _Entry:
    """One file in the list: its outcome (None while waiting) and its preview once made."""

    path: str
    result: Any = None  # Prediction | ImageError | None
    preview: QImage | None = field(default=None, repr=False)
    seen: QImage | None = field(default=None, repr=False)  # the network's input, as pixels

    @property
    def name(self) -> str:
        return Path(self.path).name or self.path


def _preview(path: str) -> QImage | None:
    """A small QImage of `path` for display (QImage, unlike QPixmap, may be made off the GUI thread)."""
    from cnnstudio.data.images import load_image

    try:
        img = load_image(path)
    except ImageError:
        return None
    img.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    img = img.convert("RGB")
    data = img.tobytes()
    # .copy(): the QImage must own its pixels once `data` goes away.
    return QImage(data, img.width, img.height, 3 * img.width, QImage.Format.Format_RGB888).copy()


def _seen_image(seen: Any) -> QImage | None:
    """A uint8 C×S×S tensor (the network's input) as a QImage; None without one."""
    if seen is None:
        return None
    channels, height, width = seen.shape
    if channels == 1:
        data, fmt, line = seen[0].contiguous().numpy().tobytes(), QImage.Format.Format_Grayscale8, width
    else:
        data, fmt, line = seen.permute(1, 2, 0).contiguous().numpy().tobytes(), QImage.Format.Format_RGB888, 3 * width
    return QImage(data, width, height, line, fmt).copy()  # owning its pixels once `data` goes


def _classify(handle: ModelHandle, paths: list[str]) -> tuple[list[Any], QImage | None, list[QImage | None]]:
    """Background job: top-k for every path, the first good file's preview, and each file's
    network input as an image."""
    from cnnstudio.inspect.classify import Predictor

    # ImageNet weights see a photo as torchvision's transform does (resize, centre crop, no inversion).
    predictor = Predictor(handle.model, handle.spec, input_size=handle.input_size, in_channels=handle.in_channels,
                          resize_size=handle.resize_size, auto_invert=handle.resize_size is None)
    results = predictor.predict_files(paths, top_k=TOP_K)
    first_good = next((r.path for r in results if not isinstance(r, ImageError)), None)
    seen = [None if isinstance(r, ImageError) else _seen_image(r.seen) for r in results]
    return results, _preview(first_good) if first_good is not None else None, seen


def _screen(paths: list[str]) -> list[ImageError | None]:
    """Background job with no model yet: which files cannot be used at all, and why."""
    from cnnstudio.data.images import load_image_checked

    problems: list[ImageError | None] = []
    for path in paths:
        try:
            load_image_checked(path)
            problems.append(None)
        except ImageError as err:
            problems.append(err)
    return problems


class _Preview(QLabel):
    """The selected image, scaled to fit the space as the tab resizes."""

    def __init__(self) -> None:
        super().__init__()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(160, 160)
        self.setObjectName("preview")
        # Only the "cannot show" sign uses text; style.qss makes it large and muted, a placeholder.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._image: QImage | None = None

    def set_image(self, image: QImage) -> None:
        self._image = image
        self._rescale()

    def clear(self) -> None:
        self._image = None
        super().clear()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._image is None:
            return
        # Enlarge small images (28×28 digits) to a readable size, large ones only to fit.
        limit = QSize(max(2 * self._image.width(), 256), max(2 * self._image.height(), 256))
        target = self.size().boundedTo(limit)
        # Without smoothing, enlarged digits keep crisp pixels.
        mode = (Qt.TransformationMode.FastTransformation if self._image.width() < 64
                else Qt.TransformationMode.SmoothTransformation)
        pixmap = QPixmap.fromImage(self._image).scaled(target, Qt.AspectRatioMode.KeepAspectRatio, mode)
        self.setPixmap(pixmap)


class ClassifyTab(QWidget):
    """Top-5 for dropped or opened image files, from the current model."""

    #: A file was selected in the list (for the Feature maps tab's "last image").
    image_selected = Signal(str)
    #: A classification round finished (its results list was shown).
    classified = Signal()
    #: Files wait for a model (the window answers with the running fit's weights, if any).
    model_wanted = Signal()

    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._entries: list[_Entry] = []
        self._reported: set[str] = set()  # paths whose problem the user was already told
        self._stale = False  # results came from an older model than the current one
        self._key = f"classify-tab-{id(self)}"
        self.setAcceptDrops(True)

        open_button = QPushButton("Open image…")
        open_button.clicked.connect(self._on_open_clicked)
        self._clear_button = QPushButton("Clear")
        self._clear_button.clicked.connect(self.clear)
        self.model_label = plain(QLabel())
        self.model_label.setObjectName("muted")
        # Files or the drawing pad: one button switches the tab between them.
        self.draw_button = QPushButton("Draw")
        self.draw_button.setCheckable(True)
        self.draw_button.setToolTip("A drawing pad: draw a digit and watch the top-5 as you draw")
        self.draw_button.toggled.connect(self.show_drawing)
        bar = QHBoxLayout()
        bar.addWidget(open_button)
        bar.addWidget(self._clear_button)
        bar.addWidget(self.draw_button)
        bar.addSpacing(12)
        bar.addWidget(self.model_label, 1)

        self.results_list = QListWidget()
        self.results_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.results_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results_list.setUniformItemSizes(True)
        self.results_list.setSpacing(1)
        self.results_list.currentRowChanged.connect(self._on_current_row_changed)

        self._preview = _Preview()
        self._file_label = plain(QLabel())
        self._file_label.setObjectName("tabTitle")
        self._file_label.setWordWrap(True)
        self.note_label = plain(QLabel())
        self.note_label.setWordWrap(True)
        self._topk = TopKView()
        # What the network was given: the image after resize, crop, grey and any inversion
        # (a photo becomes a 32×32 grey blob for LeNet-5 — worth seeing).
        self.seen_view = QLabel()
        self.seen_view.setFixedSize(SEEN_SIDE, SEEN_SIDE)
        self.seen_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.seen_view.setObjectName("networkInput")
        self._seen_caption = plain(QLabel())
        self._seen_caption.setObjectName("muted")
        self._seen_caption.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self._seen_caption.setWordWrap(True)
        self._seen_caption.setFixedWidth(SEEN_SIDE)
        seen_column = QVBoxLayout()
        seen_column.setSpacing(4)
        seen_column.addWidget(self.seen_view)
        seen_column.addWidget(self._seen_caption)
        seen_column.addStretch(1)
        answer_column = QVBoxLayout()
        answer_column.setSpacing(8)
        answer_column.addWidget(self.note_label)
        answer_column.addWidget(self._topk)
        answer_column.addStretch(1)
        answer = QHBoxLayout()
        answer.setSpacing(14)
        answer.addLayout(seen_column)
        answer.addLayout(answer_column, 1)
        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(8, 0, 0, 0)
        detail_layout.setSpacing(8)
        detail_layout.addWidget(self._preview, 1)
        detail_layout.addWidget(self._file_label)
        detail_layout.addLayout(answer)
        self.explain_button = QPushButton("Why? Grad-CAM, feature maps, nearest training images")
        self.explain_button.setToolTip("Explain the selected image with the model on show")
        self.explain_button.clicked.connect(self.explain_selected)
        self.explain_button.setEnabled(False)
        detail_layout.addWidget(self.explain_button, 0, Qt.AlignmentFlag.AlignLeft)
        # The same detail view as the Evaluate tab's, for a dropped file; shown on request.
        self.detail_view = ImageDetail(state)
        self.detail_view.hide()

        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        self._splitter.addWidget(self.results_list)
        self._splitter.addWidget(detail)
        self._splitter.setStretchFactor(0, 1)
        self._splitter.setStretchFactor(1, 2)
        self._splitter.setSizes([300, 700])
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(self._splitter)
        body.addWidget(self.detail_view)
        body.setStretchFactor(0, 1)
        body.setStretchFactor(1, 2)
        self._panel = StackedPanel(body, EMPTY_TEXT)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(8)
        layout.addLayout(bar)
        self.draw_panel = DrawPanel(state)
        self._modes = QStackedWidget()
        self._modes.addWidget(self._panel)
        self._modes.addWidget(self.draw_panel)
        layout.addWidget(self._modes, 1)

        state.model_changed.connect(self._on_model_changed)
        self._update_model_label()
        self._clear_button.setEnabled(False)

    # ------------------------------------------------------------------ public API
    @Slot(bool)
    def show_drawing(self, on: bool = True) -> None:
        """Show the drawing pad (True) or the files (False)."""
        with QSignalBlocker(self.draw_button):
            self.draw_button.setChecked(on)
        self._modes.setCurrentWidget(self.draw_panel if on else self._panel)
        self._clear_button.setVisible(not on)  # the pad has its own Clear

    @Slot(list)
    def classify_paths(self, paths: list[str]) -> None:
        """Classify these files (the window calls this on a drop); they replace the list."""
        paths = [str(p) for p in paths]
        if not paths:
            return
        self.show_drawing(False)  # dropped files are shown, whatever was on show
        self._entries = [_Entry(path) for path in paths]
        self._reported = set()
        self._clear_button.setEnabled(True)
        self._fill_list()
        self._panel.show_content()
        if self._state.model_handle is None:
            # Bad files are told at once; the good ones wait for a model.
            self._state.report("info", f"{NO_MODEL_TEXT}: {_files(len(paths))} will be classified when a model is ready.")
            entries = self._entries
            self._state.run_in_background(_screen, paths, on_done=lambda found: self._on_screened(entries, found),
                                          on_error=self._on_failed, key=self._key)
            self.model_wanted.emit()
            return
        self._start()

    def classify_mime(self, mime: QMimeData) -> bool:
        """Classify what a drop carries; False when it carries no files or URLs."""
        paths = paths_from_mime(mime)
        if paths:
            self.classify_paths(paths)
        return bool(paths)

    @Slot()
    def clear(self) -> None:
        """Forget every file and show the empty state."""
        self._entries = []
        self.results_list.clear()
        self._clear_button.setEnabled(False)
        self._panel.show_empty(EMPTY_TEXT)

    def results(self) -> list[Any]:
        """Each file's outcome in list order: a `Prediction`, an `ImageError`, or None while waiting."""
        return [entry.result for entry in self._entries]

    def topk_rows(self) -> list[tuple[str, float]]:
        """The (class, probability) rows shown for the selected file."""
        return self._topk.rows() if self._topk.isVisibleTo(self) else []

    def select_row(self, row: int) -> None:
        """Select a file in the list (as a click would)."""
        self.results_list.setCurrentRow(row)

    # ------------------------------------------------------------------ drops
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        if self.classify_mime(event.mimeData()):
            event.acceptProposedAction()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale and self._state.model_handle is not None:
            self._start()

    # ------------------------------------------------------------------ work
    def _start(self) -> None:
        handle = self._state.model_handle
        if handle is None or not self._entries:
            return
        self._stale = False
        self.note_label.setText(f"Classifying {_files(len(self._entries))}…")
        self._state.run_in_background(
            _classify, handle, [entry.path for entry in self._entries],
            on_done=self._on_classified, on_error=self._on_failed, key=self._key,
        )

    def _on_screened(self, entries: list[_Entry], problems: list[ImageError | None]) -> None:
        if entries is not self._entries or self._state.model_handle is not None:
            return  # replaced meanwhile, or a model came and classification took over
        for entry, problem in zip(entries, problems):
            entry.result = problem
        self._fill_list(0)
        self._report_bad(len(entries), waiting=True)

    def _report_bad(self, total: int, *, waiting: bool = False) -> None:
        """One message for the files that could not be used, each file told only once."""
        bad = [e.result for e in self._entries
               if isinstance(e.result, ImageError) and e.result.path not in self._reported]
        if not bad:
            return
        self._reported.update(err.path for err in bad)
        shown = "; ".join(f"{Path(err.path).name or err.path}: {err.reason}" for err in bad[:3])
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        rest = "; the others will be classified when a model is ready" if waiting and len(bad) < total else ""
        self._state.report("warning", f"{len(bad)} of {_files(total)} could not be classified — {shown}{more}{rest}")

    def _on_classified(self, outcome: tuple[list[Any], QImage | None, list[QImage | None]]) -> None:
        results, first_preview, seen = outcome
        if len(results) != len(self._entries):
            return  # the list was cleared or replaced meanwhile
        for entry, result, seen_image in zip(self._entries, results, seen):
            entry.result = result
            entry.preview = None
            entry.seen = seen_image
        good = [e for e in self._entries if not isinstance(e.result, ImageError)]
        if good:
            good[0].preview = first_preview
        self._fill_list(self._entries.index(good[0]) if good else 0)
        self._report_bad(len(results))  # one message for the whole drop, never one dialog per file
        self.classified.emit()

    def _on_failed(self, exc: BaseException) -> None:
        text = describe(exc, doing="Classification")
        self.note_label.setText(text)
        self._state.report("error", text)

    def _on_model_changed(self) -> None:
        self._update_model_label()
        if self._state.model_handle is None or not self._entries:
            return
        waiting = any(entry.result is None for entry in self._entries)
        # Files dropped before any model are classified at once; finished results are only
        # refreshed when someone is looking, so training epochs do not pay for a hidden tab.
        if waiting or self.isVisible():
            self._start()
        else:
            self._stale = True

    def _update_model_label(self) -> None:
        handle = self._state.model_handle
        self.model_label.setText(f"Model: {handle.describe()}" if handle is not None else f"{NO_MODEL_TEXT}.")

    # ------------------------------------------------------------------ display
    def _fill_list(self, row: int = 0) -> None:
        """Rebuild the list and show entry `row` (once: `image_selected` fires once per round)."""
        with_signals_blocked = self.results_list.blockSignals(True)
        self.results_list.clear()
        for entry in self._entries:
            item = QListWidgetItem(_row_text(entry))
            item.setToolTip(tooltip(entry.path))
            if isinstance(entry.result, ImageError):
                item.setForeground(self.palette().placeholderText())
            self.results_list.addItem(item)
        self.results_list.setCurrentRow(row)
        self.results_list.blockSignals(with_signals_blocked)
        # A single file needs no list: the preview and its top-5 say everything.
        self.results_list.setVisible(len(self._entries) > 1)
        self._show_entry(row)

    def _on_current_row_changed(self, row: int) -> None:
        self._show_entry(row)

    def _show_entry(self, row: int) -> None:
        if not 0 <= row < len(self._entries):
            return
        entry = self._entries[row]
        self._file_label.setText(entry.name)
        self._file_label.setToolTip(tooltip(entry.path))
        result = entry.result
        self._show_seen(entry)
        if result is None:
            self._topk.setVisible(False)
            self._preview.clear()
            handle = self._state.model_handle
            self.note_label.setText("Classifying…" if handle is not None else f"{NO_MODEL_TEXT} — this file is waiting.")
            return
        self.explain_button.setEnabled(False)
        if isinstance(result, ImageError):
            self._topk.setVisible(False)
            self._preview.clear()
            self._preview.setText("⚠")
            self.note_label.setText(f"Could not classify this file: {result.reason}")
            return
        self._topk.set_topk(result.topk)
        self._topk.setVisible(True)
        self.note_label.setText(result.note or "")
        self._set_preview(entry)
        self.explain_button.setEnabled(True)
        if not self.detail_view.isHidden():  # asked for once: it follows the selection
            self.explain_selected()
        self.image_selected.emit(entry.path)

    @Slot()
    def explain_selected(self) -> None:
        """Show the selected file in the detail view: what the network saw, why, its neighbours."""
        row = self.results_list.currentRow()
        if not 0 <= row < len(self._entries) or isinstance(self._entries[row].result, ImageError):
            return
        entry = self._entries[row]
        self.detail_view.show()
        self.detail_view.show_subject(DetailSubject(caption=entry.name, path=entry.path))

    def _show_seen(self, entry: _Entry) -> None:
        image = entry.seen
        for widget in (self.seen_view, self._seen_caption):
            widget.setVisible(image is not None)
        if image is None:
            self.seen_view.clear()
            return
        pixmap = QPixmap.fromImage(image)
        side = max(image.width(), image.height())
        if side <= SEEN_SIDE:  # whole pixels, enlarged without smoothing: the network's resolution is the point
            scale = SEEN_SIDE // side
            pixmap = pixmap.scaled(image.width() * scale, image.height() * scale,
                                   Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
        else:  # inputs over SEEN_SIDE px (224) are shown smaller, smoothly
            pixmap = pixmap.scaled(SEEN_SIDE, SEEN_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
        self.seen_view.setPixmap(pixmap)
        colour = "grey" if image.format() == QImage.Format.Format_Grayscale8 else "colour"
        inverted = "\ninverted" if getattr(entry.result, "inverted", False) else ""
        self._seen_caption.setText(f"network input\n{image.width()}×{image.height()} {colour}{inverted}")

    def seen_caption(self) -> str:
        """The caption under the network-input thumbnail ('' when none is shown)."""
        return self._seen_caption.text() if self._seen_caption.isVisibleTo(self) else ""

    def _set_preview(self, entry: _Entry) -> None:
        if entry.preview is None:
            self._preview.clear()
            self._state.run_in_background(
                _preview, entry.path,
                on_done=lambda image, e=entry: self._on_preview(e, image),
                on_error=lambda _exc: None,  # a missing preview is not worth a message
                key=f"{self._key}-preview",
            )
            return
        self._preview.set_image(entry.preview)

    def _on_preview(self, entry: _Entry, image: QImage | None) -> None:
        entry.preview = image
        current = self.results_list.currentRow()
        if image is not None and 0 <= current < len(self._entries) and self._entries[current] is entry:
            self._set_preview(entry)

    @Slot()
    def _on_open_clicked(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images to classify", "", IMAGE_FILTER)
        if paths:
            self.classify_paths(paths)


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _row_text(entry: _Entry) -> str:
    result = entry.result
    if result is None:
        return f"{entry.name} — waiting"
    if isinstance(result, ImageError):
        return f"⚠ {entry.name} — {result.reason}"
    name, prob = result.top1
    return f"{entry.name} — {name} ({format_percent(prob)})"
