"""User strings are shown as typed, never read as HTML (issue 15 item 11).

Qt reads a QLabel's text, a tooltip and a pyqtgraph legend entry as HTML when it looks
like HTML: a class named ``<b>bold`` was drawn bold, ``R&D <img src=x>`` as a broken
image, and ``&amp;`` differently in the top row (rich text) and the others (plain).
"""

from __future__ import annotations

import html

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as QtGuiNamespace, QTextDocument
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QLabel, QWidget

CLASSES = ("<b>bold", "R&D <img src=x>", "&amp;", "x < y > z")
RUN_NAME = "<i>run & <b>co"  # folder and file names cannot hold "/": no closing tags
FILE_NAME = "<b>digit &amp; <img src=y>.png"
FOLDER_NAME = "<u>my data & co"
HOSTILE = (*CLASSES, RUN_NAME, FILE_NAME, FOLDER_NAME)


def shown(text: str, text_format: Qt.TextFormat = Qt.TextFormat.AutoText) -> str:
    """What Qt draws for `text`: rich text is rendered (tags vanish, entities decoded)."""
    rich = text_format == Qt.TextFormat.RichText or (
        text_format == Qt.TextFormat.AutoText and QtGuiNamespace.mightBeRichText(text))
    if not rich:
        return text
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


def shown_label(label: QLabel) -> str:
    return shown(label.text(), label.textFormat())


def _write_hostile_run(root):
    """A real run folder (the engine's RunWriter) whose name and class names look like HTML."""
    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.models.registry import build_model
    from cnnstudio.training.records import EpochStats
    from cnnstudio.training.config import TrainConfig
    from cnnstudio.training.store.runs import RunWriter

    config = TrainConfig(arch="lenet5", dataset="mnist-sample", epochs=2, input_size=32)
    spec = DatasetSpec(name="mnist-sample", channels=1, classes=CLASSES, mean=(0.13,), std=(0.31,), native_size=28)
    run_dir = root / RUN_NAME
    writer = RunWriter(run_dir)
    writer.start(config, spec.to_dict())
    writer.append_metrics(EpochStats(epoch=1, epochs=2, train_loss=1.0, train_acc=0.5, val_loss=1.1, val_acc=0.5,
                                     val_top5=None, lr=0.01, seconds=1.0, images_per_s=100.0, is_best=True).to_row())
    model = build_model("lenet5", in_channels=1, num_classes=len(CLASSES))
    writer.save_best({"arch": "lenet5", "num_classes": len(CLASSES), "model": model.state_dict(), "epoch": 1})
    writer.finish("stopped")
    return run_dir


def _tooltips(window) -> list[str]:
    """Every tooltip the window can show: widgets', item views' cells and combo boxes' items."""
    tips = [widget.toolTip() for widget in window.findChildren(QWidget) if widget.toolTip()]
    for view in window.findChildren(QAbstractItemView):
        model = view.model()
        if model is None:
            continue
        root = view.rootIndex()
        try:
            columns = model.columnCount(root)
        except TypeError:  # a list model (QListWidget's, a combo box's): one column
            columns = 1
        for row in range(model.rowCount(root)):
            for column in range(columns):
                tip = model.index(row, column, root).data(Qt.ItemDataRole.ToolTipRole)
                if tip:
                    tips.append(str(tip))
    for combo in window.findChildren(QComboBox):
        for index in range(combo.count()):
            tip = combo.itemData(index, Qt.ItemDataRole.ToolTipRole)
            if tip:
                tips.append(str(tip))
    return tips


def _legend_texts(window) -> list[str]:
    """The legend entries of the Training tab's plots as drawn (pyqtgraph renders them as HTML)."""
    tab = window.training_tab
    return [label.item.toPlainText()
            for name in ("batch_loss", "epoch_loss", "accuracy", "lr")
            for _sample, label in tab.plot(name).legend.items]


