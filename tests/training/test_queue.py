"""The saved queue (issue 13, part 3): a round trip, atomic saves, damaged files in one sentence,
and states read from the run folders — a run whose writer died is interrupted and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstudio.errors import CnnStudioError
from cnnstudio.training.store import runs
from cnnstudio.training.experiments.queue import ItemState, QueueFileError, TrainingQueue, item_status, new_sweep_dir
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import make_bundle, tiny_config


def _queue(tmp_path: Path, *labels: str) -> TrainingQueue:
    return TrainingQueue.create(tmp_path / "sweep", title="test",
                                labelled=[(label, tiny_config(lr=0.01 * (i + 1))) for i, label in enumerate(labels)])


def _set_run_meta(run_dir: Path, **changes: object) -> None:
    path = run_dir / "run.json"
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_a_queue_round_trips_with_its_order_labels_configs_and_pause(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a", "b", "c")
    queue.move(queue.items[2].id, -2)
    queue.set_paused(True)
    removed = queue.remove(queue.items[1].id)
    again = TrainingQueue.load(queue.folder)
    assert [item.label for item in again.items] == ["c", "b"] and removed.label == "a"
    assert [item.config for item in again.items] == [item.config for item in queue.items]
    assert again.items[0].config.lr == pytest.approx(0.03)
    assert again.paused and again.title == "test"
    assert TrainingQueue.load(queue.path).items == again.items  # the folder or the file itself


def test_move_clamps_and_pause_holds_the_next_item(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a", "b")
    first = queue.items[0]
    assert queue.move(first.id, -5) == 0 and queue.move(first.id, 9) == 1
    assert queue.next_item().label == "b"
    queue.set_paused(True)
    assert queue.next_item() is None and queue.remaining() == 2
    with pytest.raises(CnnStudioError, match="no item"):
        queue.remove("nope")


def test_a_bad_config_is_refused_when_queued_not_when_its_turn_comes(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a")
    with pytest.raises(CnnStudioError, match="lr must be a number"):
        queue.add(tiny_config(lr=-1.0))
    assert len(TrainingQueue.load(queue.folder).items) == 1


def test_a_temp_file_left_by_a_killed_save_is_ignored_and_cleared(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a")
    leftover = queue.folder / ".queue.json.k3j2x.tmp"  # what atomic_write leaves when killed mid-write
    leftover.write_text('{"format": "cnnstudio-queue", "items": [{"id"')
    assert [item.label for item in TrainingQueue.load(queue.folder).items] == ["a"]
    queue.acquire()
    try:
        assert not leftover.exists()
    finally:
        queue.release()


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda text: text[: len(text) // 2], "is not valid JSON"),
        (lambda text: "", "is not valid JSON"),
        (lambda text: json.dumps({"format": "something else"}), "is not a cnnstudio queue"),
        (lambda text: text.replace('"lr": 0.01', '"lr": "fast"'), "lr"),
        (lambda text: text.replace('"label": "a"', '"label": 7'), "label"),
    ],
)
def test_a_damaged_queue_file_is_one_sentence_naming_it(tmp_path: Path, damage, words: str) -> None:
    queue = _queue(tmp_path, "a")
    queue.path.write_text(damage(queue.path.read_text()))
    with pytest.raises(QueueFileError) as caught:
        TrainingQueue.load(queue.folder)
    message = str(caught.value)
    assert "queue.json" in message and words in message and "\n" not in message


def test_a_missing_queue_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(QueueFileError, match="no queue at"):
        TrainingQueue.load(tmp_path)


def test_states_come_from_the_run_folder_and_an_interrupted_run_resumes(tmp_path: Path) -> None:
    bundle = make_bundle()
    queue = _queue(tmp_path, "first")
    item = queue.items[0]
    assert item_status(item).state == ItemState.WAITING
    launch = queue.prepare(item, tmp_path / "runs")
    assert not launch.resume and launch.run_dir.parent == tmp_path / "runs"
    assert TrainingQueue.load(queue.folder).items[0].run_dir == str(launch.run_dir)  # recorded before training
    assert queue.status(item.id).state == ItemState.WAITING  # an empty folder: made, never written to
    # One epoch of the two trains, then the process "dies": run.json still says running.
    Trainer(tiny_config(lr=0.01, epochs=1), run_dir=launch.run_dir, bundle=bundle).fit()
    _set_run_meta(launch.run_dir, status="running", pid=2**22 + 12345)
    status = TrainingQueue.load(queue.folder).status(item.id)
    assert status.state == ItemState.INTERRUPTED and status.epochs_done == 1 and status.epochs == 2
    assert status.text == "interrupted after epoch 1 of 2"
    assert queue.next_item().id == item.id
    launch = queue.prepare(item, tmp_path / "runs")
    assert launch.resume and launch.run_dir == Path(queue.items[0].run_dir)
    with runs.RunLock.acquire(launch.run_dir):  # a live writer: running, and not removable
        assert queue.status(item.id).state == ItemState.RUNNING
        with pytest.raises(CnnStudioError, match="stop it before removing"):
            queue.remove(item.id)
    Trainer(queue.items[0].config, resume_from=launch.run_dir, bundle=bundle).fit()
    queue.mark_done(item.id)
    status = queue.status(item.id)
    assert status.state == ItemState.DONE and status.epochs_done == 2
    assert status.text.startswith("done · best top-1 ")
    assert queue.next_item() is None
    assert [len(runs.open_run(launch.run_dir).history())] == [2]


def test_a_run_killed_before_its_first_checkpoint_starts_again_in_its_folder(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a")
    launch = queue.prepare(queue.items[0], tmp_path / "runs")
    runs.RunLock.acquire(launch.run_dir).release()  # the trainer locked it, then was killed:
    runs.RunWriter(launch.run_dir).start(queue.items[0].config, make_bundle().spec.to_dict())  # no last.pt yet
    assert queue.status(queue.items[0].id).state == ItemState.INTERRUPTED
    again = queue.prepare(queue.items[0], tmp_path / "runs")
    assert again.run_dir == launch.run_dir and not again.resume
    assert not (launch.run_dir / "config.json").exists()  # cleared, so the trainer accepts the folder
    Trainer(queue.items[0].config, run_dir=again.run_dir, bundle=make_bundle()).fit()
    assert queue.status(queue.items[0].id).state == ItemState.DONE  # its run folder says finished


def test_a_user_stop_is_resumable_but_a_schedule_ending_early_is_done(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a")
    launch = queue.prepare(queue.items[0], tmp_path / "runs")
    Trainer(tiny_config(lr=0.01, epochs=1), run_dir=launch.run_dir, bundle=make_bundle()).fit()
    _set_run_meta(launch.run_dir, status="stopped", reason="stopped by the user")
    assert queue.status(queue.items[0].id).state == ItemState.STOPPED
    _set_run_meta(launch.run_dir, reason="validation accuracy stopped improving after 3 learning-rate drops")
    assert queue.status(queue.items[0].id).state == ItemState.DONE
    _set_run_meta(launch.run_dir, status="failed", reason="loss became NaN at epoch 1")
    status = queue.status(queue.items[0].id)
    assert status.state == ItemState.FAILED and "NaN" in status.text


def test_failed_items_are_skipped_and_retry_gives_a_new_folder(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a", "b")
    first = queue.prepare(queue.items[0], tmp_path / "runs")
    queue.mark_failed(queue.items[0].id, "the dataset could not be loaded")
    assert queue.next_item().label == "b"
    assert TrainingQueue.load(queue.folder).status(queue.items[0].id).reason == "the dataset could not be loaded"
    queue.retry(queue.items[0].id)
    assert queue.next_item().label == "a" and queue.items[0].run_dir is None
    assert first.run_dir.is_dir()  # the old folder is left alone (it may hold a run the user wants)


def test_one_runner_at_a_time(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a")
    queue.acquire()
    try:
        other = TrainingQueue.load(queue.folder)
        with pytest.raises(CnnStudioError, match=r"is being run \(by PID \d+\)"):
            other.acquire()
    finally:
        queue.release()
    other.acquire()
    other.release()


def test_sweep_folders_are_not_runs(tmp_path: Path) -> None:
    folder = new_sweep_dir(tmp_path, arch="tricks", dataset="/data/my photos")
    assert folder.name.endswith("_sweep-tricks_my-photos")
    TrainingQueue.create(folder, labelled=[("a", tiny_config())])
    assert runs.list_runs(tmp_path) == []


def test_the_comparison_says_what_differs_from_the_baseline(tmp_path: Path) -> None:
    bundle = make_bundle()
    queue = TrainingQueue.create(tmp_path / "sweep", labelled=[
        ("baseline", tiny_config(epochs=1)), ("faster", tiny_config(epochs=1, lr=0.2)),
        ("wider", tiny_config(epochs=1, batch_size=4))])
    for item in queue.items:
        launch = queue.prepare(item, tmp_path / "runs")
        Trainer(item.config, run_dir=launch.run_dir, bundle=bundle).fit()
        queue.mark_done(item.id)
    rows = {row.path.name: row for row in queue.comparison()}
    by_label = {item.label: rows[Path(item.run_dir).name] for item in queue.items}
    assert dict(by_label["baseline"].distinct) == {} and by_label["baseline"].delta_top1 == 0.0
    assert dict(by_label["faster"].distinct) == {"lr": 0.2}
    assert dict(by_label["wider"].distinct) == {"batch_size": 4}
    tops = [row.best_top1 for row in queue.comparison()]
    assert tops == sorted(tops, reverse=True)


def test_a_queued_runs_default_label_names_what_was_changed(tmp_path: Path) -> None:
    # Two runs of one variant queued from the form must not read alike in the list.
    from cnnstudio.training.config import default_config

    start = default_config("lenet5").replace(dataset="mnist-sample")
    queue = TrainingQueue.create(tmp_path / "q", labelled=[("", start), ("", start.replace(lr=0.1, batch_size=32))])
    assert [item.label for item in queue.items] == ["lenet5 on mnist-sample",
                                                    "lenet5 on mnist-sample · lr 0.1, batch 32"]
