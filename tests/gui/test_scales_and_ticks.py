"""Colour bars say what the grey levels mean; epoch axes tick whole epochs; the accuracy legend
leaves an overlay visible (issue 22, item 20)."""

from __future__ import annotations

import numpy as np

from cnnstudio.training.records import EpochStats


def test_an_image_view_labels_its_grey_levels(qtbot) -> None:
    from cnnstudio.gui.widgets.image_grid import ImageView

    view = ImageView()
    qtbot.addWidget(view)
    view.resize(300, 200)
    view.show()
    view.set_image(np.zeros((4, 4), np.float32))
    view.set_scale("−0.5", "+0.5", middle="0", title="weight")
    bar = view.colour_bar
    assert bar.isVisible() and (bar.bottom_text, bar.middle_text, bar.top_text) == ("−0.5", "0", "+0.5")
    assert bar.geometry().right() <= view.width() and "weight" in bar.toolTip()
    view.clear()
    assert not bar.isVisible()


def test_the_confusion_matrix_has_a_colour_bar_for_its_values(qtbot) -> None:
    from cnnstudio.gui.inspection.evaluate_tab import _ConfusionPlot

    plot = _ConfusionPlot(lambda *_: None, lambda *_: None)
    qtbot.addWidget(plot)
    counts = np.array([[5, 1], [2, 7]])
    plot.set_matrix(counts.astype(float), counts, ("0", "1"))
    assert plot.colour_bar.levels() == (0.0, 7.0)


def _epoch(epoch: int) -> EpochStats:
    return EpochStats(epoch=epoch, epochs=3, train_loss=1.0 / epoch, train_acc=0.5, val_loss=1.0 / epoch,
                      val_acc=0.5, val_top5=0.9, lr=0.01, seconds=1.0, images_per_s=10.0, is_best=False)


def test_epoch_axes_tick_whole_epochs(qtbot, state) -> None:
    from cnnstudio.gui.training.session import TrainingSession
    from cnnstudio.gui.training.training_tab import TrainingTab

    tab = TrainingTab(state, TrainingSession(state))
    qtbot.addWidget(tab)
    tab.resize(1000, 700)
    tab.show()
    for name in ("batch_loss", "epoch_loss", "accuracy", "lr"):
        axis = tab.plot(name).getAxis("bottom")
        for low, high in ((0.8, 3.2), (0.5, 10.5), (1, 3)):
            ticks = [v for _spacing, values in axis.tickValues(low, high, 400) for v in values]
            assert ticks and all(float(v).is_integer() for v in ticks), (name, low, high, ticks)
        first_epoch = [v for _s, values in axis.tickValues(0.0, 1.0, 400) for v in values]
        assert any(not float(v).is_integer() for v in first_epoch)  # within epoch 1, fractions help
    tab.add_overlay("older run", [_epoch(1), _epoch(2)])
    legend = tab.plot("accuracy").legend
    assert legend.columnCount == 2 and legend.opts["brush"].color().alpha() < 255


def test_the_history_strip_ticks_whole_epochs_too(qtbot, state) -> None:
    from cnnstudio.gui.widgets.epoch_axis import EpochAxis
    from cnnstudio.gui.inspection.history_strip import HistoryStrip

    strip = HistoryStrip(state)
    qtbot.addWidget(strip)
    axes = [item.getAxis("bottom") for item in strip.plots.ci.items if hasattr(item, "getAxis")]
    assert axes and all(isinstance(axis, EpochAxis) for axis in axes)
