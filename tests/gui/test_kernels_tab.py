"""The Kernels tab shows the first conv layer's kernels: colour for RGB models, grey otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from cnnstudio.gui.state import ModelHandle
from cnnstudio.gui.inspection.kernels_tab import KernelsTab


def _handle(in_channels: int) -> ModelHandle:
    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.models.registry import build_model

    model = build_model("lenet5", in_channels=in_channels, num_classes=10).eval()
    spec = DatasetSpec(name="tiny", channels=in_channels, classes=tuple("abcdefghij"),
                       mean=(0.5,) * in_channels, std=(0.25,) * in_channels, native_size=32)
    return ModelHandle(model=model, spec=spec, input_size=32, in_channels=in_channels, source="live · epoch 1")


@pytest.fixture
def tab(qtbot, state):
    widget = KernelsTab(state)
    qtbot.addWidget(widget)
    widget.show()  # a hidden tab computes nothing until it is shown
    yield widget
    state.wait_for_background()


def test_without_a_model_the_untrained_kernels_are_shown_and_labelled(tab, qtbot):
    # The default selection is LeNet-5 on grey digits: 6 kernels of 5×5.
    qtbot.waitUntil(lambda: tab.image is not None, timeout=20_000)
    assert "Untrained" in tab.caption
    assert tab.image.ndim == 2
    # 6 kernels tile as 3 columns × 2 rows of 5×5 with 1-pixel padding.
    assert tab.image.shape == (2 * 6 + 1, 3 * 6 + 1)


@pytest.mark.parametrize(("in_channels", "ndim"), [(3, 3), (1, 2)])
def test_learned_kernels_are_colour_for_rgb_and_grey_for_grey_models(tab, state, qtbot, in_channels, ndim):
    from cnnstudio.inspect.kernels import first_layer_kernels

    handle = _handle(in_channels)
    state.model_handle = handle
    qtbot.waitUntil(lambda: tab.image is not None and tab.caption.startswith("Learned"), timeout=20_000)
    assert tab.image.ndim == ndim
    expected = first_layer_kernels(handle.model)
    shown = tab.image if ndim == 3 else tab.image[..., np.newaxis]
    assert shown.shape[:2] == expected.shape[:2]
    np.testing.assert_allclose(shown, expected[..., : shown.shape[2]])
    assert "live · epoch 1" in tab.caption


def test_a_new_model_replaces_the_kernels_on_screen(tab, state, qtbot):
    state.model_handle = _handle(1)
    qtbot.waitUntil(lambda: tab.caption.startswith("Learned"), timeout=20_000)
    before = tab.image.copy()
    state.model_handle = _handle(1)  # a new epoch: other weights
    qtbot.waitUntil(lambda: tab.image is not None and not np.array_equal(tab.image, before), timeout=20_000)


def test_a_hidden_tab_waits_until_it_is_shown(qtbot, state):
    widget = KernelsTab(state)
    qtbot.addWidget(widget)
    state.model_handle = _handle(3)
    state.model_changed.emit()
    qtbot.wait(300)
    assert widget.image is None  # nothing computed for a tab nobody sees
    widget.show()
    qtbot.waitUntil(lambda: widget.image is not None and widget.caption.startswith("Learned"), timeout=20_000)
