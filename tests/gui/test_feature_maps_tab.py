"""The Feature maps tab shows the chosen conv layer's maps for the chosen image."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnstudio.gui.state import ModelHandle
from cnnstudio.gui.inspection.feature_maps_tab import FeatureMapsTab


def _handle(in_channels: int = 1) -> ModelHandle:
    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.models.registry import build_model

    model = build_model("lenet5", in_channels=in_channels, num_classes=10).eval()
    spec = DatasetSpec(name="mnist-sample", channels=1, classes=tuple("0123456789"),
                       mean=(0.13,), std=(0.31,), native_size=28)
    return ModelHandle(model=model, spec=spec, input_size=32, in_channels=in_channels, source="live · epoch 1")


@pytest.fixture
def tab(qtbot, state):
    widget = FeatureMapsTab(state)
    qtbot.addWidget(widget)
    widget.show()  # a hidden tab computes nothing until it is shown (see the last test)
    yield widget
    state.wait_for_background()


def test_without_a_model_the_tab_says_what_to_do(tab):
    assert tab.maps_shape is None
    assert "Train or open a run" in tab.message_text


@pytest.mark.parametrize(("layer_index", "channels", "side"), [(0, 6, 28), (1, 16, 10)])
def test_a_chosen_layer_shows_its_channel_count_for_an_image_file(tab, state, qtbot, tmp_path, layer_index,
                                                                   channels, side):
    from cnnstudio.inspect.activations import conv_layers

    handle = _handle()
    state.model_handle = handle
    assert tab.layers() == conv_layers(handle.model)
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(path)
    tab.show_image(str(path))
    tab.set_layer(tab.layers()[layer_index])
    qtbot.waitUntil(lambda: tab.maps_shape is not None and tab.maps_shape[0] == channels, timeout=20_000)
    assert tab.maps_shape == (channels, side, side)
    assert f"{channels} maps of {side} × {side}" in tab.shape_text
    assert tab.grid is not None and tab.grid.ndim == 2
    assert "photo.png" in tab.caption_label.text()


def test_validation_images_of_the_current_dataset_can_be_browsed(tab, state, qtbot):
    state.update_selection(dataset="mnist-sample")
    state.model_handle = _handle()
    qtbot.waitUntil(lambda: tab.maps_shape is not None, timeout=30_000)
    assert tab.maps_shape[0] == 6
    assert "validation image 0 of" in tab.caption_label.text()
    first = tab.grid.copy()
    tab.index_spin.setValue(7)
    qtbot.waitUntil(lambda: "validation image 7 of" in tab.caption_label.text(), timeout=20_000)
    assert not np.array_equal(tab.grid, first)


def test_an_unreadable_file_gives_a_message_not_a_crash(tab, state, qtbot, tmp_path):
    state.model_handle = _handle()
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture", encoding="utf-8")
    tab.show_image(str(bad))
    tab.set_layer(tab.layers()[0])
    qtbot.waitUntil(lambda: tab.message_text is not None and "text file" in tab.message_text, timeout=20_000)
    assert tab.maps_shape is None
    # A good image afterwards brings the maps back.
    good = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(good)
    tab.show_image(str(good))
    qtbot.waitUntil(lambda: tab.maps_shape is not None, timeout=20_000)
    assert tab.message_text is None


def test_a_hidden_tab_does_no_work_until_it_is_shown(qtbot, state, tmp_path, monkeypatch):
    from cnnstudio.gui.inspection import feature_maps_tab

    computed = []
    real_compute = feature_maps_tab._compute

    def counting_compute(handle, request):
        computed.append(request)
        return real_compute(handle, request)

    monkeypatch.setattr(feature_maps_tab, "_compute", counting_compute)
    hidden = FeatureMapsTab(state)
    qtbot.addWidget(hidden)
    state.model_handle = _handle()  # a new model, then a file from the Classify tab: both wait
    path = tmp_path / "dropped.png"
    Image.fromarray(np.full((28, 28), 200, dtype=np.uint8)).save(path)
    hidden.show_image(str(path))
    qtbot.wait(3 * feature_maps_tab.DEBOUNCE_MS)
    state.wait_for_background()
    assert computed == [] and hidden.maps_shape is None
    hidden.show()
    qtbot.waitUntil(lambda: hidden.maps_shape is not None, timeout=20_000)
    assert [request.path for request in computed] == [str(path)]
    assert "dropped.png" in hidden.caption_label.text()
    state.wait_for_background()
