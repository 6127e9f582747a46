"""The Graph tab: the chosen network as a diagram to read before training.

The engine lays it out (`inspect.network_graph`: every leaf a node, an Inception block's
branches side by side, the aux heads beside the trunk, AlexNet's grouped convolutions as two
towers); this view only draws it, in a `QGraphicsView`: the wheel zooms, dragging pans, a
double-click on a block's frame folds it into one box (and back), hovering shows a node's
facts, and clicking a node opens its feature maps, its kernels (the first layer's) or its
dynamics. Nodes can be coloured by a figure — parameters, MACs, receptive field, or, for a
run with recorded dynamics, a layer's gradient norm, activation std or dead share at the
shared moment — with a colour bar. It follows the form's architecture and options live.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QLinearGradient, QPainter, QPainterPath, QPen, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox, QGraphicsPathItem, QGraphicsRectItem, QGraphicsScene, QGraphicsSimpleTextItem,
    QGraphicsView, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget,
)

from cnnstudio.gui.about import ABOUT as HELP_ABOUT
from cnnstudio.gui.state import StudioState
from cnnstudio.gui.text import plain
from cnnstudio.inspect.palette import KIND_COLOURS, ramp

__all__ = ["COLOUR_CHOICES", "GraphTab"]

#: (title, figure, log scale); the dynamics figures need a run with a recording.
COLOUR_CHOICES = (
    ("Kind", "", False), ("Parameters", "params", True), ("MACs", "macs", True),
    ("Receptive field (px)", "receptive_field", False), ("Gradient norm (run)", "grad_norm", True),
    ("Activation std (run)", "act_std", False), ("Dead channels (run)", "dead", False),
)


def _diagram(arch: str, in_channels: int, num_classes: int, input_size: int, options: dict[str, Any],
             collapsed: frozenset[str]) -> Any:
    """Background job: the engine's diagram of the chosen architecture."""
    from cnnstudio.inspect.network_graph import arch_diagram

    return arch_diagram(arch, in_channels=in_channels, num_classes=num_classes, input_size=input_size,
                        collapsed=collapsed, **options)


def _dynamics(run_dir: str) -> Any:
    from cnnstudio.training.store.dynamics import DynamicsFileError, read_dynamics

    try:
        record = read_dynamics(run_dir)
    except DynamicsFileError:
        return None  # colouring by a damaged recording: no colours (the Dynamics tab says why)
    return record if record is not None and len(record) else None


class _View(QGraphicsView):
    """Wheel zoom around the pointer, drag to pan."""

    def __init__(self, scene: QGraphicsScene) -> None:
        super().__init__(scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QBrush(QColor("white")))

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        factor = 1.15 ** (event.angleDelta().y() / 120)
        scale = self.transform().m11() * factor
        if 0.05 <= scale <= 6:
            self.scale(factor, factor)
        event.accept()


class _NodeItem(QGraphicsRectItem):
    def __init__(self, tab: GraphTab, node: Any) -> None:
        super().__init__(QRectF(node.x, node.y, node.w, node.h))
        self.node = node
        self._tab = tab
        self.setToolTip("\n".join(node.facts()))
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mousePressEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self._tab.select(self.node.id)
        event.accept()

    def mouseDoubleClickEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self.node.kind == "block":
            self._tab.toggle_block(self.node.id)  # a folded block opens again
        else:
            self._tab.open_maps(self.node.id)
        event.accept()


class _GroupItem(QGraphicsRectItem):
    def __init__(self, tab: GraphTab, group: Any) -> None:
        super().__init__(QRectF(group.x, group.y, group.w, group.h))
        self.group = group
        self._tab = tab
        self.setToolTip(f"{group.id}: double-click to fold it into one box")

    def mouseDoubleClickEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        self._tab.toggle_block(self.group.id)
        event.accept()


