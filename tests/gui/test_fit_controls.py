"""The fit controls' one rule (issue 19, part 4): Start, Pause/Resume and Stop enable by
`FitControls.of`, and the setup panel's buttons and the main window's actions both follow it;
the window's `FitRequest` is the engine's `FitPlan`."""

from __future__ import annotations

import pytest

from cnnstudio.gui.training.session import FitControls, FitRequest, TrainingState
from cnnstudio.training.records import FitPlan
from tests.helpers.training import tiny_config


@pytest.mark.parametrize(("training", "ready", "expected"), [
    (TrainingState.IDLE, True, (True, False, False)),
    (TrainingState.IDLE, False, (False, False, False)),  # PyTorch still loading
    (TrainingState.RUNNING, True, (False, True, True)),
    (TrainingState.PAUSED, True, (False, True, True)),
    (TrainingState.STOPPING, True, (False, False, False)),
])
def test_the_rule(training: TrainingState, ready: bool, expected: tuple[bool, bool, bool]) -> None:
    controls = FitControls.of(training, ready)
    assert (controls.start, controls.pause, controls.stop) == expected


@pytest.mark.slow
def test_the_panel_and_the_window_follow_the_one_rule(window) -> None:
    session, panel = window.session, window.setup_panel
    for training in (TrainingState.RUNNING, TrainingState.PAUSED, TrainingState.STOPPING, TrainingState.IDLE):
        session._set_state(training)  # what a fit's life does to it
        controls = session.controls()
        assert controls == FitControls.of(training, True)
        assert (panel.start_button.isEnabled(), panel.pause_button.isEnabled(), panel.stop_button.isEnabled()) \
            == (controls.start, controls.pause, controls.stop)
        assert (window.start_action.isEnabled(), window.pause_action.isEnabled(), window.stop_action.isEnabled()) \
            == (controls.start, controls.pause, controls.stop)


def test_a_fit_request_is_a_fit_plan() -> None:
    request = FitRequest(config=tiny_config(), run_dir="/tmp/run", resume=True, label="run")
    assert isinstance(request, FitPlan) and request.resume and request.label == "run"
    with pytest.raises(ValueError, match="run folder"):
        FitRequest(config=tiny_config(), resume=True)
