"""The Features tab: class images and a layer's channels rendered in the background, captioned; Cancel; the empty state."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.evaluation import CLASSES, train_run, write_blocks_folder

from cnnstudio.gui.state import ModelHandle
from cnnstudio.gui.inspection.features_tab import EMPTY_TEXT, MODE_CHANNELS, FeaturesTab


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = write_blocks_folder(tmp_path_factory.mktemp("blocks") / "blocks")
    return train_run(tmp_path_factory.mktemp("runs") / "run", folder, epochs=1)


@pytest.fixture
def tab(qtbot, state):
    widget = FeaturesTab(state)
    qtbot.addWidget(widget)
    widget.show()
    yield widget
    state.wait_for_background()


def _open(qtbot, state, run_dir: Path) -> None:
    with qtbot.waitSignal(state.model_changed, timeout=20_000):
        state.run_in_background(ModelHandle.from_run, str(run_dir), "best",
                                on_done=lambda handle: setattr(state, "model_handle", handle))


def test_without_a_model_the_tab_says_what_to_do(tab):
    assert not tab._panel.showing_content and tab._panel.empty.text() == EMPTY_TEXT
    assert not tab.render_button.isEnabled()


def test_class_images_render_with_the_nets_probability_under_each(tab, qtbot, state, run_dir, tmp_path):
    _open(qtbot, state, run_dir)
    assert tab.render_button.isEnabled() and "run run" in tab.model_label.text()
    tab.steps_spin.setValue(6)
    tab.render()
    assert tab.running and tab.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: tab.dream is not None, timeout=30_000)
    captions = tab.captions()
    assert [c.split("\n")[0] for c in captions] == list(CLASSES)
    assert all("\np = " in c for c in captions)
    assert tab._panel.showing_content and not tab.running and tab.render_button.isEnabled()
    assert "5 class images" in tab.summary_label.text() and "6 steps" in tab.summary_label.text()
    # Saved as the CLI writes it: one captioned PNG, a tile per class.
    from PIL import Image

    assert tab.save_button.isEnabled()
    path = tmp_path / "features.png"
    tab.save_grid(str(path))
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.width >= 5 * 112


def test_a_page_of_a_layers_channels_renders(tab, qtbot, state, run_dir):
    _open(qtbot, state, run_dir)
    qtbot.waitUntil(lambda: tab.layer_combo.count() == 2, timeout=20_000)
    tab.set_mode(MODE_CHANNELS)
    assert tab._layer_box.isVisibleTo(tab) and not tab._class_box.isVisibleTo(tab)
    tab.layer_combo.setCurrentIndex(tab.layer_combo.findData("features.c3"))
    assert tab.page_label.text() == "channels 0–15 of 16"
    tab.first_spin.setValue(8)
    assert tab.page_label.text() == "channels 8–15 of 16"
    tab.steps_spin.setValue(4)
    tab.render()
    qtbot.waitUntil(lambda: tab.dream is not None, timeout=30_000)
    assert tab.dream.layer == "features.c3" and tab.dream.targets == tuple(range(8, 16))
    assert [c.split("\n")[0] for c in tab.captions()] == [f"channel {c}" for c in range(8, 16)]


def test_cancel_ends_a_render_with_a_message(tab, qtbot, state, run_dir):
    _open(qtbot, state, run_dir)
    tab.steps_spin.setValue(4096)
    tab.render()
    tab.cancel()
    qtbot.waitUntil(lambda: not tab.running, timeout=20_000)
    assert tab.summary_label.text() == "Rendering cancelled." and tab.dream is None
    assert tab.render_button.isEnabled() and not tab.cancel_button.isEnabled()


def test_live_weights_render_too(tab, qtbot, state, run_dir):
    """A running fit's snapshot: a handle with no run folder behind it."""
    from cnnstudio.inspect.inputs import TrainedModel

    trained = TrainedModel.from_run(run_dir)
    state.model_handle = ModelHandle(model=trained.model, spec=trained.spec, input_size=trained.input_size,
                                     in_channels=trained.in_channels, source="live · epoch 1", arch_name="lenet5")
    assert "live · epoch 1" in tab.model_label.text()
    tab.class_combo.setCurrentIndex(tab.class_combo.findData(3))
    tab.steps_spin.setValue(4)
    tab.render()
    qtbot.waitUntil(lambda: tab.dream is not None, timeout=30_000)
    assert tab.dream.targets == (3,) and tab.captions()[0].startswith(f"{CLASSES[3]}\np = ")
    assert "1 class image ·" in tab.summary_label.text()
