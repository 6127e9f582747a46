"""The window's queue (issue 13, part 3): runs in order through the session, states in the list,
reorder / remove / pause, Stop pauses the queue, and a crash's queue loads paused and resumes."""

from __future__ import annotations

import json

import pytest

from cnnstudio.gui.training.queue_panel import QueuePanel
from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.training.store import runs
from cnnstudio.training.fit.callbacks import Callback
from cnnstudio.training.experiments.queue import TrainingQueue, window_queue_dir
from cnnstudio.training.fit.trainer import Trainer
from cnnstudio.training.fit.training_data import load_training_data
from tests.helpers.training import folder_config

pytestmark = pytest.mark.timeout(120)


class _StopAfterOneEpoch(Callback):
    def on_epoch_end(self, trainer, stats) -> None:
        trainer.request_stop()  # then the process "dies" (below): run.json still says running


def states(panel: QueuePanel) -> list[str]:
    return [row.status.state.value for row in panel.model.records]


def texts(panel: QueuePanel) -> list[str]:
    return [panel.model.index(row, 2).data() for row in range(panel.model.rowCount())]


def test_the_queue_runs_its_items_in_order_through_the_session(window, qtbot, blocks) -> None:
    panel = window.queue_panel
    panel.runner.add([("first", folder_config(blocks, epochs=2)), ("second", folder_config(blocks, epochs=1, lr=0.1))])
    assert states(panel) == ["waiting", "waiting"]
    assert panel.hint.text().startswith("Ready — press Run queue") and panel.run_button.text() == "Run queue"
    started, seen = [], []
    window.session.started.connect(lambda info: started.append(info.run_dir))
    window.session.started.connect(lambda _info: seen.append(list(states(panel))))
    panel.run_button.click()
    assert panel.run_button.text() == "Pause queue"
    qtbot.waitUntil(lambda: states(panel) == ["done", "done"] and not window.session.active, timeout=60_000)
    items = panel.runner.queue.items
    assert started == [item.run_dir for item in items]  # in order, each in the folder the queue recorded
    assert seen[0][0] == "running" and seen[1] == ["done", "running"]
    assert all(text.startswith("done · best top-1 ") for text in texts(panel))
    assert [len(runs.open_run(item.run_dir).history()) for item in items] == [2, 1]
    assert panel.run_button.text() == "Run queue"  # the queue ran out: nothing more starts by itself
    assert "Every queued run has ended" in panel.hint.text()
    saved = TrainingQueue.load(window_queue_dir())
    assert [item.outcome for item in saved.items] == ["done", "done"]


@pytest.mark.slow
def test_stop_pauses_the_queue_and_run_resumes_the_stopped_run(window, qtbot, blocks) -> None:
    panel = window.queue_panel
    panel.runner.add([("long", folder_config(blocks, epochs=20)), ("next", folder_config(blocks, epochs=1))])
    with qtbot.waitSignal(window.session.epoch_finished, timeout=60_000):
        panel.run_button.click()
    with qtbot.waitSignal(window.session.finished, timeout=30_000):
        window.stop_action.trigger()
    qtbot.wait(50)
    assert not window.session.active  # the next run did not start as if nothing happened
    assert states(panel) == ["stopped", "waiting"] and panel.run_button.text() == "Run queue"
    assert "long resumes where it was saved" in panel.hint.text()
    first = panel.runner.queue.items[0]
    with qtbot.waitSignal(window.session.preparing, timeout=10_000) as preparing:
        panel.run_button.click()
    assert preparing.args[0].resume and preparing.args[0].run_dir == first.run_dir
    qtbot.waitUntil(lambda: states(panel) == ["done", "done"] and not window.session.active, timeout=60_000)
    assert [s.epoch for s in runs.open_run(first.run_dir).history()] == list(range(1, 21))


def test_pause_lets_the_current_run_finish_then_waits(window, qtbot, blocks) -> None:
    panel = window.queue_panel
    panel.runner.add([("a", folder_config(blocks, epochs=3)), ("b", folder_config(blocks, epochs=1))])
    with qtbot.waitSignal(window.session.started, timeout=60_000):
        panel.run_button.click()
    panel.run_button.click()  # Pause queue
    assert panel.run_button.text() == "Run queue"
    qtbot.waitUntil(lambda: not window.session.active, timeout=60_000)
    qtbot.wait(50)
    assert states(panel) == ["done", "waiting"] and not window.session.active


