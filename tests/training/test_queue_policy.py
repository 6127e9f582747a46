"""The queue's policy in the engine (issue 19, part 4): the one `QueuePolicy` the command line's sweep
and the window's queue both drive — a stop pauses the queue, a failure is marked and the queue goes
on, a half-done run resumes first — and the one `FitPlan` that `build_trainer` turns into a fit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cnnstudio.training.experiments.queue import ItemState, Launch, TrainingQueue
from cnnstudio.training.experiments.queue_policy import QueuePolicy
from cnnstudio.training.fit.trainer import build_trainer
from cnnstudio.training.records import FitPlan
from tests.helpers.training import make_bundle, tiny_config


def _policy(tmp_path: Path, *labels: str, epochs: int = 1) -> QueuePolicy:
    queue = TrainingQueue.create(tmp_path / "sweep", title="test",
                                 labelled=[(label, tiny_config(epochs=epochs)) for label in labels])
    return QueuePolicy(queue, runs_root=tmp_path / "runs")


def _fit(launch: Launch, *, stop: bool = False) -> None:
    trainer = build_trainer(launch, bundle=make_bundle())
    if stop:
        trainer.request_stop()  # as Stop or Ctrl-C does, before its first batch
    trainer.fit()


def test_a_done_run_is_marked_and_a_stop_pauses_the_queue_and_resumes_first(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "a", "b", "c")
    queue = policy.queue
    first = policy.next_launch()
    assert first.item.label == "a" and not first.resume and policy.current == first.item.id
    assert policy.next_launch() is None  # one launch at a time
    _fit(first)
    assert policy.ended() == ItemState.DONE and policy.current is None
    assert TrainingQueue.load(queue.folder).items[0].outcome == "done"
    second = policy.next_launch()
    assert second.item.label == "b"
    _fit(second, stop=True)
    assert policy.ended() == ItemState.STOPPED
    assert queue.paused and TrainingQueue.load(queue.folder).paused  # saved: a resumed sweep knows
    assert policy.next_launch() is None  # paused: nothing starts by itself
    queue.set_paused(False)
    again = policy.next_launch()
    assert again.item.label == "b" and again.resume and again.run_dir == second.run_dir  # the half-done one first


def test_a_failure_is_marked_with_its_reason_and_the_queue_goes_on(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "a", "b")
    first = policy.next_launch()
    assert policy.ended(failure="loss became NaN") == ItemState.FAILED
    assert policy.queue.status(first.item.id).reason == "loss became NaN" and policy.running
    assert policy.next_launch().item.label == "b"


def test_an_item_that_cannot_start_is_marked_failed_and_the_next_is_launched(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "a", "b")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    data = json.loads(policy.queue.path.read_text())
    data["items"][0]["run_dir"] = str(theirs)  # a hand-edited queue.json names someone's folder
    policy.queue.path.write_text(json.dumps(data))
    policy.queue.reload()
    told: list[tuple[str, str]] = []
    launch = policy.next_launch(refused=lambda item, reason: told.append((item.label, reason)))
    assert launch.item.label == "b"
    assert [label for label, _ in told] == ["a"] and told[0][1]
    assert policy.queue.status(policy.queue.items[0].id).state == ItemState.FAILED
    assert (theirs / "notes.txt").read_text() == "mine"


def test_the_queue_pauses_when_nothing_is_left_and_a_start_put_off_pauses_it(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "a")
    policy.next_launch()
    policy.not_started()  # the face could not start it now (PyTorch still loading)
    assert policy.current is None and policy.queue.paused
    assert policy.queue.status(policy.queue.items[0].id).state == ItemState.WAITING  # nothing held against it
    policy.queue.set_paused(False)
    policy.next_launch()
    policy.ended(failure="no data")
    assert policy.next_launch() is None and policy.queue.paused  # finished


def test_one_fit_plan_the_window_the_queue_and_build_trainer_share(tmp_path: Path) -> None:
    policy = _policy(tmp_path, "a")
    launch = policy.next_launch()
    assert isinstance(launch, FitPlan) and launch.config == launch.item.config
    _fit(launch)
    resumed = build_trainer(FitPlan(launch.config.replace(epochs=2), launch.run_dir, resume=True),
                            bundle=make_bundle()).fit()
    assert resumed.epochs_done == 2 and Path(resumed.run_dir) == launch.run_dir


def test_the_policy_is_torch_free_to_import() -> None:
    code = ("import sys, cnnstudio.training.experiments.queue_policy, cnnstudio.training.records; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"
