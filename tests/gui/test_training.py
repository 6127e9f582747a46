"""Training from the window: a real short fit, live curves, pause, stop, and errors."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from PySide6.QtCore import QEvent, QObject

from cnnstudio.errors import TrainingError
from cnnstudio.gui.training.training_tab import CURVE_EVERY, REDRAW_INTERVAL_MS
from cnnstudio.training.fit.trainer import Trainer


def point_counts(tab) -> dict[str, int]:
    """How many points each of the tab's curves shows."""
    return {key: len(curve.getData()[0]) if curve.getData()[0] is not None else 0 for key, curve in tab.curves.items()}


@pytest.mark.slow
def test_short_training_emits_progress_grows_curves_and_finishes(window, qtbot, quick_setup, runs_dir):
    quick_setup(window, epochs=1)
    progress, snapshots = [], []
    window.session.progress.connect(progress.append)
    window.session.model_snapshot.connect(snapshots.append)
    # Whether each live snapshot reached the shared state as it came: checked then, because
    # the run's saved weights replace it in the background after the fit, and on a busy
    # machine that may be delivered before `finished` returns here.
    reached = []
    window.session.model_snapshot.connect(lambda handle: reached.append(window.state.model_handle is handle))
    summaries, pushes = [], []
    window.session.started.connect(lambda _info: summaries.append(window.training_tab.summary.text()))
    window.training_tab.curves["batch_loss"].sigPlotChanged.connect(lambda *_: pushes.append(time.monotonic()))
    with qtbot.waitSignal(window.session.finished, timeout=60_000) as finished:
        began = time.monotonic()
        window.start_action.trigger()
        assert window.session.state == "running"
    seconds = time.monotonic() - began
    assert " on CPU (" in summaries[0]  # named as the device list and the status bar name it
    result, error = finished.args
    assert error is None
    assert result.epochs_done == 1 and not result.stopped_early
    batches = [stats for bundle in progress for stats in bundle]
    assert batches and batches[-1].batch == batches[-1].num_batches
    assert [s.batch for s in batches] == sorted(s.batch for s in batches)  # bundles keep the order
    # The reports cross to the GUI thread in bundles (each signal wakes the GUI thread), at
    # most ~5 a second plus the epoch's last, and none is lost on the way.
    assert len(progress) <= 5 * seconds + 2
    counts = point_counts(window.training_tab)
    assert counts["batch_loss"] == len(batches) and counts["lr"] == len(batches)
    assert counts["val_acc"] == 1 and counts["train_loss"] == 1
    # Curve pushes come from a throttled timer, never one per signal (+4: the resets at Start and
    # at the fit's start, the tab being shown, and the final flush).
    per_second = 1000 / (REDRAW_INTERVAL_MS * CURVE_EVERY)
    assert len(pushes) <= per_second * seconds + 4
    assert window.session.state == "idle"
    assert window.setup_panel.start_button.isEnabled()
    # The live snapshot reached the shared state, as a CPU eval-mode copy ...
    assert snapshots and reached == [True] * len(snapshots)
    assert not snapshots[-1].model.training
    # ... and after the fit the run's saved weights take its place (whenever that arrives).
    qtbot.waitUntil(lambda: window.state.model_handle.run_dir == result.run_dir, timeout=30_000)
    assert not window.state.model_handle.model.training
    assert window.state.spec is not None and window.state.class_names == list(window.state.spec.classes)
    run_dir = Path(result.run_dir)
    assert run_dir.parent == runs_dir and (run_dir / "last.pt").is_file()
    assert "Finished" in window.status_label.text()
    assert window.device_label.text() == "Device: CPU"  # the device list's name, not torch's "cpu"


def test_stop_takes_effect_within_a_second(window, qtbot, quick_setup):
    quick_setup(window, epochs=50, batch_size=64)
    with qtbot.waitSignal(window.session.progress, timeout=60_000):
        window.start_training()
    with qtbot.waitSignal(window.session.finished, timeout=5_000) as finished:
        asked = time.monotonic()
        window.stop_action.trigger()
        assert window.session.state == "stopping"
    assert time.monotonic() - asked < 1.0
    result, error = finished.args
    assert error is None and result.stopped_early
    assert (Path(result.run_dir) / "last.pt").is_file()
    assert window.session.state == "idle"