def test_reorder_and_remove_from_the_list(window, qtbot, blocks) -> None:
    panel = window.queue_panel
    panel.runner.add([(label, folder_config(blocks, epochs=1)) for label in ("a", "b", "c")])
    panel.view.selectRow(2)
    assert not panel.down_button.isEnabled() and panel.up_button.isEnabled()
    panel.up_button.click()
    panel.up_button.click()
    assert [row.item.label for row in panel.model.records] == ["c", "a", "b"]
    assert panel.selected_item().label == "c" and not panel.up_button.isEnabled()
    panel.view.selectRow(1)
    panel.remove_button.click()
    assert [row.item.label for row in panel.model.records] == ["c", "b"]
    assert [item.label for item in TrainingQueue.load(window_queue_dir()).items] == ["c", "b"]  # saved at once
    assert panel.title.text() == "Queue — 2 waiting"


def test_add_to_queue_and_the_tricks_study_from_the_setup_panel(window, qtbot, monkeypatch) -> None:
    from cnnstudio.training.fit import estimate

    monkeypatch.setattr(estimate, "estimate_plan", lambda configs, **_kw: estimate.PlanEstimate(()))  # not timed here
    setup, panel = window.setup_panel, window.queue_panel
    setup.arch_combo.setCurrentIndex(setup.arch_combo.findData("lenet5"))
    setup.epochs_spin.setValue(3)
    setup.queue_button.click()
    assert [row.item.config for row in panel.model.records] == [setup.config()]
    setup.study_button.click()  # asks for the width first (issue 20), with the estimate beside it
    setup.study_dialog.accept()
    rows = panel.model.records[1:]
    assert [row.item.label for row in rows] == ["plain", "baseline", "leaky_relu", "gap", "dropout=0.5",
                                                "small_kernels", "multiscale", "all_tricks"]
    assert {(r.item.config.arch, r.item.config.epochs, r.item.config.dataset) for r in rows} == {
        ("tricks", 3, setup.config().dataset)}
    assert not window.session.active  # queued, not started
    assert panel.title.text() == "Queue — 9 waiting"


def test_a_queue_left_by_a_crash_loads_paused_and_its_interrupted_run_resumes(state, qtbot, runs_dir, blocks) -> None:
    config = folder_config(blocks, epochs=2)
    queue = TrainingQueue.create(window_queue_dir(), labelled=[("crashed", config)])
    launch = queue.prepare(queue.items[0])
    Trainer(config, callbacks=[_StopAfterOneEpoch()], run_dir=launch.run_dir, bundle=load_training_data(config)).fit()
    meta = json.loads((launch.run_dir / "run.json").read_text())
    (launch.run_dir / "run.json").write_text(json.dumps({**meta, "status": "running", "pid": 2**22 + 4321}))
    assert not queue.paused  # it was running when the app died

    session = TrainingSession(state)
    panel = QueuePanel(state, session)
    qtbot.addWidget(panel)
    assert not session.active  # nothing trains on launch without asking
    assert panel.runner.queue.paused and TrainingQueue.load(window_queue_dir()).paused
    assert states(panel) == ["interrupted"]
    assert texts(panel) == ["interrupted after epoch 1 of 2"]
    assert panel.hint.text() == "Paused — Run queue continues; crashed resumes where it was saved."
    with qtbot.waitSignal(session.finished, timeout=60_000):
        panel.run_button.click()
        assert session.request.resume and session.request.run_dir == str(launch.run_dir)
    qtbot.waitUntil(lambda: states(panel) == ["done"], timeout=10_000)
    assert [s.epoch for s in runs.open_run(launch.run_dir).history()] == [1, 2]
    state.wait_for_background()


def test_a_damaged_window_queue_is_set_aside_with_one_sentence(state, qtbot, runs_dir) -> None:
    folder = window_queue_dir()
    folder.mkdir(parents=True)
    (folder / "queue.json").write_text('{"format": "cnnstudio-queue", "items": [')
    messages = []
    state.message.connect(lambda level, text: messages.append((level, text)))
    panel = QueuePanel(state, TrainingSession(state))
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: bool(messages), timeout=2_000)
    level, text = messages[0]
    assert level == "warning" and "queue.json" in text and "set aside" in text and "\n" not in text
    assert (folder / "queue.json.damaged").is_file() and panel.runner.queue.items == ()
    assert panel.hint.text().startswith("Nothing queued.")


def test_closing_the_window_mid_queue_saves_it_paused_with_the_run_resumable(window, qtbot, blocks) -> None:
    panel = window.queue_panel
    panel.runner.add([("long", folder_config(blocks, epochs=20)), ("next", folder_config(blocks, epochs=1))])
    with qtbot.waitSignal(window.session.epoch_finished, timeout=60_000):
        panel.run_button.click()
    window.close()  # stops the fit cooperatively, then closes
    qtbot.waitUntil(lambda: not window.session.active, timeout=30_000)
    qtbot.wait(50)
    saved = TrainingQueue.load(window_queue_dir())
    assert saved.paused and [saved.status(item.id).state for item in saved.items] == ["stopped", "waiting"]
