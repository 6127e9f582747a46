"""The drawing pad in the Classify tab: strokes drawn with the mouse get a live top-5, the same as
`classify` of the saved drawing; undo, clear, pen width, Why?."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from cnnstudio.gui.state import ModelHandle
from cnnstudio.gui.inspection.classify_tab import ClassifyTab

CLASSES = tuple("0123456789")


def _handle(channels: int = 1) -> ModelHandle:
    import torch

    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.models.registry import build_model

    torch.manual_seed(0)
    model = build_model("lenet5", in_channels=channels, num_classes=10, activation="relu").eval()
    if channels == 1:
        spec = DatasetSpec(name="digits", channels=1, classes=CLASSES, mean=(0.13,), std=(0.31,), native_size=28)
    else:
        spec = DatasetSpec(name="photos", channels=3, classes=CLASSES, mean=(0.5,) * 3, std=(0.25,) * 3,
                           native_size=32)
    return ModelHandle(model=model, spec=spec, input_size=32, in_channels=channels, source="live · epoch 2")


def _stroke(qtbot, pad, points: list[tuple[float, float]]) -> None:
    """Press, move through `points` (fractions of the pad), release — as a hand would."""
    side = min(pad.width(), pad.height())
    left, top = (pad.width() - side) // 2, (pad.height() - side) // 2
    where = [QPoint(left + int(x * side), top + int(y * side)) for x, y in points]
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=where[0])
    for point in where[1:]:
        qtbot.mouseMove(pad, point)
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=where[-1])


SEVEN = [(0.2, 0.15), (0.5, 0.15), (0.75, 0.15), (0.6, 0.5), (0.45, 0.85)]


@pytest.fixture
def tab(qtbot, state):
    tab = ClassifyTab(state)
    qtbot.addWidget(tab)
    tab.resize(1000, 700)
    tab.show()
    tab.draw_button.click()
    return tab


def test_drawing_gives_a_live_top5_equal_to_classify_of_the_saved_file(qtbot, state, tab, tmp_path: Path) -> None:
    state.model_handle = _handle()
    panel = tab.draw_panel
    assert panel.isVisible() and panel.topk_rows() == []
    _stroke(qtbot, panel.pad, SEVEN)
    qtbot.waitUntil(lambda: len(panel.topk_rows()) == 5, timeout=10_000)
    assert "centred by mass in 28×28" in panel.description_label.text()
    assert "32×32" in panel.seen_caption.text()
    shown = panel.topk_rows()
    # Save writes what the network is given; classify of that file gives the same top-5.
    target = tmp_path / "seven.png"
    panel.ask_save_path = lambda: str(target)
    with qtbot.waitSignal(panel.saved, timeout=10_000):
        panel.save_button.click()
    from cnnstudio.inspect.classify import Predictor

    handle = state.model_handle
    from_file = Predictor(handle.model, handle.spec, input_size=32, in_channels=1).predict_files([target])[0]
    assert [name for name, _ in from_file.topk] == [name for name, _ in shown]
    assert np.allclose([p for _, p in from_file.topk], [p for _, p in shown], atol=1e-6)


def test_undo_clear_and_pen_width(qtbot, state, tab) -> None:
    state.model_handle = _handle()
    panel = tab.draw_panel
    assert not panel.undo_button.isEnabled()
    panel.pen_spin.setValue(40)
    _stroke(qtbot, panel.pad, SEVEN)
    thick = int((panel.pad.pixels() < 128).sum())
    qtbot.waitUntil(lambda: len(panel.topk_rows()) == 5, timeout=10_000)
    panel.undo_button.click()
    assert panel.pad.is_blank()
    qtbot.waitUntil(lambda: panel.topk_rows() == [], timeout=10_000)  # nothing drawn: no verdict
    panel.pen_spin.setValue(8)
    _stroke(qtbot, panel.pad, SEVEN)
    assert 0 < int((panel.pad.pixels() < 128).sum()) < thick / 2
    panel.clear_button.click()
    assert panel.pad.is_blank()
    panel.undo_button.click()  # the clear is undone too
    assert not panel.pad.is_blank()


def test_a_colour_run_gets_the_drawing_as_it_is_and_why_explains_it(qtbot, state, tab) -> None:
    state.model_handle = _handle(channels=3)
    panel = tab.draw_panel
    _stroke(qtbot, panel.pad, [(0.3, 0.3), (0.7, 0.7)])
    qtbot.waitUntil(lambda: len(panel.topk_rows()) == 5, timeout=10_000)
    assert "as it is" in panel.description_label.text()
    panel.explain_button.click()
    qtbot.waitUntil(lambda: bool(panel.detail_view.top5()), timeout=20_000)
    assert panel.detail_view.isVisible()


def test_dropped_files_leave_the_pad(qtbot, state, tab, tmp_path: Path) -> None:
    from PIL import Image

    state.model_handle = _handle()
    path = tmp_path / "d.png"
    Image.new("L", (28, 28)).save(path)
    tab.classify_paths([str(path)])
    assert not tab.draw_panel.isVisible() and not tab.draw_button.isChecked()
    qtbot.waitUntil(lambda: tab.results() and tab.results()[0] is not None, timeout=10_000)


def test_without_a_model_the_pad_says_what_to_do(qtbot, state, tab) -> None:
    _stroke(qtbot, tab.draw_panel.pad, SEVEN)
    qtbot.waitUntil(lambda: "Train a model" in tab.draw_panel.note_label.text(), timeout=5_000)


def test_a_tablet_pen_draws_and_its_pressure_sets_the_width(qtbot) -> None:
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QInputDevice, QPointingDevice, QTabletEvent
    from PySide6.QtWidgets import QApplication

    from cnnstudio.gui.inspection.drawing_pad import DrawingPad

    pad = DrawingPad()
    qtbot.addWidget(pad)
    pad.resize(280, 280)
    pad.show()
    pen = QPointingDevice("pen", 1, QInputDevice.DeviceType.Stylus, QPointingDevice.PointerType.Pen,
                          QInputDevice.Capability.Position | QInputDevice.Capability.Pressure, 1, 3)

    def send(kind: QEvent.Type, x: float, y: float, pressure: float) -> None:
        event = QTabletEvent(kind, pen, QPointF(x, y), QPointF(x, y), pressure, 0.0, 0.0, 0.0, 0.0, 0.0,
                             Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton)
        QApplication.sendEvent(pad, event)

    with qtbot.waitSignal(pad.stroke_finished):
        for pressure, y in ((0.1, 60), (1.0, 200)):
            send(QEvent.Type.TabletPress, 40, y, pressure)
            send(QEvent.Type.TabletMove, 240, y, pressure)
            send(QEvent.Type.TabletRelease, 240, y, pressure)
    ink = pad.pixels()[..., 0] < 128
    light, firm = int(ink[30:90].sum()), int(ink[170:230].sum())
    assert 0 < light < firm / 1.5
    assert pad.can_undo