@pytest.mark.slow
def test_pause_holds_training_and_resume_continues(window, qtbot, quick_setup):
    quick_setup(window, epochs=50, batch_size=64)
    progress = []
    window.session.progress.connect(progress.append)
    with qtbot.waitSignal(window.session.progress, timeout=60_000):
        window.start_training()
    window.setup_panel.pause_button.click()
    assert window.session.state == "paused"
    assert window.setup_panel.pause_button.text() == "Resume"
    qtbot.wait(300)  # a batch in flight may still report
    held = len(progress)
    qtbot.wait(400)
    assert len(progress) == held
    with qtbot.waitSignal(window.session.progress, timeout=5_000):
        window.setup_panel.pause_button.click()
    assert window.session.state == "running"
    with qtbot.waitSignal(window.session.finished, timeout=5_000):
        window.stop_training()


@pytest.mark.parametrize("failure", [TrainingError("loss became NaN at epoch 1, batch 3 — try a lower learning rate"),
                                     RuntimeError("simulated crash")])
@pytest.mark.slow
def test_worker_error_shows_a_message_and_returns_to_idle(window, qtbot, quick_setup, monkeypatch, failure):
    def broken_fit(self):
        raise failure

    monkeypatch.setattr(Trainer, "fit", broken_fit)
    quick_setup(window)
    with qtbot.waitSignal(window.session.finished, timeout=60_000) as finished:
        window.start_training()
    assert finished.args[1] is failure
    qtbot.waitUntil(lambda: window.error_box is not None)
    assert str(failure) in window.error_box.text()
    assert window.session.state == "idle"
    assert window.setup_panel.start_button.isEnabled() and window.start_action.isEnabled()
    assert "error" in window.status_label.text()
    # The app is still usable: a fixed trainer trains.
    monkeypatch.undo()
    window.error_box.close()
    with qtbot.waitSignal(window.session.finished, timeout=60_000) as again:
        window.start_training()
    assert again.args[1] is None and again.args[0].epochs_done == 1


def test_invalid_setup_is_refused_before_any_thread_starts(window, qtbot, tmp_path):
    panel = window.setup_panel
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("vgg16"))
    panel.input_size_spin.setValue(16)
    window.start_training()
    assert not window.session.active
    assert window.error_box is not None and "vgg16 needs inputs of at least" in window.error_box.text()
    assert window.session.state == "idle"


def test_unreadable_dataset_folder_reports_the_engine_message(window, qtbot, tmp_path, monkeypatch):
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    panel = window.setup_panel
    monkeypatch.setattr(panel, "ask_folder", lambda: str(empty))
    window.open_folder_action.trigger()
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
    with qtbot.waitSignal(window.session.finished, timeout=30_000) as finished:
        window.start_training()
    error = finished.args[1]
    assert error is not None
    qtbot.waitUntil(lambda: window.error_box is not None)
    assert window.error_box.text() == str(error)
    assert str(empty.name) in window.error_box.text()
    assert window.session.state == "idle"


def test_hidden_training_tab_buffers_curves_and_keeps_its_x_range_still(qtbot):
    from types import SimpleNamespace

    from cnnstudio.gui.state import StudioState
    from cnnstudio.gui.training.training_tab import TrainingTab

    tab = _new_tab()
    qtbot.addWidget(tab)
    tab.show()
    tab.on_started(SimpleNamespace(epochs=4, start_epoch=1, arch="lenet5", input_size=32, device="cpu",
                                   precision="float32", num_params=1, batch_size=8, run_dir="run"))
    x_ranges = [plot.viewRange()[0] for plot in (tab.plot("batch_loss"), tab.plot("epoch_loss"), tab.plot("accuracy"), tab.plot("lr"))]
    tab.hide()  # another tab is in front: batches are buffered, nothing is drawn
    for batch in range(1, 11):
        tab.on_progress((SimpleNamespace(epoch=2, batch=batch, num_batches=10, loss=3.0 / batch, aux_losses=(),
                                         lr=0.01, images_per_s=100.0, elapsed_s=1.0, eta_s=1.0),))
        tab.redraw()
    assert point_counts(tab)["batch_loss"] == 0 and tab.stats["batch"].value.text() == "10 / 10"
    tab.show()  # shown again: everything buffered is drawn at once
    assert point_counts(tab)["batch_loss"] == 10
    assert [plot.viewRange()[0] for plot in (tab.plot("batch_loss"), tab.plot("epoch_loss"), tab.plot("accuracy"),
                                             tab.plot("lr"))] == x_ranges
    assert x_ranges[0][0] < 1.0 and x_ranges[0][1] > 4.0
    low, high = tab.plot("batch_loss").viewRange()[1]
    assert low < 0.3 and high > 3.0  # the loss curve's y range covers every point


