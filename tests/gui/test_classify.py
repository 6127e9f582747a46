"""The Classify tab: dropped files get a ranked top-5; bad files get a reason; nothing breaks it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from cnnstudio.errors import ImageError
from cnnstudio.gui.state import ModelHandle
from cnnstudio.gui.inspection.classify_tab import ClassifyTab

CLASSES = tuple("0123456789")


def _handle() -> ModelHandle:
    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.models.registry import build_model

    model = build_model("lenet5", in_channels=1, num_classes=10).eval()
    spec = DatasetSpec(name="digits", channels=1, classes=CLASSES, mean=(0.13,), std=(0.31,), native_size=28)
    return ModelHandle(model=model, spec=spec, input_size=32, in_channels=1, source="live · epoch 2")


def _png(path, seed: int, *, mode: str = "L", size: tuple[int, int] = (28, 28)) -> str:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode).save(path)
    return str(path)


def _corrupt_png(path) -> str:
    good = _png(path.with_name("whole.png"), 99, size=(64, 64))
    data = open(good, "rb").read()
    path.write_bytes(data[: len(data) // 2])  # cut in the middle of the pixel data
    return str(path)


def _text_file(path) -> str:
    path.write_text("these are my holiday notes, not a picture\n", encoding="utf-8")
    return str(path)


def _drop(widget, paths: list[str]) -> None:
    """Drag file URLs onto the widget and drop them, as a file manager would.

    Qt delivers a drop only to a widget that accepted the drag's enter event, so both are sent.
    """
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    action, button, modifiers = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(20, 20), action, mime, button, modifiers)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the tab refused a drag carrying files"
    QApplication.sendEvent(widget, QDropEvent(QPointF(20, 20), action, mime, button, modifiers))


@pytest.fixture
def messages(state):
    received: list[tuple[str, str]] = []
    state.message.connect(lambda level, text: received.append((level, text)))
    return received


@pytest.fixture
def tab(qtbot, state):
    widget = ClassifyTab(state)
    qtbot.addWidget(widget)
    yield widget
    state.wait_for_background()
    # Deliver what the pool finished (a preview still being decoded) while the tab exists:
    # this state outlives the tab, unlike the app's, whose results die with the window.
    QApplication.processEvents()


def _assert_ranked_top5(rows: list[tuple[str, float]]) -> None:
    assert len(rows) == 5
    names = [name for name, _ in rows]
    probs = [prob for _, prob in rows]
    assert set(names) <= set(CLASSES) and len(set(names)) == 5
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert probs == sorted(probs, reverse=True)
    assert sum(probs) <= 1.0 + 1e-6


def test_dropping_one_png_shows_five_ranked_rows(tab, state, qtbot, tmp_path, messages):
    state.model_handle = _handle()
    path = _png(tmp_path / "digit.png", 0)
    with qtbot.waitSignal(tab.classified, timeout=20_000):
        _drop(tab, [path])
    _assert_ranked_top5(tab.topk_rows())
    (result,) = tab.results()
    assert result.path == path
    assert tab.topk_rows() == [(name, prob) for name, prob in result.topk]
    assert not [m for m in messages if m[0] != "info"]


def test_several_files_list_each_top1_and_selecting_one_shows_its_top5(tab, state, qtbot, tmp_path):
    state.model_handle = _handle()
    paths = [_png(tmp_path / "grey.png", 1), _png(tmp_path / "colour.PNG", 2, mode="RGB", size=(40, 30)),
             _png(tmp_path / "big.png", 3, size=(300, 200))]
    with qtbot.waitSignal(tab.classified, timeout=20_000):
        tab.classify_paths(paths)
    results = tab.results()
    assert [r.path for r in results] == paths
    rows = [tab.results_list.item(i).text() for i in range(tab.results_list.count())]
    for row, result in zip(rows, results):
        name, prob = result.top1
        assert f"— {name} (" in row and f"{100 * prob:.1f} %" in row
    tab.select_row(2)
    assert tab.topk_rows() == list(results[2].topk)
    _assert_ranked_top5(tab.topk_rows())


@pytest.mark.parametrize("make_bad", [_corrupt_png, _text_file], ids=["corrupt-png", "text-file"])
def test_a_bad_file_gives_one_message_and_the_tab_keeps_working(tab, state, qtbot, tmp_path, messages, make_bad):
    state.model_handle = _handle()
    bad = make_bad(tmp_path / "bad.png")
    with qtbot.waitSignal(tab.classified, timeout=20_000):
        _drop(tab, [bad])
    (result,) = tab.results()
    assert isinstance(result, ImageError)
    warnings = [text for level, text in messages if level in ("warning", "error")]
    assert len(warnings) == 1 and "bad.png" in warnings[0] and result.reason in warnings[0]
    assert tab.topk_rows() == []
    assert result.reason in tab.note_label.text()
    # The next drop is classified as usual.
    with qtbot.waitSignal(tab.classified, timeout=20_000):
        _drop(tab, [_png(tmp_path / "fine.png", 4)])
    _assert_ranked_top5(tab.topk_rows())


def test_good_files_are_classified_and_bad_ones_listed_with_reasons(tab, state, qtbot, tmp_path, messages):
    state.model_handle = _handle()
    good = [_png(tmp_path / f"ok{i}.png", i) for i in range(3)]
    bad = [_corrupt_png(tmp_path / "broken.png"), _text_file(tmp_path / "notes.jpg"),
           str(tmp_path / "missing.png"), str(tmp_path)]
    with qtbot.waitSignal(tab.classified, timeout=20_000):
        tab.classify_paths(good[:2] + bad + good[2:])
    results = tab.results()
    assert [type(r).__name__ for r in results] == ["Prediction"] * 2 + ["ImageError"] * 4 + ["Prediction"]
    rows = [tab.results_list.item(i).text() for i in range(tab.results_list.count())]
    for row, result in zip(rows[2:6], results[2:6]):
        assert result.reason in row
    # One summary message for the whole drop, not one per file.
    warnings = [text for level, text in messages if level in ("warning", "error")]
    assert len(warnings) == 1 and warnings[0].startswith("4 of 7 files")
    # The first good file is selected and shows its top-5.
    _assert_ranked_top5(tab.topk_rows())


def test_files_dropped_before_any_model_wait_and_are_classified_when_one_arrives(tab, state, qtbot, tmp_path,
                                                                                  messages):
    path = _png(tmp_path / "early.png", 5)
    _drop(tab, [path])
    assert tab.results() == [None]
    assert any("Train a model or open a run first" in text for _, text in messages)
    assert "Train a model or open a run first" in tab.model_label.text()
    with qtbot.waitSignal(tab.classified, timeout=20_000):
        state.model_handle = _handle()
    _assert_ranked_top5(tab.topk_rows())
    assert "live · epoch 2" in tab.model_label.text()


def test_bad_files_dropped_before_any_model_are_told_at_once_and_only_once(tab, state, qtbot, tmp_path, messages):
    good, text = _png(tmp_path / "good.png", 3), _text_file(tmp_path / "notes.jpg")
    _drop(tab, [good, text])
    qtbot.waitUntil(lambda: isinstance(tab.results()[1], ImageError), timeout=20_000)
    assert tab.results()[0] is None  # the good one waits for a model
    warnings = [t for level, t in messages if level == "warning"]
    assert len(warnings) == 1 and "notes.jpg" in warnings[0] and "when a model is ready" in warnings[0]
    with qtbot.waitSignal(tab.classified, timeout=20_000):
        state.model_handle = _handle()
    assert not isinstance(tab.results()[0], ImageError) and isinstance(tab.results()[1], ImageError)
    assert len([t for level, t in messages if level == "warning"]) == 1  # not told twice


def test_a_url_from_a_browser_is_refused_with_a_reason(tab, state, qtbot):
    state.model_handle = _handle()
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/cat.jpg")])
    with qtbot.waitSignal(tab.classified, timeout=20_000):
        assert tab.classify_mime(mime)
    (result,) = tab.results()
    assert isinstance(result, ImageError) and "local files" in result.reason


def test_each_classified_drop_selects_its_image_once(tab, state, qtbot, tmp_path):
    state.model_handle = _handle()
    selected = []
    tab.image_selected.connect(selected.append)
    bad, good = _text_file(tmp_path / "notes.png"), _png(tmp_path / "digit.png", 4)
    for paths, first_good in (([good], good), ([bad, good, _png(tmp_path / "other.png", 5)], good)):
        selected.clear()
        with qtbot.waitSignal(tab.classified, timeout=20_000):
            tab.classify_paths(paths)
        assert selected == [first_good]  # the first readable file, announced once
    tab.select_row(2)
    assert selected == [good, str(tmp_path / "other.png")]


def test_each_file_shows_what_the_network_was_given(tab, state, qtbot, tmp_path):
    # A digit drawn black on white, for a model of MNIST-style (light on dark) digits.
    state.model_handle = _handle()
    array = np.full((120, 120), 255, dtype=np.uint8)
    array[30:90, 55:65] = 0  # a "1"
    drawn = tmp_path / "one_drawn.png"
    Image.fromarray(array).save(drawn)
    photo = _png(tmp_path / "photo.png", 5, mode="RGB", size=(300, 200))
    with qtbot.waitSignal(tab.classified, timeout=20_000):
        tab.classify_paths([str(drawn), photo])
    tab.select_row(0)
    assert tab.seen_caption() == "network input\n32×32 grey\ninverted"
    assert "inverted" in tab.note_label.text()
    shown = tab.seen_view.pixmap().toImage()
    assert shown.width() == 3 * 32  # whole pixels, three screen pixels each
    assert shown.pixelColor(1, 1).value() < 30  # the white paper became the dark ground
    tab.select_row(1)  # a colour photo for a grey 32 px model: that is what LeNet-5 sees
    assert tab.seen_caption() == "network input\n32×32 grey"


def test_a_dropped_file_gets_the_same_detail_view_as_an_evaluated_image(tab, state, qtbot, tmp_path):
    state.model_handle = _handle()
    tab.classify_paths([_png(tmp_path / "digit.png", 1)])
    qtbot.waitUntil(lambda: tab.explain_button.isEnabled(), timeout=20_000)
    tab.explain_selected()
    detail = tab.detail_view
    qtbot.waitUntil(lambda: bool(detail.top5()), timeout=20_000)
    assert not detail.isHidden() and detail.caption_label.text() == "digit.png"
    assert detail.seen_view.image is not None and detail.cam_view.image is not None
    assert any("explained" in row for row in detail.top5())
    state.wait_for_background()
