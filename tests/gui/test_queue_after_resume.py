"""A done queue item stays done while its run is resumed by hand, and the list refreshes when
that training ends (issue 22, item 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnstudio.training.store import runs
from cnnstudio.training.experiments.queue import ItemState, TrainingQueue, item_status
from tests.helpers.training import folder_config, make_block_folder

pytestmark = pytest.mark.timeout(120)


def test_a_done_item_is_not_running_while_its_run_folder_is_resumed_by_hand(tmp_path: Path) -> None:
    from cnnstudio.training.fit.trainer import Trainer

    folder = make_block_folder(tmp_path / "blocks")
    queue = TrainingQueue.create(tmp_path / "queue", title="q")
    item, = queue.extend([("first", folder_config(folder, epochs=1))])
    launch = queue.prepare(item, tmp_path / "runs")
    Trainer(item.config, run_dir=launch.run_dir).fit()
    queue.mark_done(item.id)
    with runs.RunLock.acquire(launch.run_dir):  # Resume in the Runs tab trains epochs 2, 3…
        status = item_status(queue.items[0])
    assert status.state == ItemState.DONE and status.text.startswith("done · best top-1 ")


def test_the_list_shows_the_items_state_again_after_a_resume_by_hand(window, qtbot, tmp_path) -> None:
    folder = make_block_folder(tmp_path / "blocks")
    panel = window.queue_panel
    panel.runner.add([("first", folder_config(folder, epochs=1))])
    panel.run_button.click()
    qtbot.waitUntil(lambda: panel.model.records[0].status.state == ItemState.DONE and not window.session.active,
                    timeout=60_000)
    run_dir = panel.runner.queue.items[0].run_dir
    seen = []
    window.session.epoch_finished.connect(lambda _s: seen.append(panel.model.records[0].status.state))
    with qtbot.waitSignal(window.session.finished, timeout=60_000):
        window.session.resume(run_dir, more_epochs=2)  # the Runs tab's Resume
    assert seen and set(seen) == {ItemState.DONE}  # never "running · epoch 2 of 1"
    qtbot.waitUntil(lambda: panel.model.records[0].status.state == ItemState.DONE)
    assert "running" not in panel.hint.text()
    assert panel.run_button.text() == "Run queue"