class _LayoutRequests(QObject):
    """Counts the layout requests its watched widget receives."""

    count = 0

    def eventFilter(self, obj, event):  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def test_progress_figures_keep_their_size_so_new_values_cause_no_relayout(qtbot):
    # A label whose size may change re-runs the window's layouts and repaints the whole
    # window on every new text: 5 times a second while training.
    from cnnstudio.gui.training.training_tab import _Stat

    stat = _Stat("batch")
    qtbot.addWidget(stat)
    stat.show()
    stat.set("1 / 36")
    qtbot.wait(20)
    requests = _LayoutRequests()
    stat.installEventFilter(requests)
    for text in ("9 / 36", "17 / 36", "36 / 36", "2 / 36"):
        stat.set(text)
        qtbot.wait(5)
    assert requests.count == 0
    assert stat.value.text() == "2 / 36"
    longer = "20,000 / 20,000"  # a text wider than the label grows it once
    stat.set(longer)
    assert stat.value.width() >= stat.value.fontMetrics().horizontalAdvance(longer)


@pytest.mark.slow
def test_the_feature_maps_tab_uses_the_fits_own_copy_of_the_data(window, qtbot, quick_setup, monkeypatch):
    import cnnstudio.data.loaders as loaders

    quick_setup(window, epochs=1)
    shared = []
    window.session.dataset_loaded.connect(lambda config, bundle: shared.append((config.dataset, bundle)))
    with qtbot.waitSignal(window.session.finished, timeout=60_000):
        window.start_training()
    assert [name for name, _ in shared] == ["mnist-sample"]

    def second_copy(*args, **kwargs):
        raise AssertionError("the dataset was loaded a second time")

    monkeypatch.setattr(loaders, "load_dataset", second_copy)
    tab = window.feature_maps_tab
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: "validation image 0 of" in tab.caption_label.text(), timeout=30_000)
    assert f"of {len(shared[0][1].val):,}" in tab.caption_label.text()  # the fit's own validation split


def _epoch(epoch: int, train_loss: float, val_loss: float):
    from cnnstudio.training.records import EpochStats

    return EpochStats(epoch=epoch, epochs=8, train_loss=train_loss, train_acc=0.5, val_loss=val_loss, val_acc=0.5,
                      val_top5=0.9, lr=0.01, seconds=1.0, images_per_s=100.0, is_best=False)


def _started_tab(qtbot, *, epochs: int):
    """A shown Training tab whose fit (lenet5, `epochs` epochs) has just started."""
    from types import SimpleNamespace

    from cnnstudio.gui.state import StudioState
    from cnnstudio.gui.training.training_tab import TrainingTab

    tab = _new_tab()
    qtbot.addWidget(tab)
    tab.show()
    tab.on_started(SimpleNamespace(epochs=epochs, start_epoch=0, arch="lenet5", input_size=32, device="cpu",
                                   precision="float32", num_params=1, batch_size=8, run_dir="run"))
    return tab


def test_epoch_loss_range_starts_at_zero_and_moves_only_when_a_loss_leaves_it(qtbot):
    # Every y-range change re-renders the axis (~5 ms of the GUI thread, taken from training):
    # auto-range moved it at every epoch.
    tab = _started_tab(qtbot, epochs=8)
    tab.on_epoch(_epoch(1, 2.0, 1.6))
    tab.redraw()
    first = tab.plot("epoch_loss").viewRange()[1]
    assert -0.1 < first[0] < 0.0 and first[1] >= 2.0  # from just under 0, so the "0" label shows
    for epoch, (train, val) in enumerate([(1.5, 1.3), (1.2, 1.1), (0.4, 0.5)], start=2):
        tab.on_epoch(_epoch(epoch, train, val))
        tab.redraw()
        assert tab.plot("epoch_loss").viewRange()[1] == first  # a falling loss stays inside: nothing moves
    tab.on_epoch(_epoch(5, 3.5, 2.5))  # diverging: the range grows to show it
    tab.redraw()
    low, high = tab.plot("epoch_loss").viewRange()[1]
    assert -0.2 < low < 0.0 and high >= 3.5