class GraphTab(QWidget):
    """The chosen architecture as a diagram (see the module's docstring)."""

    drawn = Signal()  # a diagram is on screen (tests wait on it)
    maps_requested = Signal(str)  # a conv layer's qualified name: show its feature maps
    kernels_requested = Signal()
    dynamics_requested = Signal(str)  # a layer's qualified name: show it on the Dynamics tab

    def __init__(self, state: StudioState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._key = f"graph-{id(self)}"
        self._collapsed: frozenset[str] = frozenset()
        self.diagram: Any = None
        self._items: dict[str, _NodeItem] = {}
        self._record: Any = None
        self.selected: str | None = None
        self.draw_ms = 0.0
        self._stale = False  # the selection or the model changed while the tab was hidden

        self.caption = plain(QLabel("Loading…"))
        self.caption.setObjectName("tabTitle")
        self.colour_box = QComboBox()
        for title, figure, _log in COLOUR_CHOICES:
            self.colour_box.addItem(title, figure)
        self.colour_box.currentIndexChanged.connect(self._recolour)
        fit = QPushButton("Fit")
        fit.setToolTip("Show the whole network")
        fit.clicked.connect(self.fit)
        self.legend = QLabel()
        self.legend.setMinimumWidth(220)
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(QLabel("Colour by"))
        top.addWidget(self.colour_box)
        top.addWidget(self.legend)
        top.addWidget(fit)

        self.scene = QGraphicsScene(self)
        self.view = _View(self.scene)
        self.facts = plain(QLabel("Click a layer to see what it is."))
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.maps_button = QPushButton("Feature maps")
        self.maps_button.clicked.connect(lambda: self.open_maps(self.selected))
        self.kernels_button = QPushButton("Kernels")
        self.kernels_button.clicked.connect(self.kernels_requested)
        self.dynamics_button = QPushButton("Dynamics")
        self.dynamics_button.clicked.connect(lambda: self.selected and self.dynamics_requested.emit(self.selected))
        for button in (self.maps_button, self.kernels_button, self.dynamics_button):
            button.setEnabled(False)
        side = QVBoxLayout()
        side.addWidget(self.facts)
        side.addWidget(self.maps_button)
        side.addWidget(self.kernels_button)
        side.addWidget(self.dynamics_button)
        side.addStretch(1)
        about = plain(QLabel(HELP_ABOUT["Graph"]))
        about.setWordWrap(True)
        about.setObjectName("hint")
        side.addWidget(about)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(260)
        body = QHBoxLayout()
        body.addWidget(self.view, 1)
        body.addWidget(side_widget)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addLayout(top)
        layout.addLayout(body, 1)

        state.selection_changed.connect(self.refresh)
        state.engine_ready.connect(self.refresh)
        state.model_changed.connect(self._on_model_changed)
        state.history_position_changed.connect(self._recolour)
        self.refresh()

    # -- building -------------------------------------------------------------------------------

    def refresh(self) -> None:
        if not self.isVisible() and self.diagram is not None:
            self._stale = True  # drawn when shown: a hidden tab must not take the training's cores
            return
        s = self._state
        self.caption.setText(f"{s.arch_name} · {s.in_channels}×{s.input_size}×{s.input_size} · laying out…")
        self._state.run_in_background(_diagram, s.arch_name, s.in_channels, s.num_classes, s.input_size,
                                      dict(s.arch_options), self._collapsed, on_done=self._on_diagram,
                                      on_error=self._on_failed, key=self._key)

    def toggle_block(self, block: str) -> None:
        self._collapsed = self._collapsed ^ {block}
        self.refresh()

    def _on_failed(self, exc: BaseException) -> None:
        from cnnstudio.errors import describe

        self.scene.clear()
        self._items.clear()
        self.caption.setText(f"The network cannot be drawn: {describe(exc)}")

    def _on_diagram(self, diagram: Any) -> None:
        import time

        started = time.perf_counter()
        first = self.diagram is None or self.diagram.title != diagram.title
        self.diagram = diagram
        self.scene.clear()
        self._items.clear()
        small = QFont()
        small.setPointSizeF(7.5)
        bold = QFont()
        bold.setPointSizeF(8.5)
        bold.setBold(True)
        for group in diagram.groups:
            if group.collapsed:
                continue
            item = _GroupItem(self, group)
            item.setBrush(QBrush(QColor("#f3f7fb")))
            item.setPen(QPen(QColor("#9db4cc")))
            item.setZValue(-2)
            self.scene.addItem(item)
            label = QGraphicsSimpleTextItem(group.name)
            label.setFont(bold)
            label.setBrush(QBrush(QColor("#35506b")))
            label.setPos(group.x + 8, group.y + 3)
            self.scene.addItem(label)
        pen = QPen(QColor("#666666"), 1.2)
        for edge in diagram.edges:
            a, b = diagram.index.get(edge.source), diagram.index.get(edge.target)
            if a is None or b is None:
                continue
            path = QPainterPath()
            if b.in_head and not a.in_head:
                start, end = QPointF(a.x + a.w, a.y + a.h / 2), QPointF(b.x, b.y + b.h / 2)
                path.moveTo(start)
                path.cubicTo(QPointF((start.x() + end.x()) / 2, start.y()), QPointF((start.x() + end.x()) / 2, end.y()),
                             end)
            else:
                start, end = QPointF(a.x + a.w / 2, a.y + a.h), QPointF(b.x + b.w / 2, b.y)
                mid = (start.y() + end.y()) / 2
                path.moveTo(start)
                path.cubicTo(QPointF(start.x(), mid), QPointF(end.x(), mid), end)
            item = QGraphicsPathItem(path)
            item.setPen(pen)
            item.setZValue(-1)
            self.scene.addItem(item)
        for node in diagram.nodes:
            item = _NodeItem(self, node)
            item.setPen(QPen(QColor("#333333"), 0.8))
            self.scene.addItem(item)
            self._items[node.id] = item
            if node.towers > 1:  # the grouped convolution's towers: a line down the middle of the box
                for t in range(1, node.towers):
                    x = node.x + node.w * t / node.towers
                    divider = self.scene.addLine(x, node.y, x, node.y + node.h, QPen(QColor("white"), 2))
                    divider.setParentItem(item)
            top = QGraphicsSimpleTextItem(_top_label(node), item)
            top.setFont(bold)
            top.setPos(node.x + 6, node.y + 3)
            if node.h >= 40:
                bottom = QGraphicsSimpleTextItem(_bottom_label(node), item)
                bottom.setFont(small)
                bottom.setPos(node.x + 6, node.y + node.h / 2 + 3)
        self.scene.setSceneRect(QRectF(0, 0, diagram.width, diagram.height))
        self._recolour()
        leaves = sum(1 for n in diagram.nodes if n.kind not in ("input", "concat", "block"))
        self.caption.setText(f"{diagram.title} · {leaves} layers")
        if first:
            self.fit()
        if self.selected and self.selected in self._items:
            self.select(self.selected)
        self.draw_ms = (time.perf_counter() - started) * 1000
        self.drawn.emit()

    def fit(self) -> None:
        """The network's width across the view (never enlarged past 100 %), its top in view: a
        tall net is scrolled, not shrunk to a stripe."""
        if self.diagram is None:
            return
        available = max(self.view.viewport().width() - 20, 100)
        scale = min(1.0, available / max(self.diagram.width, 1))
        self.view.resetTransform()
        self.view.scale(scale, scale)
        self.view.centerOn(self.diagram.width / 2, 0)

    # -- colours --------------------------------------------------------------------------------

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.refresh()
            self._on_model_changed()

    def _on_model_changed(self) -> None:
        if not self.isVisible():
            self._stale = True
            return
        handle = self._state.model_handle
        run_dir = handle.history_dir if handle is not None else None
        if run_dir is None:
            self._record = None
            self._recolour()
            return
        self._state.run_in_background(_dynamics, run_dir, on_done=self._on_dynamics, key=f"{self._key}-dyn")

    def _on_dynamics(self, record: Any) -> None:
        self._record = record
        self._recolour()

    def node_values(self) -> dict[str, float]:
        """The chosen figure per node id (empty for "Kind")."""
        _title, figure, _log = COLOUR_CHOICES[max(self.colour_box.currentIndex(), 0)]
        if not figure or self.diagram is None:
            return {}
        if figure in ("params", "macs", "receptive_field"):
            return {n.id: float(getattr(n, figure)) for n in self.diagram.nodes
                    if getattr(n, figure) and n.kind not in ("input", "concat", "block")}
        record = self._record
        if record is None:
            return {}
        position = self._state.history_position
        column = len(record) - 1
        if position is not None:
            column = int(np.argmin(np.abs(record.positions - position[1])))
        return {layer.name: float(record.figures[figure][column, i]) for i, layer in enumerate(record.layers)
                if math.isfinite(float(record.figures[figure][column, i]))}

    def _recolour(self) -> None:
        if self.diagram is None:
            return
        _title, figure, log = COLOUR_CHOICES[max(self.colour_box.currentIndex(), 0)]
        values = self.node_values()
        if log:
            values = {k: math.log10(v) for k, v in values.items() if v > 0}
        low = min(values.values(), default=0.0)
        high = max(values.values(), default=1.0)
        for nid, item in self._items.items():
            node = item.node
            if figure and nid in values:
                t = (values[nid] - low) / (high - low) if high > low else 0.5
                colour = QColor(ramp(t))
            elif figure:
                colour = QColor("#e4e4e4")  # no such figure for this layer
            else:
                colour = QColor(KIND_COLOURS.get(node.kind, "#bab0ac"))
            item.setBrush(QBrush(colour))
            light = colour.lightnessF() > 0.6
            for child in item.childItems():
                if isinstance(child, QGraphicsSimpleTextItem):
                    child.setBrush(QBrush(QColor("#111111" if light else "white")))
        self._draw_legend(figure, log, low, high, bool(values))

    def _draw_legend(self, figure: str, log: bool, low: float, high: float, shown: bool) -> None:
        """The colour bar: the ramp with its two ends and the unit."""
        if not figure or not shown:
            self.legend.clear()
            self.legend.setText("" if not figure or figure in ("params", "macs", "receptive_field")
                                else "no values: open a run with recorded dynamics")
            return
        from PySide6.QtGui import QPixmap

        unit = f"log10 {figure}" if log else figure
        pixmap = QPixmap(260, 30)
        pixmap.fill(QColor("white"))
        gradient = QLinearGradient(0, 0, 120, 0)
        for i in range(5):
            gradient.setColorAt(i / 4, QColor(ramp(i / 4)))
        painter = QPainter(pixmap)
        painter.fillRect(QRectF(0, 2, 120, 12), QBrush(gradient))
        painter.setPen(QColor("#222222"))
        painter.drawText(QRectF(0, 15, 60, 14), Qt.AlignmentFlag.AlignLeft, f"{low:.3g}")
        painter.drawText(QRectF(60, 15, 60, 14), Qt.AlignmentFlag.AlignRight, f"{high:.3g}")
        painter.drawText(QRectF(126, 0, 134, 16), Qt.AlignmentFlag.AlignLeft, unit)
        painter.end()
        self.legend.setPixmap(pixmap)
        self.legend.setToolTip(f"colour bar: {unit} from {low:.3g} to {high:.3g}")

    # -- interaction ----------------------------------------------------------------------------

    def select(self, nid: str) -> None:
        if self.diagram is None or nid not in self.diagram.index:
            return
        self.selected = nid
        node = self.diagram.index[nid]
        for other, item in self._items.items():
            item.setPen(QPen(QColor("#d62728"), 3) if other == nid else QPen(QColor("#333333"), 0.8))
        self.facts.setText("\n".join(node.facts()))
        self.maps_button.setEnabled(self._conv_for(nid) is not None)
        first = next((n.id for n in self.diagram.nodes if n.kind == "conv"), None)
        self.kernels_button.setEnabled(nid == first)
        self.dynamics_button.setEnabled(node.kind in ("conv", "linear", "norm", "block") or nid.endswith(".concat"))

    def _conv_for(self, nid: str | None) -> str | None:
        """The convolution whose maps a click on `nid` shows: itself, or the last one before it."""
        if nid is None or self.diagram is None:
            return None
        order = [n.id for n in self.diagram.nodes]
        if nid not in order:
            return None
        for candidate in reversed(order[: order.index(nid) + 1]):
            if self.diagram.index[candidate].kind == "conv":
                return candidate
        return None

    def open_maps(self, nid: str | None) -> None:
        conv = self._conv_for(nid)
        if conv is not None:
            self.maps_requested.emit(conv)


def _top_label(node: Any) -> str:
    text = node.name
    if node.kernel:
        text += f"  {node.kernel[0]}×{node.kernel[1]}/{node.stride[0] if node.stride else 1}"
    return text


def _bottom_label(node: Any) -> str:
    text = "×".join(map(str, node.shape)) if node.shape else node.type
    if node.receptive_field and node.kind in ("conv", "pool", "concat"):
        text += f" · RF {node.receptive_field}"
    return text

