"""The Training tab's plots as a user sees them: legend colours, log ticks, accuracy range (issue 11 item 8)."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor, QImage, QPainter

from cnnstudio.training.records import EpochStats


def _tab(qtbot, width: int = 1000, height: int = 700):
    from cnnstudio.gui.training.session import TrainingSession
    from cnnstudio.gui.state import StudioState
    from cnnstudio.gui.training.training_tab import TrainingTab

    state = StudioState()
    tab = TrainingTab(state, TrainingSession(state))
    qtbot.addWidget(tab)
    tab.resize(width, height)
    tab.show()
    qtbot.waitExposed(tab)
    return tab


def _start(tab, epochs: int = 5) -> None:
    tab.on_started(SimpleNamespace(epochs=epochs, start_epoch=0, arch="lenet5", input_size=32, device="cpu",
                                   precision="float32", num_params=1, batch_size=8, run_dir="run"))


def _epoch(epoch: int, train_acc: float, val_acc: float, top5: float = 0.999) -> EpochStats:
    return EpochStats(epoch=epoch, epochs=5, train_loss=1.0 / epoch, train_acc=train_acc, val_loss=1.1 / epoch,
                      val_acc=val_acc, val_top5=top5, lr=0.01, seconds=1.0, images_per_s=100.0, is_best=False)


def _batch(epoch: int, batch: int, lr: float):
    return SimpleNamespace(epoch=epoch, batch=batch, num_batches=10, loss=1.0, aux_losses=(), lr=lr,
                           images_per_s=100.0, elapsed_s=1.0, eta_s=1.0)


def _legend_marker_colours(tab) -> dict[str, QColor]:
    """The colour at the centre of each symbol curve's legend marker, as the window shows it."""
    image = tab.grab().toImage()
    colours = {}
    for name in ("epoch_loss", "accuracy"):
        for sample, label in tab.plot(name).legend.items:
            if sample.item.opts.get("symbol") is None:
                continue
            point = tab.plots.mapFromScene(sample.mapToScene(QPointF(10, 10)))
            point = tab.plots.viewport().mapTo(tab, point)
            colours[label.text] = image.pixelColor(point)
    return colours


def _distance(a: QColor, b: QColor) -> int:
    return max(abs(a.red() - b.red()), abs(a.green() - b.green()), abs(a.blue() - b.blue()))


def test_legend_markers_have_their_series_colours_from_the_first_fit(qtbot):
    # pyqtgraph's legend draws a marker from the curve's scatter options, which stayed at
    # their grey-purple defaults until the first points arrived; the first paint (an empty
    # plot) was then kept, as the legend is only repainted when its part of the plot is.
    from cnnstudio.gui.training.training_tab import _COLOURS

    tab = _tab(qtbot)
    expected = {"train": "train", "validation": "val", "train top-1": "train", "val top-1": "val",
                "val top-5": "top5"}
    for when in ("before any data", "after the first epochs"):
        colours = _legend_marker_colours(tab)
        assert set(colours) == set(expected)
        for label, key in expected.items():
            assert _distance(colours[label], QColor(_COLOURS[key])) <= 8, (when, label, colours[label].name())
        _start(tab)
        for epoch in (1, 2):
            tab.on_epoch(_epoch(epoch, 0.5, 0.6))
        tab.redraw()


def _left_labels(plot) -> list[tuple[str, float, float]]:
    """The left axis's tick labels as drawn: (text, top, bottom) in the axis's coordinates."""
    axis = plot.getAxis("left")
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(text, rect.top(), rect.bottom()) for rect, _flags, text in specs[2] if text]


def _assert_decade_labels(labels: list[tuple[str, float, float]]) -> None:
    texts = [text for text, _top, _bottom in labels]
    assert len(texts) >= 2, texts
    assert all(re.fullmatch(r"1(e-?\d+)?", text) for text in texts), texts  # "1e-3", never a bare "2" … "9"
    spans = sorted((top, bottom) for _text, top, bottom in labels)
    for (_, bottom), (top, _) in zip(spans, spans[1:]):
        assert top >= bottom, texts  # no two labels overlap


def test_the_learning_rate_axis_labels_only_decades_with_their_exponent(qtbot):
    tab = _tab(qtbot)
    lr_plot = tab.plot("lr")
    _assert_decade_labels(_left_labels(lr_plot))  # the empty plot
    _start(tab)
    for epoch in range(1, 5):  # a step schedule inside one decade: 0.007 … 0.0024
        tab.on_progress(tuple(_batch(epoch, b, 0.01 * 0.7 ** epoch) for b in range(1, 11)))
    tab.redraw()
    labels = _left_labels(lr_plot)
    _assert_decade_labels(labels)
    assert {"1e-3", "1e-2"} <= {text for text, _, _ in labels}  # both ends of the data's decade are named
    low, high = lr_plot.viewRange()[1]
    assert low <= math.log10(0.01 * 0.7 ** 4) and high >= math.log10(0.007)  # and every point is in view
    tab.on_progress(tuple(_batch(5, b, 1e-5) for b in range(1, 11)))  # a schedule down to 1e-5
    tab.redraw()
    _assert_decade_labels(_left_labels(lr_plot))
    assert lr_plot.viewRange()[1][0] <= -5


def test_accuracy_follows_the_data_and_a_toggle_shows_0_to_100(qtbot):
    # Fixed to 0–100 %, curves between 96 and 98 % sat on top of each other.
    tab = _tab(qtbot)
    acc = tab.plot("accuracy")
    _start(tab)
    tab.on_epoch(_epoch(1, 0.962, 0.965, top5=0.996))
    tab.on_epoch(_epoch(2, 0.975, 0.978, top5=0.998))
    tab.redraw()
    low, high = acc.viewRange()[1]
    assert 95.0 < low <= 96.2 and 99.8 <= high <= 100.5  # the data, with a little room
    first = (low, high)
    tab.on_epoch(_epoch(3, 0.971, 0.976, top5=0.997))  # inside the range: nothing moves (no axis re-render)
    tab.redraw()
    assert acc.viewRange()[1] == list(first)

    tab.full_accuracy_box.setChecked(True)  # the whole scale, on request
    low, high = acc.viewRange()[1]
    assert low <= 0.0 and 100.0 <= high < 105.0
    tab.on_epoch(_epoch(4, 0.98, 0.979))
    tab.redraw()
    assert acc.viewRange()[1] == [low, high]  # and it stays there while training
    tab.full_accuracy_box.setChecked(False)
    low, high = acc.viewRange()[1]
    assert 95.0 < low <= 96.2 and high <= 100.5


def test_accuracy_range_takes_in_an_overlaid_run(qtbot):
    import dataclasses

    tab = _tab(qtbot)
    _start(tab)
    tab.on_epoch(_epoch(1, 0.97, 0.975))
    tab.redraw()
    tab.add_overlay("older run", [dataclasses.replace(_epoch(1, 0.5, 0.5), val_acc=0.62)])
    assert tab.plot("accuracy").viewRange()[1][0] <= 62.0
