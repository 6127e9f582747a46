"""The Classify tab's drawing pad: draw with the mouse or a tablet, see the top-5 change as you draw.

`DrawingPad` paints round strokes into a white `QImage` (mouse, or a tablet's pen with its
pressure), with undo and a pen width. `DrawPanel` puts it beside what the network is given:
the engine (`inspect.drawing.classify_drawing`) turns the pixels into the run's input — for an
MNIST-like run white on black, cropped, scaled to 20 px and centred by mass in 28×28, the way
MNIST was made — and classifies it exactly as a file of those pixels. The classification runs
as a background job, throttled: at most one in flight, the newest drawing next. The drawing can
be saved (the picture the network is given, as PNG: `cnnstudio classify` on it gives the same
top-5) and explained with the same detail view as a dropped file ("Why?": Grad-CAM, maps,
neighbours).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap, QTabletEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.errors import describe
from cnnstudio.gui.state import ModelHandle, StudioState
from cnnstudio.gui.text import plain
from cnnstudio.gui.inspection.image_detail import DetailSubject, ImageDetail

__all__ = ["DrawPanel", "DrawingPad"]

CANVAS_SIDE = 280  # pixels of the drawing (ten times MNIST's 28)
DEFAULT_PEN = 22
UNDO_DEPTH = 32
THROTTLE_MS = 120  # at most about eight classifications a second while drawing
GIVEN_SIDE = 84  # the box for what the network is given (28 px shown at 3×)
TOP_K = 5
DRAW_TEXT = "Draw a digit (or anything the run knows) on the pad."


class DrawingPad(QWidget):
    """A square white canvas painted with round black strokes; `changed` fires as it changes."""

    changed = Signal()
    #: A stroke ended (the mouse button or the pen was lifted).
    stroke_finished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw with the mouse or a pen; the top-5 follows as you draw")
        self._image = QImage(CANVAS_SIDE, CANVAS_SIDE, QImage.Format.Format_RGB32)
        self._image.fill(QColor("white"))
        self._undo: list[QImage] = []
        self._last: QPointF | None = None
        self.pen_width = DEFAULT_PEN

    # ------------------------------------------------------------------ public API
    def pixels(self) -> np.ndarray:
        """The drawing as uint8 H×W×3 (a copy)."""
        image = self._image.convertToFormat(QImage.Format.Format_RGB888)
        data = np.frombuffer(image.constBits(), dtype=np.uint8).reshape(image.height(), image.bytesPerLine())
        return data[:, :3 * image.width()].reshape(image.height(), image.width(), 3).copy()

    def is_blank(self) -> bool:
        """Whether nothing is drawn."""
        return bool((self.pixels() == 255).all())

    @property
    def drawing(self) -> bool:
        """Whether a stroke is under way (the button or the pen is down)."""
        return self._last is not None

    def clear(self) -> None:
        """Blank the pad (undoable)."""
        self._push_undo()
        self._image.fill(QColor("white"))
        self.update()
        self.changed.emit()

    def undo(self) -> None:
        """Take back the last stroke (or clear)."""
        if not self._undo:
            return
        self._image = self._undo.pop()
        self.update()
        self.changed.emit()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    # ------------------------------------------------------------------ painting
    def _target(self) -> QRectF:
        side = float(min(self.width(), self.height()))
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def _to_canvas(self, point: QPointF) -> QPointF:
        target = self._target()
        scale = CANVAS_SIDE / max(1.0, target.width())
        return QPointF((point.x() - target.x()) * scale, (point.y() - target.y()) * scale)

    def _push_undo(self) -> None:
        self._undo.append(self._image.copy())
        del self._undo[:-UNDO_DEPTH]

    def _begin(self, point: QPointF, pressure: float = 1.0) -> None:
        self._push_undo()
        self._last = self._to_canvas(point)
        self._paint_to(self._last, pressure)

    def _paint_to(self, canvas_point: QPointF, pressure: float = 1.0) -> None:
        painter = QPainter(self._image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width = max(1.0, self.pen_width * (0.4 + 0.6 * pressure))
        painter.setPen(QPen(QColor("black"), width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                            Qt.PenJoinStyle.RoundJoin))
        last = self._last if self._last is not None else canvas_point
        painter.drawLine(last, canvas_point)
        painter.end()
        self._last = canvas_point
        self.update()
        self.changed.emit()

    def _end(self) -> None:
        if self._last is not None:
            self._last = None
            self.stroke_finished.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._last is not None:
            self._paint_to(self._to_canvas(event.position()))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            if self._last is not None:
                self._paint_to(self._to_canvas(event.position()))
            self._end()

    def tabletEvent(self, event: QTabletEvent) -> None:  # noqa: N802 - Qt override
        # A pen's pressure thins or thickens the stroke; accepted, so no synthesised mouse events follow.
        kind = event.type()
        if kind == QTabletEvent.Type.TabletPress:
            self._begin(event.position(), event.pressure())
        elif kind == QTabletEvent.Type.TabletMove and self._last is not None:
            self._paint_to(self._to_canvas(event.position()), event.pressure())
        elif kind == QTabletEvent.Type.TabletRelease:
            self._end()
        event.accept()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        target = self._target()
        painter.drawImage(target, self._image)
        painter.setPen(QPen(QColor(170, 178, 186), 1))
        painter.drawRect(target.adjusted(0, 0, -1, -1))
        painter.end()


def _qimage(array: np.ndarray) -> QImage:
    """uint8 H×W / H×W×1 / H×W×3 (or a C×H×W tensor's numpy) → a QImage owning its pixels."""
    array = np.ascontiguousarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = np.ascontiguousarray(array[..., 0])
    h, w = array.shape[:2]
    if array.ndim == 2:
        return QImage(array.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    return QImage(array.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def _predictor(handle: ModelHandle) -> Any:
    from cnnstudio.inspect.classify import Predictor

    # As the Classify tab's files: ImageNet weights see a photo as torchvision's transform does.
    return Predictor(handle.model, handle.spec, input_size=handle.input_size, in_channels=handle.in_channels,
                     resize_size=handle.resize_size, auto_invert=handle.resize_size is None)


def _classify_drawing(handle: ModelHandle, pixels: np.ndarray) -> tuple[Any, Any, QImage, QImage]:
    """Background job: (DrawnInput, Prediction, what the network is given, its input at the model's size)."""
    from cnnstudio.inspect.drawing import classify_drawing

    drawn, prediction = classify_drawing(_predictor(handle), pixels, top_k=TOP_K)
    seen = prediction.seen.permute(1, 2, 0).numpy()
    return drawn, prediction, _qimage(drawn.image), _qimage(seen)


def _save_drawing(handle: ModelHandle | None, pixels: np.ndarray, path: str) -> str:
    """Background job: write what the network is given (the drawing as is without a model) as PNG."""
    from cnnstudio.inspect.pictures import save_png

    image = pixels
    if handle is not None:
        from cnnstudio.inspect.drawing import prepare_drawing

        image = prepare_drawing(pixels, handle.spec).image
    save_png(path, image)
    return path


class DrawPanel(QWidget):
    """The pad, its tools, what the network is given, the live top-5, Save and Why? (module docstring)."""

    #: A classification of the drawing was shown.
    classified = Signal()
    #: The drawing was saved to this file.
    saved = Signal(str)

    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from cnnstudio.gui.inspection.topk_view import TopKView  # the same rows as a file's top-5

        self._state = state
        self._key = f"draw-panel-{id(self)}"
        self._busy = False
        self._dirty = False
        self.result: tuple[Any, Any] | None = None  # (DrawnInput, Prediction) of the drawing on show

        self.pad = DrawingPad()
        self.pad.changed.connect(self._on_pad_changed)
        self.pad.stroke_finished.connect(self._classify_now)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setShortcut("Ctrl+Z")
        self.undo_button.clicked.connect(self.pad.undo)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.pad.clear)
        self.pen_spin = QSpinBox()
        self.pen_spin.setRange(2, 80)
        self.pen_spin.setValue(DEFAULT_PEN)
        self.pen_spin.setSuffix(" px")
        self.pen_spin.setToolTip(f"Pen width on the {CANVAS_SIDE}×{CANVAS_SIDE} pad")
        self.pen_spin.valueChanged.connect(lambda value: setattr(self.pad, "pen_width", int(value)))
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save what the network is given as PNG (cnnstudio classify on it gives "
                                    "the same top-5)")
        self.save_button.clicked.connect(self._on_save_clicked)
        tools = QHBoxLayout()
        tools.addWidget(self.undo_button)
        tools.addWidget(self.clear_button)
        tools.addSpacing(8)
        tools.addWidget(plain(QLabel("Pen")))
        tools.addWidget(self.pen_spin)
        tools.addStretch(1)
        tools.addWidget(self.save_button)
        pad_column = QVBoxLayout()
        pad_column.addLayout(tools)
        pad_column.addWidget(self.pad, 1)

        self.given_view = QLabel()
        self.given_view.setFixedSize(GIVEN_SIDE, GIVEN_SIDE)
        self.given_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.given_view.setObjectName("networkInput")
        self.given_caption = plain(QLabel())
        self.given_caption.setObjectName("muted")
        self.given_caption.setWordWrap(True)
        self.given_caption.setFixedWidth(GIVEN_SIDE)
        self.seen_view = QLabel()
        self.seen_view.setFixedSize(GIVEN_SIDE, GIVEN_SIDE)
        self.seen_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.seen_view.setObjectName("networkInput")
        self.seen_caption = plain(QLabel())
        self.seen_caption.setObjectName("muted")
        self.seen_caption.setWordWrap(True)
        self.seen_caption.setFixedWidth(GIVEN_SIDE)
        self.description_label = plain(QLabel())
        self.description_label.setObjectName("muted")
        self.description_label.setWordWrap(True)
        self.note_label = plain(QLabel(DRAW_TEXT))
        self.note_label.setWordWrap(True)
        self.topk = TopKView()
        # Always as tall as five rows, so the pad never moves under the pen when the answer appears.
        self.topk.set_topk([("0", 0.0)] * TOP_K)
        self.topk.setFixedHeight(self.topk.sizeHint().height())
        self.topk.set_topk(())
        self.description_label.setMinimumHeight(2 * self.description_label.fontMetrics().lineSpacing())
        self.given_caption.setText("given")
        self.seen_caption.setText("input")
        # The two pictures and the top-5 side by side: the detail view below ("Why?") needs the height.
        pictures = QHBoxLayout()
        pictures.setSpacing(10)
        for view, caption in ((self.given_view, self.given_caption), (self.seen_view, self.seen_caption)):
            column = QVBoxLayout()
            column.setSpacing(2)
            column.addWidget(view)
            column.addWidget(caption)
            column.addStretch(1)
            pictures.addLayout(column)
        pictures.addSpacing(6)
        pictures.addWidget(self.topk, 1, Qt.AlignmentFlag.AlignTop)
        self.explain_button = QPushButton("Why? Grad-CAM, feature maps, nearest training images")
        self.explain_button.setToolTip("Explain the drawing with the model on show")
        self.explain_button.setEnabled(False)
        self.explain_button.clicked.connect(self.explain)
        answer = QVBoxLayout()
        answer.setSpacing(6)
        answer.addLayout(pictures)
        answer.addWidget(self.description_label)
        answer.addWidget(self.note_label)
        answer.addWidget(self.explain_button, 0, Qt.AlignmentFlag.AlignLeft)
        answer.addStretch(1)

        top = QWidget()
        top_layout = QHBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(16)
        top_layout.addLayout(pad_column, 2)
        top_layout.addLayout(answer, 3)
        self.detail_view = ImageDetail(state)
        self.detail_view.hide()
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(self.detail_view)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(THROTTLE_MS)
        self._timer.timeout.connect(self._classify_now)
        state.model_changed.connect(self._on_model_changed)
        self._update_buttons()

    # ------------------------------------------------------------------ public API
    def topk_rows(self) -> list[tuple[str, float]]:
        """The (class, probability) rows shown for the drawing."""
        return self.topk.rows()

    @Slot()
    def explain(self) -> None:
        """Show the drawing in the detail view: what the network saw, why, its neighbours."""
        if self.result is None:
            return
        drawn, _prediction = self.result
        image = drawn.image if drawn.image.ndim == 3 else drawn.image[..., None]
        self.detail_view.show()
        self.detail_view.show_subject(DetailSubject(caption="drawing", image=np.ascontiguousarray(image)))

    def ask_save_path(self) -> str | None:
        """Ask where to save the drawing (a method so tests can stub the dialog)."""
        path, _ = QFileDialog.getSaveFileName(self, "Save the drawing", "drawing.png", "PNG images (*.png)")
        if path and not path.lower().endswith(".png"):
            path += ".png"
        return path or None

    # ------------------------------------------------------------------ work
    def _on_pad_changed(self) -> None:
        self._update_buttons()
        if not self._timer.isActive():
            self._timer.start()

    def _on_model_changed(self) -> None:
        if self.isVisible() or self.result is not None:
            self._classify_now()

    @Slot()
    def _classify_now(self) -> None:
        self._timer.stop()
        handle = self._state.model_handle
        if handle is None:
            self.note_label.setText("Train a model or open a run first: then the top-5 follows your drawing.")
            return
        if self._busy:
            self._dirty = True  # the newest drawing goes next, when this one is back
            return
        self._busy, self._dirty = True, False
        self._state.run_in_background(_classify_drawing, handle, self.pad.pixels(), on_done=self._on_classified,
                                      on_error=self._on_failed, key=self._key)

    def _after_job(self) -> None:
        self._busy = False
        if self._dirty:
            self._classify_now()

    def _on_classified(self, outcome: tuple[Any, Any, QImage, QImage]) -> None:
        drawn, prediction, given, seen = outcome
        self.result = (drawn, prediction)
        self._show_picture(self.given_view, given)
        self._show_picture(self.seen_view, seen)
        self.given_caption.setText(f"given {given.width()}×{given.height()}")
        self.seen_caption.setText(f"input {seen.width()}×{seen.height()}")
        self.description_label.setText(f"Given to the network: {drawn.description}; then the run's own "
                                       "transform, as for a file")
        if drawn.empty:
            self.topk.set_topk(())
            self.note_label.setText(DRAW_TEXT)
            self.explain_button.setEnabled(False)
        else:
            self.topk.set_topk(prediction.topk)
            self.note_label.setText(prediction.note or "")
            self.explain_button.setEnabled(True)
            if not self.detail_view.isHidden() and not self.pad.drawing:
                self.explain()  # asked for once, it follows the drawing at each stroke's end, not each move
        self.classified.emit()
        self._after_job()

    def _on_failed(self, exc: BaseException) -> None:
        text = describe(exc, doing="Classifying the drawing")
        self.note_label.setText(text)
        self._after_job()

    @staticmethod
    def _show_picture(view: QLabel, image: QImage) -> None:
        side = max(image.width(), image.height(), 1)
        if side <= GIVEN_SIDE:  # whole pixels, enlarged without smoothing: the network's resolution is the point
            scale = GIVEN_SIDE // side
            pixmap = QPixmap.fromImage(image).scaled(image.width() * scale, image.height() * scale,
                                                     Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.FastTransformation)
        else:
            pixmap = QPixmap.fromImage(image).scaled(GIVEN_SIDE, GIVEN_SIDE, Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation)
        view.setPixmap(pixmap)

    def _update_buttons(self) -> None:
        self.undo_button.setEnabled(self.pad.can_undo)

    @Slot()
    def _on_save_clicked(self) -> None:
        path = self.ask_save_path()
        if not path:
            return
        self._state.run_in_background(_save_drawing, self._state.model_handle, self.pad.pixels(), path,
                                      on_done=self._on_saved, key=f"{self._key}-save")

    def _on_saved(self, path: str) -> None:
        self._state.report("info", f"Drawing saved: {path}")
        self.saved.emit(path)