def test_hostile_class_run_and_file_names_show_literally_everywhere(window, qtbot, runs_dir, tmp_path):
    run_dir = _write_hostile_run(runs_dir)
    image = tmp_path / FILE_NAME
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (28, 28), dtype=np.uint8), mode="L").save(image)
    runs = window.runs_tab
    window.tabs.setCurrentWidget(runs)
    runs.refresh()
    qtbot.waitUntil(lambda: len(runs.runs()) == 1, timeout=20_000)
    runs.select_run(run_dir)
    runs.open_selected()
    qtbot.waitUntil(lambda: getattr(window.state.model_handle, "run_dir", None) == str(run_dir), timeout=30_000)
    assert RUN_NAME in shown_label(runs.status_label)

    classify = window.classify_tab
    window.tabs.setCurrentWidget(classify)
    with qtbot.waitSignal(classify.classified, timeout=30_000):
        classify.classify_paths([str(image)])
    assert sorted(name for name, _ in classify.topk_rows()) == sorted(CLASSES)
    rows = [shown_label(name_label) for name_label, _bar, _percent in classify._topk._rows[: len(CLASSES)]]
    assert rows == [name for name, _ in classify.topk_rows()]  # the top row too, and "&amp;" alike in every row
    assert FILE_NAME in shown_label(classify._file_label)
    assert RUN_NAME in shown_label(classify.model_label)
    item = classify.results_list.item(0)
    assert FILE_NAME in item.text() and str(image) in shown(item.toolTip())

    for tab in (window.layers_tab, window.kernels_tab, window.feature_maps_tab):
        window.tabs.setCurrentWidget(tab)
        qtbot.waitUntil(lambda tab=tab: any(RUN_NAME in label.text() for label in tab.findChildren(QLabel)),
                        timeout=30_000)
    window.feature_maps_tab.show_image(str(image))
    qtbot.waitUntil(lambda: FILE_NAME in window.feature_maps_tab.caption_label.text(), timeout=30_000)

    window.tabs.setCurrentWidget(runs)
    runs.overlay_button.click()  # the run's curves beside the live ones, named in the legend
    folder = tmp_path / FOLDER_NAME  # an image folder in the setup panel: its path is the combo item's tooltip
    (folder / CLASSES[0]).mkdir(parents=True)
    window.setup_panel.ask_folder = lambda: str(folder)
    window.open_folder_action.trigger()
    assert any(FOLDER_NAME in shown(tip) for tip in _tooltips(window))

    # Every label of the window (the status bar's too) and every tooltip that holds one of
    # the names, as typed or escaped, shows it as typed. ("&amp;" alone could be the escape
    # of "&": it is checked in the top-5 rows above.)
    swept = [text for text in HOSTILE if "<" in text]
    checked = 0
    for label in window.findChildren(QLabel):
        for text in swept:
            if text in label.text() or html.escape(text, quote=False) in label.text():
                assert text in shown_label(label), (label.objectName(), label.text())
                checked += 1
    assert checked >= 10  # Runs, Classify (rows, file, model), Layers, Kernels, Feature maps, overlay hint …
    for tip in _tooltips(window):
        for text in swept:
            if text in tip or html.escape(text, quote=False) in tip:
                assert text in shown(tip), tip
    assert any(RUN_NAME in text for text in _legend_texts(window)), _legend_texts(window)
    for text in _legend_texts(window):
        assert "<" not in text or RUN_NAME in text or any(c in text for c in CLASSES), text


def test_a_message_naming_a_hostile_file_shows_it_literally(window, qtbot):
    window.state.report("error", f"Could not read {FILE_NAME}")
    qtbot.waitUntil(lambda: window.error_box is not None)
    assert FILE_NAME in shown(window.error_box.text(), window.error_box.textFormat())
    window.state.report("warning", f"1 of 1 file could not be classified — {FILE_NAME}: not an image")
    assert FILE_NAME in window.statusBar().currentMessage()  # the status bar draws plain text