def test_a_new_summary_line_asks_for_no_relayout_and_never_resizes_the_plots(qtbot):
    # Plots that change size re-render all eight axes; the summary goes from two lines
    # ("Training … run folder …") to one ("Epoch 1: …") at every fit start, and a label in
    # a layout would ask the whole window for a relayout at every epoch end.
    from cnnstudio.gui.state import StudioState
    from cnnstudio.gui.training.training_tab import TrainingTab

    tab = _new_tab()
    qtbot.addWidget(tab)
    tab.resize(700, 600)
    tab.show()
    long_text = ("Training lenet5 at 32×32 on CPU (float32) · 61,706 parameters · batch 128 · "
                 "run folder /home/someone/.local/share/cnnstudio/runs/20261123-lenet5-mnist-sample")
    tab.summary.setText(long_text)
    qtbot.wait(20)
    line = tab.summary.label.fontMetrics().lineSpacing()
    assert tab.summary.label.heightForWidth(tab.summary.width()) > line  # wrapped, and all of it shown
    assert tab.summary.height() >= tab.summary.label.heightForWidth(tab.summary.width())
    height = tab.plots.height()
    requests = _LayoutRequests()
    tab.installEventFilter(requests)
    for epoch in range(1, 4):
        tab.summary.setText(f"Epoch {epoch}: train loss 0.9{epoch}")
        qtbot.wait(5)
    assert requests.count == 0
    assert tab.plots.height() == height and tab.summary.text() == "Epoch 3: train loss 0.93"
    tab.resize(260, 600)  # so narrow the long text needs more lines: the box grows to show them
    tab.summary.setText(long_text)
    qtbot.wait(20)
    assert tab.summary.height() >= tab.summary.label.heightForWidth(tab.summary.width()) > 2 * line


def test_the_busy_bar_of_loading_stops_when_training_starts(qtbot):
    from types import SimpleNamespace

    from cnnstudio.gui.state import StudioState
    from cnnstudio.gui.training.training_tab import TrainingTab

    tab = _new_tab()
    qtbot.addWidget(tab)
    tab.show()
    tab.show_loading(0, 0, "Loading mnist-sample…")
    assert tab.progress.maximum() == 0  # busy: an animation repainting the bar 60 times a second
    tab.on_started(SimpleNamespace(epochs=2, start_epoch=0, arch="lenet5", input_size=32, device="cpu",
                                   precision="float32", num_params=1, batch_size=8, run_dir="run"))
    assert tab.progress.maximum() == 1000 and tab.progress.value() == 0


def test_an_overlaid_run_is_inside_the_epoch_loss_range(qtbot):
    tab = _started_tab(qtbot, epochs=4)
    tab.on_epoch(_epoch(1, 1.2, 1.0))
    tab.redraw()
    assert 1.2 <= tab.plot("epoch_loss").viewRange()[1][1] < 2.0
    tab.add_overlay("older run", [dataclasses.replace(_epoch(1, 2.0, 2.5), val_acc=0.3),
                                  dataclasses.replace(_epoch(2, 1.5, 1.9), val_acc=0.5)])
    assert tab.plot("epoch_loss").viewRange()[1][1] >= 2.5  # the overlay's worst epoch is in view
    tab.clear_overlays()
    assert 1.2 <= tab.plot("epoch_loss").viewRange()[1][1] < 2.0  # and the range returns to this fit's losses


