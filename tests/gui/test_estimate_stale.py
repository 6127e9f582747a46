"""The window's estimate is for the settings on show, never for others (issue 22, item 2)."""

from __future__ import annotations

import threading

import pytest

from cnnstudio.gui.training import setup_panel as panel_module
from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.gui.training.setup_panel import SetupPanel
from cnnstudio.training.fit.estimate import TrainingEstimate


def _figure(config) -> TrainingEstimate:
    return TrainingEstimate(arch=config.arch, device="cpu", device_name="CPU", input_size=32,
                            batch_size=config.batch_size, batches_per_epoch=71, epochs=config.epochs, step_s=0.06,
                            epoch_s=4.3, total_s=4.3 * config.epochs, peak_bytes=900_000_000,
                            extra_bytes=120_000_000, available_bytes=None, total_bytes=None, measured_batch=64,
                            extrapolated=False, memory_method="RSS")


@pytest.fixture
def panel(qtbot, state, monkeypatch):
    gate = threading.Event()
    gate.set()

    def fake(config):
        assert gate.wait(10)
        return _figure(config)

    monkeypatch.setattr(panel_module, "_estimate", fake)
    panel = SetupPanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    panel.gate = gate
    yield panel
    gate.set()
    state.wait_for_background()


def _measure(panel, qtbot) -> str:
    panel.estimate()
    qtbot.waitUntil(lambda: "per epoch" in panel.estimate_label.text(), timeout=10_000)
    return panel.estimate_label.text()


def test_changing_a_setting_clears_the_figure(panel, qtbot) -> None:
    assert _measure(panel, qtbot).startswith("≈ 4 s per epoch on CPU")
    panel.batch_spin.setValue(panel.batch_spin.value() * 2)
    assert panel.estimate_label.text() == ""
    _measure(panel, qtbot)
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("vgg11"))
    assert panel.estimate_label.text() == ""  # LeNet's figure is not shown next to VGG-11
    _measure(panel, qtbot)
    panel.input_size_spin.setValue(panel.input_size_spin.value() + 8)
    assert panel.estimate_label.text() == ""


def test_a_figure_that_arrives_after_the_form_changed_is_not_shown(panel, qtbot, state) -> None:
    panel.gate.clear()  # the measurement is under way ...
    panel.estimate()
    assert panel.estimate_label.text().startswith("Measuring")
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("vgg11"))  # ... when the user switches
    assert panel.estimate_label.text() == ""
    panel.gate.set()
    assert state.wait_for_background(deliver=True)
    assert panel.estimate_label.text() == ""  # LeNet's figure never appears for VGG-11
    assert panel.estimate_button.isEnabled()


def test_unchanged_settings_keep_the_figure(panel, qtbot) -> None:
    text = _measure(panel, qtbot)
    panel.batch_spin.setValue(panel.batch_spin.value())  # no change
    panel.apply_config(panel.config())
    assert panel.estimate_label.text() == text


def test_the_window_and_the_command_line_make_the_same_engine_call(qtbot, state, monkeypatch, capsys) -> None:
    from cnnstudio import cli
    from cnnstudio.models.registry import resolve_options
    from cnnstudio.training.fit import estimate as engine
    from cnnstudio.training.input_size import config_input_size

    calls = []

    def record(config, *, bundle=None, **_kw):
        calls.append((config, bundle.spec))
        return _figure(config)

    monkeypatch.setattr(engine, "estimate_training", record)
    panel = SetupPanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    panel.arch_combo.setCurrentIndex(panel.arch_combo.findData("lenet5"))
    shown = panel_module._estimate(panel.config())
    assert cli.main(["train", "--arch", "lenet5", "--dataset", "mnist-sample", "--device", panel.device(),
                     "--estimate"]) == 0
    printed = capsys.readouterr().out.splitlines()[0]
    assert printed == f"estimate: {shown.sentence}"  # the same figures, in the same words

    def resolved(config):
        config = config.replace(arch_options=resolve_options(config.arch, config.arch_options))
        return config.replace(input_size=config_input_size(config, fallback_native=28).size)

    (window, window_spec), (command, command_spec) = calls
    assert resolved(window) == resolved(command) and window_spec == command_spec
