"""queue.json is untrusted (issue 23, items 1 and 2): only a folder the queue itself made for an
item, inside the runs folder, holding no result, is ever cleared to start again; anything else
is left exactly as it is, the item is marked failed in words, and the queue goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstudio.training.store import new_run as run_dirs, runs
from cnnstudio.training.experiments.queue import ItemRefused, ItemState, TrainingQueue
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import make_bundle, tiny_config

RUN_FILES = ("run.json", "config.json", "spec.json", "metrics.jsonl", "last.pt", "best.pt", ".lock")


def _queue(tmp_path: Path, *labels: str) -> TrainingQueue:
    return TrainingQueue.create(tmp_path / "runs" / "sweep", title="test",
                                labelled=[(label, tiny_config(lr=0.01 * (i + 1))) for i, label in enumerate(labels)])


def _point(queue: TrainingQueue, index: int, folder: Path) -> TrainingQueue:
    """Edit queue.json by hand, as anyone may: item `index` names `folder` as its run folder."""
    data = json.loads(queue.path.read_text())
    data["items"][index]["run_dir"] = str(folder)
    queue.path.write_text(json.dumps(data))
    return TrainingQueue.load(queue.folder)


def _someones_folder(folder: Path) -> dict[str, bytes]:
    folder.mkdir(parents=True)
    files = {name: f"someone's {name}".encode() for name in (*RUN_FILES[:4], "notes.txt")}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "history").mkdir()
    (folder / "history" / "e0001-b000000.npz").write_bytes(b"theirs")
    files["history/e0001-b000000.npz"] = b"theirs"
    return files


@pytest.mark.parametrize("where", ["outside", "inside, no marker", "inside, another item's marker", "link"])
def test_a_queue_naming_a_folder_it_did_not_make_deletes_nothing(tmp_path: Path, where: str) -> None:
    queue = _queue(tmp_path, "a", "b")
    outside = tmp_path / "home" / "work"
    files = _someones_folder(outside)
    if where == "outside":
        target = outside
    elif where == "link":
        target = tmp_path / "runs" / "link"
        target.symlink_to(outside, target_is_directory=True)
        run_dirs.claim_run_dir(outside, "queue item " + queue.items[0].id)  # even with the right marker inside
        files[run_dirs.OWNER_FILE] = (outside / run_dirs.OWNER_FILE).read_bytes()
    else:
        target = tmp_path / "runs" / "theirs"
        files = _someones_folder(target)
        if where.endswith("another item's marker"):
            run_dirs.claim_run_dir(target, "queue item " + queue.items[1].id)
            files[run_dirs.OWNER_FILE] = (target / run_dirs.OWNER_FILE).read_bytes()
    queue = _point(queue, 0, target)
    with pytest.raises(ItemRefused, match="nothing in it is touched — retry the item"):
        queue.prepare(queue.items[0], tmp_path / "runs")
    folder = outside if where in ("outside", "link") else target
    assert {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == files
    assert queue.status(queue.items[0].id).state == ItemState.FAILED
    assert TrainingQueue.load(queue.folder).next_item().label == "b"  # the queue goes on
    queue.retry(queue.items[0].id)
    assert queue.prepare(queue.items[0], tmp_path / "runs").run_dir != target  # a new folder of its own


def test_a_stopped_run_whose_last_pt_is_gone_is_never_wiped(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a")
    launch = queue.prepare(queue.items[0], tmp_path / "runs")
    Trainer(tiny_config(lr=0.01, epochs=1), run_dir=launch.run_dir, bundle=make_bundle()).fit()
    meta = json.loads((launch.run_dir / "run.json").read_text())
    meta.update(status="stopped", reason="stopped by the user")
    (launch.run_dir / "run.json").write_text(json.dumps(meta))
    (launch.run_dir / "last.pt").unlink()
    before = {p.name: p.read_bytes() for p in launch.run_dir.iterdir() if p.is_file()}
    with pytest.raises(ItemRefused, match="holds results .* last.pt is missing, so it cannot be resumed; nothing was "
                                          "deleted — retry the item to train it again in a new folder"):
        queue.prepare(queue.items[0], tmp_path / "runs")
    assert {p.name: p.read_bytes() for p in launch.run_dir.iterdir() if p.is_file()} == before
    assert queue.status(queue.items[0].id).state == ItemState.FAILED


def test_the_folder_the_queue_made_still_restarts_in_place(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a")
    launch = queue.prepare(queue.items[0], tmp_path / "runs")
    assert run_dirs.is_ours(launch.run_dir, root=tmp_path / "runs", owner="queue item " + queue.items[0].id)
    runs.RunWriter(launch.run_dir).start(queue.items[0].config, make_bundle().spec.to_dict())  # killed before last.pt
    (launch.run_dir / "metrics.jsonl").write_text('{"epoch": 1}\n')  # its one epoch line, written before the checkpoint
    again = queue.prepare(queue.items[0], tmp_path / "runs")
    assert again.run_dir == launch.run_dir and not again.resume
    assert not (launch.run_dir / "config.json").exists()
    assert run_dirs.is_ours(launch.run_dir, owner="queue item " + queue.items[0].id)  # still its own
    runs.RunWriter(launch.run_dir).start(queue.items[0].config, make_bundle().spec.to_dict())  # killed again…
    (launch.run_dir / "notes.txt").write_text("mine")  # …and someone put a file there: not cleared
    with pytest.raises(ItemRefused, match=r"also holds files that are not the run's \(notes.txt\)"):
        queue.prepare(queue.items[0], tmp_path / "runs")
    assert (launch.run_dir / "notes.txt").read_text() == "mine" and (launch.run_dir / "config.json").is_file()


def test_discarding_a_refused_start_touches_no_folder_that_is_not_ours(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    files = _someones_folder(folder)
    run_dirs.discard_new_run_dir(folder, made=True)
    assert {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == files


def test_a_queue_naming_another_runs_folder_does_not_train_it_further(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a")
    other = runs.new_run_dir(tmp_path / "runs", arch="lenet5", dataset="blocks")  # a plain training's run
    Trainer(tiny_config(lr=0.01, epochs=1), run_dir=other, bundle=make_bundle()).fit()
    meta = json.loads((other / "run.json").read_text())
    meta.update(status="stopped", reason="stopped by the user")  # resumable, for its owner
    (other / "run.json").write_text(json.dumps(meta))
    before = {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()}
    queue = _point(queue, 0, other)
    with pytest.raises(ItemRefused, match="is another run's folder, not the one this queue made for the item"):
        queue.prepare(queue.items[0], tmp_path / "runs")
    assert {p.name: p.read_bytes() for p in other.iterdir() if p.is_file()} == before


def test_an_item_whose_run_folder_is_the_queues_own_is_a_damaged_queue(tmp_path: Path) -> None:
    from cnnstudio.training.experiments.queue import QueueFileError

    queue = _queue(tmp_path, "a")
    data = json.loads(queue.path.read_text())
    data["items"][0]["run_dir"] = str(queue.folder / ".")
    queue.path.write_text(json.dumps(data))
    with pytest.raises(QueueFileError, match="damaged \\(item 1's run folder is the queue's own folder\\)"):
        TrainingQueue.load(queue.folder)


def test_a_history_link_in_our_folder_is_not_followed_when_clearing(tmp_path: Path) -> None:
    theirs = tmp_path / "photos"
    theirs.mkdir()
    for name in ("e0001-b000000.npz", "probes.npz", ".x.tmp"):
        (theirs / name).write_bytes(b"theirs")
    ours = runs.new_run_dir(tmp_path / "runs", arch="lenet5", dataset="blocks")
    (ours / "history").symlink_to(theirs, target_is_directory=True)
    run_dirs.discard_new_run_dir(ours, made=True)
    assert sorted(p.name for p in theirs.iterdir()) == [".x.tmp", "e0001-b000000.npz", "probes.npz"]


def test_a_folder_named_like_a_queue_temp_file_is_left_alone(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a")
    (queue.folder / ".queue.json.abc.tmp").mkdir()
    (queue.folder / ".queue.json.abc.tmp" / "x").write_text("theirs")
    (queue.folder / ".queue.json.def.tmp").write_text("a killed save's")
    queue.acquire()
    queue.release()
    assert (queue.folder / ".queue.json.abc.tmp" / "x").read_text() == "theirs"
    assert not (queue.folder / ".queue.json.def.tmp").exists()


def test_a_run_whose_checkpoints_were_both_deleted_is_not_restarted(tmp_path: Path) -> None:
    queue = _queue(tmp_path, "a")
    launch = queue.prepare(queue.items[0], tmp_path / "runs")
    Trainer(tiny_config(lr=0.01, epochs=1), run_dir=launch.run_dir, bundle=make_bundle()).fit()
    meta = json.loads((launch.run_dir / "run.json").read_text())
    meta.update(status="running", pid=2**22 + 1)  # its process died…
    (launch.run_dir / "run.json").write_text(json.dumps(meta))
    for name in ("last.pt", "best.pt"):  # …and both checkpoints were deleted since: its record stays
        (launch.run_dir / name).unlink()
    with pytest.raises(ItemRefused, match="holds results"):
        queue.prepare(queue.items[0], tmp_path / "runs")
    assert json.loads((launch.run_dir / "run.json").read_text())["last"]["epoch"] == 1
