"""The tricks study says how long its eight runs take in all (issue 22, item 12)."""

from __future__ import annotations

import pytest

from cnnstudio.training.fit import estimate as engine
from cnnstudio.training.fit.estimate import PlanEstimate, TrainingEstimate

pytestmark = pytest.mark.timeout(120)


def _figure(config, total_s: float) -> TrainingEstimate:
    return TrainingEstimate(arch=config.arch, device="cpu", device_name="CPU", input_size=32, batch_size=64,
                            batches_per_epoch=71, epochs=config.epochs, step_s=0.1, epoch_s=total_s / config.epochs,
                            total_s=total_s, peak_bytes=1, extra_bytes=1, available_bytes=None, total_bytes=None,
                            measured_batch=64, extrapolated=False, memory_method="RSS")


def test_the_plan_sentence_sums_the_runs() -> None:
    class C:
        arch, epochs = "tricks", 3

    plan = PlanEstimate((_figure(C, 600.0), _figure(C, 1200.0), _figure(C, 3000.0)))
    assert plan.total_s == 4800.0
    assert plan.sentence == "3 runs ≈ 1 h 20 min in all on CPU (the longest ≈ 50 min)"


def test_the_tricks_study_is_queued_with_its_time_in_all(window, qtbot, monkeypatch) -> None:
    measured = []

    def fake(config, *, bundle=None, cancel=None, **_kw):
        if cancel is not None and cancel():  # as the engine does: the width dialog's job, cancelled when it closed
            from cnnstudio.errors import Cancelled

            raise Cancelled("cancelled")
        measured.append((config.arch_options, bundle.spec.name))
        return _figure(config, 300.0)

    monkeypatch.setattr(engine, "estimate_training", fake)
    setup, panel = window.setup_panel, window.queue_panel
    setup.dataset_combo.setCurrentIndex(setup.dataset_combo.findData("mnist-sample"))
    setup.epochs_spin.setValue(2)
    setup.study_button.click()  # asks for the width first (issue 20)
    setup.study_dialog.accept()
    assert "estimating the time of its 8 runs" in panel.hint.text()
    qtbot.waitUntil(lambda: panel.study_estimate != "", timeout=60_000)
    assert panel.study_estimate == "Tricks study: 8 runs ≈ 40 min in all on CPU (the longest ≈ 5 min)"
    assert panel.study_estimate in panel.hint.text()
    assert len(measured) == 8 and {name for _o, name in measured} == {"mnist-sample"}  # loaded once, measured each
    assert len({str(o) for o, _n in measured}) == 8
    assert not window.session.active  # measured, not started


def test_running_the_queue_stops_measuring(window, qtbot, monkeypatch) -> None:
    import threading

    started, cancelled = threading.Event(), threading.Event()

    def slow(configs, *, cancel=None, **_kw):
        started.set()
        while not cancel():
            threading.Event().wait(0.01)
        cancelled.set()
        from cnnstudio.errors import Cancelled
        raise Cancelled("estimate cancelled")

    monkeypatch.setattr(engine, "estimate_plan", slow)
    panel = window.queue_panel
    panel._estimate_study([window.setup_panel.config()])
    assert started.wait(10)
    panel.cancel_estimate()
    assert cancelled.wait(10)
    qtbot.waitUntil(lambda: "estimating" not in panel.hint.text(), timeout=10_000)


def test_queued_while_a_fit_runs_the_hint_says_the_estimate_waits(window, qtbot, monkeypatch) -> None:
    import threading

    started = threading.Event()

    def slow(configs, *, cancel=None, **_kw):
        started.set()
        while not cancel():
            threading.Event().wait(0.01)
        from cnnstudio.errors import Cancelled
        raise Cancelled("estimate cancelled")

    monkeypatch.setattr(engine, "estimate_plan", slow)
    monkeypatch.setattr(type(window.session), "active", property(lambda _self: True))
    panel = window.queue_panel
    panel._estimate_study([window.setup_panel.config()] * 2)
    try:
        assert panel.hint_extra == ("Tricks study: the time of its 2 runs is measured once the training now "
                                    "running ends")
        assert started.wait(10)
    finally:
        panel.cancel_estimate()
    qtbot.waitUntil(lambda: panel.hint_extra == "", timeout=10_000)
