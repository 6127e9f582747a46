"""The Layers table says how it counts MACs (issue 22, item 21)."""

from __future__ import annotations


def test_the_layers_tab_says_its_macs_count_bias_additions(qtbot, state) -> None:
    from cnnstudio.gui.inspection.layers_tab import LayersTab

    tab = LayersTab(state)
    qtbot.addWidget(tab)
    tab.show()
    note = tab.macs_note
    assert note.isVisible()
    assert "bias addition" in note.text() and "torchinfo" in note.text()
    assert "15.48 G" in note.text() and "15.47 G" in note.text()


def test_the_note_matches_what_the_engine_counts() -> None:
    import torch

    from cnnstudio.inspect.summary import summarize_arch
    from cnnstudio.models.registry import build_model

    total = summarize_arch("vgg16").total_macs
    model = build_model("vgg16", in_channels=3, num_classes=1000).eval()
    biases = []
    hooks = [m.register_forward_hook(lambda mod, _i, out: biases.append(out[0].numel()))
             for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) and m.bias is not None]
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    for hook in hooks:
        hook.remove()
    assert round(total / 1e9, 2) == 15.48 and round((total - sum(biases)) / 1e9, 2) == 15.47
