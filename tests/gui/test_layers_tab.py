"""The Layers tab follows the selection: totals for the chosen architecture, or the engine's message."""

from __future__ import annotations

import pytest

from cnnstudio.gui.inspection.layers_tab import LayersTab


@pytest.fixture
def tab(qtbot, state):
    widget = LayersTab(state)
    qtbot.addWidget(widget)
    yield widget
    state.wait_for_background()


def test_vgg16_at_224_shows_138_357_544_parameters(tab, state, qtbot):
    state.update_selection(arch_name="vgg16", input_size=224, in_channels=3, num_classes=1000)
    qtbot.waitUntil(lambda: "138,357,544" in tab.totals_text, timeout=20_000)
    assert "138.4\u00a0M" in tab.totals_text
    assert tab.message_text is None
    summary = tab.summary
    assert summary.total_params == 138_357_544
    # The table lists every leaf layer, with people-formatted numbers.
    table = tab.table_view.model()
    assert table.rowCount() == len(summary.layers)
    first_conv = next(row for row in range(table.rowCount()) if table.index(row, 1).data() == "Conv2d")
    assert table.index(first_conv, 2).data() == "64 × 224 × 224"
    assert table.index(first_conv, 3).data() == "1,792"  # 3·3·3·64 + 64


def test_too_small_input_shows_the_engines_message_instead_of_the_table(tab, state, qtbot):
    state.update_selection(arch_name="vgg16", input_size=16, in_channels=3, num_classes=10)
    qtbot.waitUntil(lambda: tab.message_text is not None and "32×32" in tab.message_text, timeout=20_000)
    assert tab.summary is None
    assert tab.totals_text == ""
    # A valid choice afterwards brings the table back.
    state.update_selection(arch_name="lenet5", input_size=32, in_channels=1, num_classes=10)
    qtbot.waitUntil(lambda: tab.summary is not None and tab.summary.total_params == 61_706, timeout=20_000)
    assert tab.message_text is None


def test_a_burst_of_changes_shows_only_the_last_choice(tab, state, qtbot):
    for size in (64, 96, 128):
        state.update_selection(arch_name="alexnet", input_size=size, in_channels=3, num_classes=10)
    state.update_selection(arch_name="lenet5", input_size=32, in_channels=1, num_classes=10)
    qtbot.waitUntil(lambda: tab.summary is not None, timeout=20_000)
    qtbot.wait(400)  # longer than the debounce: a late answer for an older choice must not win
    assert tab.summary.input_shape == (1, 32, 32)
    assert tab.summary.total_params == 61_706
