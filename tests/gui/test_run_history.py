"""Past runs from the window: overlay their curves, resume them where they stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnstudio.training.store.runs import open_run


@pytest.mark.slow
def test_overlay_then_resume_a_finished_run(window, qtbot, quick_setup, runs_dir):
    quick_setup(window, epochs=1)
    with qtbot.waitSignal(window.session.finished, timeout=60_000) as finished:
        window.start_training()
    result, error = finished.args
    assert error is None
    run_dir = Path(result.run_dir)

    runs_tab = window.runs_tab
    runs_tab.overlay_requested.emit(run_dir.name, open_run(run_dir).history())
    tab = window.training_tab
    assert list(tab.overlays) == [run_dir.name]
    epoch_curve, acc_curve = tab.overlays[run_dir.name]
    assert list(epoch_curve.getData()[0]) == [1.0]
    assert 0.0 < acc_curve.getData()[1][0] <= 100.0
    tab.clear_overlays()
    assert not tab.overlays and all(item not in tab.plot("accuracy").listDataItems() for item in (epoch_curve, acc_curve))

    # A finished run is extended by the panel's epoch count (1 here): epoch 2 of 2.
    with qtbot.waitSignal(window.session.finished, timeout=60_000) as finished:
        runs_tab.resume_requested.emit(str(run_dir))
        assert window.session.state == "running"
    result, error = finished.args
    assert error is None and Path(result.run_dir) == run_dir
    assert result.epochs_done == 2
    assert [row["epoch"] for row in open_run(run_dir).metrics()] == [1, 2]
    val_acc = window.training_tab.curves["val_acc"].getData()[0]
    assert val_acc is not None and len(val_acc) == 1  # the new epoch, beside the overlay


def test_resume_of_a_broken_folder_shows_the_engine_message(window, qtbot, tmp_path):
    broken = tmp_path / "not-a-run"
    broken.mkdir()
    window.resume_run(str(broken))
    assert window.error_box is not None and str(broken) in window.error_box.text()
    assert window.session.state == "idle" and not window.session.active
