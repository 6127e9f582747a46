"""The history strip (issue 13): slider ↔ marker ↔ a click on the curves, shared by the Kernels
and Feature maps tabs and the Training tab through `StudioState.history_position`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.training import make_bundle, tiny_config

from cnnstudio.gui.state import ModelHandle
from cnnstudio.gui.inspection.feature_maps_tab import FeatureMapsTab
from cnnstudio.gui.inspection.kernels_tab import KernelsTab
from cnnstudio.training.store.snapshots import list_snapshots
from cnnstudio.training.fit.trainer import Trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("strip") / "run"
    Trainer(tiny_config(epochs=2, batch_size=4), run_dir=run_dir, bundle=make_bundle(per_class=40)).fit()
    return run_dir


@pytest.fixture
def tabs(qtbot, state, run):
    kernels, maps = KernelsTab(state), FeatureMapsTab(state)
    for tab in (kernels, maps):
        qtbot.addWidget(tab)
        tab.show()
    state.model_handle = ModelHandle.from_run(run, "best")
    qtbot.waitUntil(lambda: kernels.history is not None and maps.history is not None, timeout=20_000)
    yield kernels, maps
    state.wait_for_background()


def test_the_kernels_tab_scrubs_the_history_with_a_marker_on_the_curves(tabs, state, run) -> None:
    kernels, _maps = tabs
    strip = kernels.history_strip
    snapshots = list_snapshots(run).snapshots
    assert strip.isVisible() and strip.slider.maximum() == len(snapshots) - 1
    from cnnstudio.training.store.runs import open_run

    best = [stats.epoch for stats in open_run(run).history() if stats.is_best][-1]
    # The strip starts at the moment of the weights on show: best.pt's epoch end (a tie keeps epoch 1).
    assert strip.snapshot.epoch_end and strip.snapshot.epoch == best
    strip.slider.setValue(0)
    assert strip.marker_x == 0.0 and "initial weights" in strip.moment_label.text()
    np.testing.assert_allclose(kernels.image, kernels.history.frame(0)[..., 0])
    assert state.history_position == (str(run), 0.0)
    strip.seek_x(0.95)  # what a click on the curves near epoch 1 calls
    assert strip.snapshot.label == "epoch 1" and strip.marker_x == 1.0
    np.testing.assert_allclose(kernels.image, kernels.history.frame(strip.index)[..., 0])
    strip.contrast_box.setChecked(True)
    np.testing.assert_allclose(kernels.image, kernels.history.frame(strip.index, per_frame_contrast=True)[..., 0])


def test_a_click_on_the_plot_moves_the_slider(tabs, qtbot) -> None:
    from PySide6.QtCore import QPointF

    strip = tabs[0].history_strip
    strip.resize(800, 200)
    strip.plots.resize(800, 120)
    qtbot.wait(50)
    plot = strip._loss
    scene_point = plot.vb.mapViewToScene(QPointF(0.0, plot.vb.viewRange()[1][0] + 0.01))

    class Click:
        def scenePos(self) -> QPointF:
            return scene_point

    strip._on_plot_clicked(Click())
    assert strip.index == 0


def test_the_feature_maps_tab_follows_the_same_moment_with_the_probes(tabs, qtbot) -> None:
    kernels, maps = tabs
    maps.show_history()
    assert maps.history_strip.isVisible() and maps.probe_combo.count() == 6
    assert maps.grid is not None and maps.history.layers[0].layer == "features.c1"
    kernels.history_strip.slider.setValue(2)  # epoch 1, batch 10
    assert maps.history_strip.index == 2
    expected = maps.history.layers[0].frame(2, probe=0)
    np.testing.assert_allclose(maps.grid, expected)
    maps.probe_combo.setCurrentIndex(4)
    maps.history_layer.setCurrentIndex(1)
    np.testing.assert_allclose(maps.grid, maps.history.layers[1].frame(2, probe=4))


def test_a_model_without_history_hides_the_strip(qtbot, state, run, tmp_path) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(run, old)
    shutil.rmtree(old / "history")
    tab = KernelsTab(state)
    qtbot.addWidget(tab)
    tab.show()
    state.model_handle = ModelHandle.from_run(old, "best")
    qtbot.waitUntil(lambda: tab.caption.startswith("Learned"), timeout=20_000)
    qtbot.wait(100)
    assert tab.history is None and not tab.history_strip.isVisible()
    state.wait_for_background()


def test_the_training_tab_marks_the_moment_of_its_own_run(qtbot, state, run) -> None:
    from cnnstudio.gui.training.session import TrainingSession
    from cnnstudio.gui.training.training_tab import TrainingTab
    from cnnstudio.training.records import FitStart

    session = TrainingSession(state)
    tab = TrainingTab(state, session)
    qtbot.addWidget(tab)
    session._info = FitStart(arch="lenet5", epochs=2, start_epoch=0, batches_per_epoch=45, batch_size=4,
                             input_size=16, device="cpu", precision="float32", num_params=1, spec=None,
                             run_dir=str(run))
    state.set_history_position(str(run), 1.0)
    assert all(m.isVisible() and m.value() == 1.0 for m in tab.history_markers)
    state.set_history_position("/elsewhere", 1.0)
    assert not any(m.isVisible() for m in tab.history_markers)


def test_live_weights_stay_on_show_until_the_slider_moves(qtbot, state, run) -> None:
    # Opened mid-fit, the Kernels tab shows the weights as they are now (newer than any snapshot),
    # with the fit's history on the strip beside them; moving the slider shows its frames.
    import dataclasses

    tab = KernelsTab(state)
    qtbot.addWidget(tab)
    tab.show()
    saved = ModelHandle.from_run(run, "best")
    state.model_handle = dataclasses.replace(saved, run_dir=None, live_run_dir=str(run), source="live · epoch 2")
    qtbot.waitUntil(lambda: tab.history is not None and tab.caption.startswith("Learned"), timeout=20_000)
    qtbot.wait(100)
    assert "live · epoch 2" in tab.caption and tab.history_strip.isVisible()
    tab.history_strip.slider.setValue(0)
    assert tab.caption.startswith("Kernels across training")
    np.testing.assert_allclose(tab.image, tab.history.frame(0)[..., 0])