@pytest.mark.slow
def test_inspection_tabs_opened_mid_epoch_get_the_weights_as_they_are_then(window, qtbot, quick_setup):
    # A VGG epoch on a CPU lasts minutes: the Kernels tab must not say "untrained" all along.
    import torch

    quick_setup(window, epochs=50, batch_size=64)
    with qtbot.waitSignal(window.session.progress, timeout=60_000):
        window.start_training()
    window.setup_panel.pause_button.click()  # paused: when people most want to look
    qtbot.wait(300)  # a batch in flight may still report
    qtbot.waitUntil(lambda: window.session.latest_batch is not None, timeout=5_000)
    stats = window.session.latest_batch
    assert stats.epoch == 1 and stats.batch < stats.num_batches and window.state.model_handle is None
    window.tabs.setCurrentWidget(window.kernels_tab)
    qtbot.waitUntil(lambda: window.state.model_handle is not None, timeout=10_000)
    handle = window.state.model_handle
    assert handle.source == f"live · epoch 1, batch {stats.batch} of {stats.num_batches}"
    trainer_weights = window.session._worker._bridge._trainer.model.state_dict()
    for name, value in handle.model.state_dict().items():  # a copy of these very weights
        assert torch.equal(value, trainer_weights[name].cpu()), name
    assert not handle.model.training
    qtbot.waitUntil(lambda: "live · epoch 1, batch" in window.kernels_tab.caption, timeout=10_000)
    # Nothing trained since: switching again copies nothing more.
    window.tabs.setCurrentWidget(window.feature_maps_tab)
    qtbot.wait(200)
    assert window.state.model_handle is handle
    with qtbot.waitSignal(window.session.finished, timeout=10_000):
        window.stop_training()
    # Stopped mid-epoch: the tabs show what Stop saved in last.pt, not an older epoch end.
    assert window.state.model_handle.source.startswith("stopped · epoch 1, batch ")
    assert "before the first epoch ended" in window.training_tab.summary.text()
    assert "last.pt" in window.training_tab.summary.text()
    window.tabs.setCurrentWidget(window.training_tab)  # shown again: the figures stay final
    qtbot.wait(50)
    assert window.training_tab.stats["eta"].value.text() == "–"


def test_files_dropped_in_the_first_epoch_are_classified_with_the_weights_of_then(window, qtbot, quick_setup,
                                                                                   tmp_path):
    import numpy as np
    from PIL import Image

    quick_setup(window, epochs=50, batch_size=64)
    with qtbot.waitSignal(window.session.progress, timeout=60_000):
        window.start_training()
    window.setup_panel.pause_button.click()
    qtbot.waitUntil(lambda: window.session.latest_batch is not None, timeout=5_000)
    assert window.state.model_handle is None  # no epoch has ended
    digit = tmp_path / "digit.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(digit)
    classify = window.classify_tab
    with qtbot.waitSignal(classify.classified, timeout=20_000):
        classify.classify_paths([str(digit)])  # not waiting for the epoch's end
    assert window.state.model_handle.source.startswith("live · epoch 1, batch ")
    assert len(classify.results()[0].topk) == 5
    with qtbot.waitSignal(window.session.finished, timeout=10_000):
        window.stop_training()


@pytest.mark.slow
def test_epoch_curves_are_pushed_at_most_once_a_second_while_the_timer_draws(qtbot):
    # Their markers make them the dearest curves to push; quarter-second epochs (mnist-sample)
    # pushed them at every curve tick.
    tab = _started_tab(qtbot, epochs=8)
    tab.on_epoch(_epoch(1, 2.0, 1.6))
    tab.redraw(throttled=True)
    assert point_counts(tab)["val_loss"] == 1  # the first push is due at once
    tab.on_epoch(_epoch(2, 1.5, 1.3))
    tab.redraw(throttled=True)  # a timer tick a moment later: the epoch curves wait...
    assert point_counts(tab)["val_loss"] == 1
    qtbot.wait(1050)
    tab.redraw(throttled=True)  # ...at most a second
    assert point_counts(tab)["val_loss"] == 2
    tab.on_epoch(_epoch(3, 1.2, 1.1))
    tab.redraw()  # the fit's end, or the tab shown again: everything, at once
    assert point_counts(tab)["val_loss"] == 3 and point_counts(tab)["train_acc"] == 3


def _new_tab():
    from cnnstudio.gui.training.session import TrainingSession
    from cnnstudio.gui.state import StudioState
    from cnnstudio.gui.training.training_tab import TrainingTab

    state = StudioState()
    return TrainingTab(state, TrainingSession(state))


@pytest.mark.slow
def test_before_the_first_batch_reports_the_tab_says_so_with_the_time_taken(qtbot):
    from types import SimpleNamespace

    tab = _new_tab()
    qtbot.addWidget(tab)
    tab.show()
    tab.on_started(SimpleNamespace(epochs=2, start_epoch=0, arch="vgg16", input_size=224, device="cpu",
                                   precision="float32", num_params=1, batch_size=128, run_dir="run"))
    qtbot.wait(1100)
    tab.redraw()
    assert tab.stats["batch"].value.text() == "first batch…"
    assert tab.stats["elapsed"].value.text() not in ("–", "0:00")  # the clock runs: it is not frozen
    tab.on_finished(None)
