"""The Graph tab: the chosen network drawn live, blocks folded, a click leads to the layer."""

from __future__ import annotations

from PySide6.QtCore import Qt


def test_googlenet_is_drawn_with_its_blocks_and_a_click_opens_a_layers_maps(qtbot, state) -> None:
    from cnnstudio.gui.inspection.graph_tab import GraphTab

    tab = GraphTab(state)
    qtbot.addWidget(tab)
    tab.show()  # a hidden Graph tab draws when shown, not on every change of the form
    with qtbot.waitSignal(tab.drawn, timeout=30_000):
        state.update_selection(arch_name="googlenet", arch_options={}, in_channels=3, num_classes=10, input_size=224)
    names = [g.name for g in tab.diagram.groups]
    assert sum(name.startswith("inception") for name in names) == 9 and "aux1" in names
    assert "googlenet" in tab.caption.text()
    five = "features.inception4a.branch3.1.relu"  # the 5×5 branch's activation: its maps are the conv's
    with qtbot.waitSignal(tab.maps_requested, timeout=5_000) as blocker:
        tab.select(five)
        tab.maps_button.click()
    assert blocker.args == ["features.inception4a.branch3.1.conv"]
    assert "features.inception4a.branch3.1.relu" in tab.facts.text()

    with qtbot.waitSignal(tab.drawn, timeout=30_000):
        tab.toggle_block("features.inception3a")
    assert "features.inception3a" in tab.diagram.index
    assert not any(n.startswith("features.inception3a.branch") for n in tab.diagram.index)


def test_nodes_coloured_by_parameters_show_a_colour_bar(qtbot, state) -> None:
    from cnnstudio.gui.inspection.graph_tab import GraphTab

    tab = GraphTab(state)
    qtbot.addWidget(tab)
    tab.show()
    qtbot.waitUntil(lambda: tab.diagram is not None, timeout=30_000)
    tab.colour_box.setCurrentIndex(tab.colour_box.findData("params"))
    values = tab.node_values()
    assert values and all(v > 0 for v in values.values())
    assert tab.legend.pixmap() is not None and not tab.legend.pixmap().isNull()
    biggest = max(values, key=values.get)
    smallest = min(values, key=values.get)
    assert tab._items[biggest].brush().color() != tab._items[smallest].brush().color()


def test_the_window_opens_the_feature_maps_of_a_clicked_layer(qtbot, window) -> None:
    tab = window.graph_tab
    qtbot.waitUntil(lambda: tab.diagram is not None, timeout=30_000)
    conv = next(n.id for n in tab.diagram.nodes if n.kind == "conv")
    tab.select(conv)
    qtbot.mouseClick(tab.maps_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentWidget() is window.feature_maps_tab


def test_a_hidden_graph_tab_draws_when_it_is_shown_not_on_every_change(qtbot, state) -> None:
    from cnnstudio.gui.inspection.graph_tab import GraphTab

    tab = GraphTab(state)
    qtbot.addWidget(tab)
    qtbot.waitUntil(lambda: tab.diagram is not None, timeout=30_000)
    first = tab.diagram
    state.update_selection(arch_name="vgg11", arch_options={}, in_channels=3, num_classes=10, input_size=32)
    qtbot.wait(300)
    assert tab.diagram is first  # hidden: nothing traced while a fit may need the cores
    with qtbot.waitSignal(tab.drawn, timeout=30_000):
        tab.show()
    assert "vgg11" in tab.diagram.title
