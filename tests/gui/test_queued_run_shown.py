"""During a queued run the form shows that run's settings and the status bar names its variant
(issue 22, item 18)."""

from __future__ import annotations

import pytest

from tests.helpers.training import folder_config, make_block_folder

pytestmark = pytest.mark.timeout(120)


def test_each_queued_run_is_shown_as_itself(window, qtbot, tmp_path) -> None:
    folder = make_block_folder(tmp_path / "blocks")
    panel, setup = window.queue_panel, window.setup_panel
    panel.runner.add([("fast lr", folder_config(folder, epochs=1, lr=0.05)),
                      ("slow lr", folder_config(folder, epochs=1, lr=0.002))])
    setup.lr_spin.setValue(0.3)  # the form holds something else entirely
    seen, statuses = [], []
    window.session.started.connect(lambda _info: seen.append(setup.config().lr))
    window.session.status.connect(statuses.append)
    panel.run_button.click()
    qtbot.waitUntil(lambda: len(seen) == 2 and not window.session.active, timeout=60_000)
    assert seen == [pytest.approx(0.05), pytest.approx(0.002)]
    training = [text for text in statuses if text.startswith("Training ")]
    assert training[0].startswith("Training fast lr on ") and training[1].startswith("Training slow lr on ")


def test_a_fit_started_from_the_form_keeps_the_form(window, qtbot, quick_setup) -> None:
    quick_setup(window, epochs=1)
    window.setup_panel.lr_spin.setValue(0.02)
    shown, statuses = [], []
    window.session.started.connect(lambda info: shown.append(window.setup_panel.config().lr))
    window.session.status.connect(statuses.append)
    with qtbot.waitSignal(window.session.finished, timeout=60_000):
        window.start_action.trigger()
    assert shown == [pytest.approx(0.02)]
    assert any(text.startswith("Training lenet5 on mnist-sample") for text in statuses)
