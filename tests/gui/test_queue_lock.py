"""The window's queue takes the queue folder's lock, the one `sweep --resume` takes (issue 23,
item 5): while another process runs the queue the window starts nothing and says so, and when
it gets the lock it goes on from what the other runner did, never training an item twice."""

from __future__ import annotations

import pytest

from cnnstudio.errors import CnnStudioError
from cnnstudio.gui.training.queue_panel import QueuePanel
from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.training.store import runs
from cnnstudio.training.experiments.queue import TrainingQueue, window_queue_dir
from cnnstudio.training.fit.trainer import Trainer
from cnnstudio.training.fit.training_data import load_training_data
from tests.helpers.training import folder_config

pytestmark = [pytest.mark.timeout(120), pytest.mark.skipif(runs.fcntl is None, reason="the queue's lock is POSIX flock")]


def test_the_window_and_a_sweep_resume_never_run_one_queue_at_once(state, qtbot, runs_dir, blocks) -> None:
    config = folder_config(blocks, epochs=1)
    TrainingQueue.create(window_queue_dir(), labelled=[("first", config), ("second", config.replace(lr=0.1))])
    session = TrainingSession(state)
    panel = QueuePanel(state, session)
    qtbot.addWidget(panel)
    messages: list[str] = []
    panel.runner.message.connect(messages.append)

    other = TrainingQueue.load(window_queue_dir())  # `sweep --resume RUNS/queue`, holding the lock
    other.acquire()
    try:
        panel.run_button.click()
        assert not session.active and panel.runner.queue.paused
        assert messages and messages[-1].startswith("Queue not started: the queue ") and "is being run (by PID" in messages[-1]
        with pytest.raises(CnnStudioError, match=r"is being run \(by PID \d+\) — change it when that ends"):
            panel.runner.add([("third", config)])  # its stale copy would overwrite what the runner records
        assert len(panel.runner.queue.items) == 2
        # Meanwhile the other runner trains the first item in full.
        item = other.items[0]
        launch = other.prepare(item)
        Trainer(item.config, run_dir=launch.run_dir, bundle=load_training_data(config)).fit()
        other.mark_done(item.id)
    finally:
        other.release()

    with qtbot.waitSignal(session.finished, timeout=60_000):
        panel.run_button.click()  # now it holds the lock, and sees what the other runner did
    qtbot.waitUntil(lambda: not session.active, timeout=10_000)
    saved = TrainingQueue.load(window_queue_dir())
    assert [saved.status(i.id).state for i in saved.items] == ["done", "done"]
    assert len(runs.list_runs(runs_dir)) == 2  # one folder per item: the first was not trained again
    qtbot.waitUntil(lambda: not panel.runner.queue.held, timeout=10_000)  # idle: the lock is let go
    state.wait_for_background()
