"""A saved queue of trainings that run one after another, each a normal run folder.

The queue is one JSON file (`queue.json`) in its own folder: the command line's sweeps make
`<runs root>/<when>_sweep-<arch>_<dataset>/`, the window keeps one in `<runs root>/queue/`.
The runs themselves go straight into the runs root, so `list_runs`, `cnnstudio runs` and the
Runs tab see them like any other; the queue file records which folder is whose.

What the file stores is only what the run folders cannot say: the order, each item's label
and config, its run folder once it has one, whether the queue is paused, and the outcome
the runner recorded ("done", or "failed" with the reason). Everything else is read from the
run folder each time (`item_status`): an item whose run folder says "running" while its
writer is gone is *interrupted*, never running — the file on disk cannot lie about a
process that died. A half-done item (interrupted, or stopped by the user) resumes in its
own folder from its last.pt; one killed before its first checkpoint starts again there.

Every change is saved at once and atomically (`checkpoints.atomic_write`: temp file, fsync,
`os.replace`), so a kill -9 at any moment leaves the old file or the new one; the temp file
a kill leaves behind is never read and is removed when a runner next takes the queue. A
damaged file is reported in one sentence (`QueueFileError`). One runner at a time holds the
queue folder's lock (`runs.RunLock`, released by the kernel when its holder dies).

Torch-free to import.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnstudio.choices import Choice
from cnnstudio.errors import CheckpointError, CnnStudioError
from cnnstudio.training.store import schema as run_files, runs
from cnnstudio.training.records import STOPPED_BY_USER, FitPlan
from cnnstudio.files import atomic_write
from cnnstudio.training.config import TrainConfig
from cnnstudio.training.store.naming import slug
from cnnstudio.files import readable

__all__ = ["QUEUE_FILE", "ItemRefused", "ItemState", "ItemStatus", "Launch", "QueueFileError", "QueueItem", "TrainingQueue",
           "item_status", "new_sweep_dir", "window_queue_dir"]

QUEUE_FILE = "queue.json"
_FORMAT = "cnnstudio-queue"
_VERSION = 1
_SIZE_LIMIT = 16 * 1024 * 1024


class QueueFileError(CnnStudioError):
    """A queue file that cannot be read: one sentence naming the file and what is wrong."""


class ItemRefused(CnnStudioError):
    """An item that cannot start (its folder is not this queue's to clear); it was marked failed."""


def _owner(item: QueueItem) -> str:
    """What the marker of the run folder this queue makes for `item` says (`run_dirs.claim_run_dir`)."""
    return f"queue item {item.id}"


class ItemState(Choice):
    """Where one queued training is, as its run folder shows it."""

    WAITING = "waiting"
    RUNNING = "running"
    STOPPED = "stopped"  # by the user: resumes where it was saved
    INTERRUPTED = "interrupted"  # its process died: resumes where it was saved
    DONE = "done"
    FAILED = "failed"


_RUNNABLE = (ItemState.WAITING, ItemState.STOPPED, ItemState.INTERRUPTED)


@dataclass(frozen=True)
class QueueItem:
    """One queued training: an id, a label for people, its config, and (once started) its run folder."""

    id: str
    label: str
    config: TrainConfig
    run_dir: str | None = None
    outcome: str | None = None  # what the runner recorded: None, "done" or "failed"
    reason: str = ""  # why it failed

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "config": self.config.to_dict(), "run_dir": self.run_dir,
                "outcome": self.outcome, "reason": self.reason}


@dataclass(frozen=True)
class ItemStatus:
    """An item's state with what the list shows beside it."""

    state: ItemState
    epochs_done: int = 0
    epochs: int = 0
    best_top1: float | None = None
    reason: str = ""

    @property
    def text(self) -> str:
        """"running · epoch 2 of 5", "done · best top-1 97.1 %", "failed: loss became NaN …"."""
        state = self.state
        if state == ItemState.WAITING:
            return "waiting"
        if state == ItemState.RUNNING:
            return f"running · epoch {min(self.epochs_done + 1, self.epochs)} of {self.epochs}"
        if state == ItemState.DONE:
            best = "–" if self.best_top1 is None else f"{100 * self.best_top1:.1f} %"
            return f"done · best top-1 {best}"
        if state == ItemState.FAILED:
            return f"failed: {self.reason}" if self.reason else "failed"
        # Both resume where they were saved (the list's hint says so).
        where = f"after epoch {self.epochs_done}" if self.epochs_done else "in epoch 1"
        return f"{state.value} {where} of {self.epochs}"


@dataclass(frozen=True)
class Launch(FitPlan):
    """What to run next (a `FitPlan`): `item` in `run_dir` (a Path here), as a new run of its config
    or (`resume`) continued from its last.pt."""

    item: QueueItem = field(kw_only=True)

    @classmethod
    def of(cls, item: QueueItem, run_dir: Path, *, resume: bool) -> Launch:
        return cls(item.config, run_dir, resume, item=item)


def item_status(item: QueueItem) -> ItemStatus:
    """The item's state from its run folder (never from a stored "running")."""
    epochs = item.config.epochs
    if item.outcome == "failed":
        return ItemStatus(ItemState.FAILED, epochs=epochs, reason=item.reason)
    if item.run_dir is None:
        return ItemStatus(ItemState.WAITING, epochs=epochs)
    path = Path(item.run_dir)
    # A done item's queued training is over: its run folder trained on by hand later (Resume in
    # the Runs tab) is not the queue's item running again.
    if item.outcome != "done" and runs.run_in_use(path):
        done = _epochs_done(path)
        return ItemStatus(ItemState.RUNNING, epochs_done=done, epochs=epochs)
    if not (path / runs.CONFIG_FILE).is_file():
        if item.outcome == "done":
            return ItemStatus(ItemState.DONE, epochs, epochs)  # trained; its run folder was deleted since
        return ItemStatus(ItemState.WAITING, epochs=epochs)  # made, never written to: it starts there
    try:
        run = runs.open_run(path)
    except CnnStudioError as exc:
        return ItemStatus(ItemState.FAILED, epochs=epochs, reason=str(exc))
    finished = run.epochs_done >= epochs
    if item.outcome == "done" or run.status == "finished" or (finished and run.status in ("stopped", "interrupted")):
        return ItemStatus(ItemState.DONE, run.epochs_done, epochs, run.best_val_acc)
    if run.status == "stopped" and run.reason != STOPPED_BY_USER:
        # Ended early by its own schedule (the plateau's last LR drop): that is its end.
        return ItemStatus(ItemState.DONE, run.epochs_done, epochs, run.best_val_acc)
    if run.status == "failed":
        return ItemStatus(ItemState.FAILED, run.epochs_done, epochs, run.best_val_acc, reason=run.reason)
    if run.status == "stopped":
        return ItemStatus(ItemState.STOPPED, run.epochs_done, epochs, run.best_val_acc)
    return ItemStatus(ItemState.INTERRUPTED, run.epochs_done, epochs, run.best_val_acc)


def _epochs_done(path: Path) -> int:
    try:
        return runs.open_run(path).epochs_done
    except CnnStudioError:
        return 0


class TrainingQueue:
    """The queue in `folder/queue.json`: load or create it, change it (each change is saved), run it.

    `items` is a tuple in run order; items are addressed by `id`. `paused` means "start no
    next item"; the one running carries on (the runner decides about stopping it).
    """

    def __init__(self, folder: str | Path, items: Iterable[QueueItem] = (), *, paused: bool = False,
                 title: str = "", created: str | None = None) -> None:
        self.folder = Path(folder)
        self._items = list(items)
        self.paused = paused
        self.title = title
        self.created = created or datetime.now().isoformat(timespec="seconds")
        self._lock: runs.RunLock | None = None

    @property
    def path(self) -> Path:
        return self.folder / QUEUE_FILE

    @property
    def items(self) -> tuple[QueueItem, ...]:
        return tuple(self._items)

    # -- files ----------------------------------------------------------------------------------
    @classmethod
    def create(cls, folder: str | Path, *, title: str = "", labelled: Iterable[tuple[str, TrainConfig]] = ()) -> TrainingQueue:
        """A new queue in `folder` (made if missing), saved at once."""
        queue = cls(folder, title=title)
        for label, config in labelled:
            queue._items.append(queue._new_item(label, config))
        queue.save()
        return queue

    @classmethod
    def load(cls, where: str | Path) -> TrainingQueue:
        """The queue saved in `where` (its folder, or its queue.json); `QueueFileError` in one sentence
        when it is missing or damaged."""
        where = Path(where)
        path = where / QUEUE_FILE if where.is_dir() else where
        shown = readable(str(path))
        try:
            data = run_files.read_json_file(path, limit=_SIZE_LIMIT)
        except FileNotFoundError:
            raise QueueFileError(f"no queue at {shown} (a sweep's folder holds its {QUEUE_FILE})") from None
        except CheckpointError as exc:
            raise QueueFileError(f"the queue file {exc} — it cannot be resumed; start the sweep again") from None
        try:
            return cls._from_dict(path.parent, data)
        except (CnnStudioError, KeyError, TypeError, ValueError) as exc:
            what = f"a field is missing: {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            raise QueueFileError(f"the queue file {shown} is damaged ({what}) — it cannot be resumed; "
                                 "start the sweep again") from None

    @classmethod
    def _from_dict(cls, folder: Path, data: Any) -> TrainingQueue:
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError("it is not a cnnstudio queue")
        if data.get("version") != _VERSION:
            raise ValueError(f"version {data.get('version')!r}; this cnnstudio reads version {_VERSION}")
        items = []
        raw_items = data.get("items")
        if not isinstance(raw_items, list):  # missing, or 5: said in words, not as a KeyError or TypeError
            raise ValueError("it has no list of items" if raw_items is None else
                             f"its items are {type(raw_items).__name__}, not a list")
        for number, raw in enumerate(raw_items, 1):
            if not isinstance(raw, dict):
                raise ValueError(f"item {number} is not an object")
            outcome = raw.get("outcome")
            if outcome not in (None, "done", "failed"):
                raise ValueError(f"item {number} has the outcome {outcome!r}")
            run_dir = raw.get("run_dir")
            if isinstance(run_dir, str) and os.path.realpath(run_dir) == os.path.realpath(folder):
                raise ValueError(f"item {number}'s run folder is the queue's own folder")  # it would always look locked
            items.append(QueueItem(
                id=run_files.need_str(f"item {number} id", raw["id"], max_len=64),
                label=run_files.need_str(f"item {number} label", raw.get("label", ""), allow_empty=True),
                config=TrainConfig.from_dict(run_files.check_config(raw["config"])),
                run_dir=None if run_dir is None else run_files.need_str(f"item {number} run_dir", run_dir),
                outcome=outcome,
                reason=run_files.need_str(f"item {number} reason", raw.get("reason", ""), allow_empty=True),
            ))
        if len({item.id for item in items}) != len(items):
            raise ValueError("two items share an id")
        paused = data.get("paused", False)
        if not isinstance(paused, bool):  # "false", a string, would read as True
            raise ValueError(f"'paused' is {paused!r}, not true or false")
        return cls(folder, items, paused=paused, title=str(data.get("title", "")),
                   created=str(data.get("created", "")) or None)

    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "version": _VERSION, "title": self.title, "created": self.created,
                "paused": self.paused, "items": [item.to_dict() for item in self._items]}

    def save(self) -> None:
        """Write the queue atomically (a kill at any moment leaves the old file or the new one).

        Refused while another process runs the queue (it holds the folder's lock and would write
        its own copy over this one): what that runner records is never overwritten by a stale copy."""
        if self._lock is None and runs.run_in_use(self.folder):
            raise CnnStudioError(f"the queue {readable(str(self.folder))} is being run (by "
                                 f"{runs._lock_holder(self.folder / runs.LOCK_FILE)}) — change it when that ends")
        # Names that are not UTF-8 stay lossless as JSON's "\udcXX" escapes, as in run folders.
        payload = (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")
        atomic_write(self.path, lambda handle: handle.write(payload), size_estimate=len(payload))

    # -- one runner at a time -------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the queue folder's lock for running it; `CnnStudioError` naming the holder when another
        process runs it. Removes the temp files a killed save left."""
        if self._lock is not None:
            return
        try:
            self._lock = runs.RunLock.acquire(self.folder, wait_s=0.1)
        except runs.RunInUseError as exc:
            holder = str(exc).partition("(by ")[2].partition(")")[0] or "another process"
            raise CnnStudioError(f"the queue {readable(str(self.folder))} is being run (by {holder}) — wait for "
                                 "it, or stop it first") from None
        for leftover in self.folder.glob(f".{QUEUE_FILE}.*.tmp"):
            try:
                if leftover.is_file() and not leftover.is_symlink():  # a killed save's temp, nothing else
                    leftover.unlink()
            except OSError:
                pass

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    @property
    def held(self) -> bool:
        """Whether this object holds the queue folder's lock (it is the queue's runner)."""
        return self._lock is not None

    def reload(self) -> None:
        """Read the saved file again (another runner may have changed it while this one did not hold
        the lock); `QueueFileError` when it became unreadable. Nothing when there is no file yet."""
        if not self.path.exists():
            return
        fresh = TrainingQueue.load(self.folder)
        self._items, self.paused, self.title, self.created = fresh._items, fresh.paused, fresh.title, fresh.created

    # -- changes (each saved at once) -----------------------------------------------------------
    def _new_item(self, label: str, config: TrainConfig) -> QueueItem:
        config.validate()  # refused now, in words, not when its turn comes
        taken = {item.id for item in self._items}
        while (item_id := secrets.token_hex(4)) in taken:
            pass
        return QueueItem(id=item_id, label=label or _default_label(config), config=config)

    def add(self, config: TrainConfig, label: str = "") -> QueueItem:
        """Queue `config` at the end (validated first)."""
        return self.extend([(label, config)])[0]

    def extend(self, labelled: Iterable[tuple[str, TrainConfig]]) -> list[QueueItem]:
        """Queue several configs at the end, in order (all validated before any is added)."""
        new: list[QueueItem] = []
        for label, config in labelled:
            new.append(self._new_item(label, config))
            self._items.append(new[-1])
        try:
            self.save()
        except CnnStudioError:
            del self._items[len(self._items) - len(new):]
            raise
        return new

    def item(self, item_id: str) -> QueueItem:
        for item in self._items:
            if item.id == item_id:
                return item
        raise CnnStudioError(f"the queue has no item {item_id!r} (it was removed)")

    def index(self, item_id: str) -> int:
        return self._items.index(self.item(item_id))

    def remove(self, item_id: str) -> QueueItem:
        """Take an item out of the queue (its run folder, if any, stays a normal run); refused while it trains."""
        item = self.item(item_id)
        if item_status(item).state == ItemState.RUNNING:
            raise CnnStudioError(f"{item.label} is training; stop it before removing it from the queue")
        self._items.remove(item)
        self.save()
        return item

    def move(self, item_id: str, offset: int) -> int:
        """Move an item `offset` places (negative: earlier); returns its new index."""
        index = self.index(item_id)
        target = max(0, min(len(self._items) - 1, index + offset))
        if target != index:
            self._items.insert(target, self._items.pop(index))
            self.save()
        return target

    def set_paused(self, paused: bool) -> None:
        """Pause (start no next item) or resume the queue."""
        if paused != self.paused:
            self.paused = paused
            self.save()

    def _replace(self, item_id: str, **changes: Any) -> QueueItem:
        index = self.index(item_id)
        self._items[index] = replace(self._items[index], **changes)
        self.save()
        return self._items[index]

    def mark_done(self, item_id: str) -> QueueItem:
        return self._replace(item_id, outcome="done", reason="")

    def mark_failed(self, item_id: str, reason: str) -> QueueItem:
        return self._replace(item_id, outcome="failed", reason=reason[: run_files.MAX_TEXT])

    def retry(self, item_id: str) -> QueueItem:
        """Make a failed item run again (in a new run folder)."""
        return self._replace(item_id, outcome=None, reason="", run_dir=None)

    # -- running --------------------------------------------------------------------------------
    def status(self, item_id: str) -> ItemStatus:
        return item_status(self.item(item_id))

    def next_item(self) -> QueueItem | None:
        """The first item still to train (waiting, or half done), or None; None too while paused."""
        if self.paused:
            return None
        return next((item for item in self._items if item_status(item).state in _RUNNABLE), None)

    def remaining(self) -> int:
        """How many items are still to train (waiting or half done)."""
        return sum(item_status(item).state in _RUNNABLE for item in self._items)

    def prepare(self, item: QueueItem, runs_root: str | Path | None = None) -> Launch:
        """Where `item` trains now, recorded before it starts: a new run folder (made in `runs_root`,
        default the runs directory), or its own folder — resumed from last.pt when it has one,
        started afresh when it was killed before its first checkpoint.

        queue.json is untrusted: a folder is only cleared for a fresh start when it is provably
        the one this queue made for the item (`run_dirs.restart_refusal`: its marker names the
        item, it lies in the runs folder, it holds no result). Otherwise nothing is touched: the
        item is marked failed with the reason and `ItemRefused` says it in one line.
        """
        item = self.item(item.id)
        if item.run_dir is not None:
            path = Path(item.run_dir)
            from cnnstudio.training.store import new_run as run_dirs

            if (path / runs.CONFIG_FILE).is_file() and (path / runs.LAST_CHECKPOINT).is_file():
                if run_dirs.made_for_another(path, _owner(item)) or not _same_training(path, item.config):
                    # Another run, named by a hand-edited queue.json (an older run has no marker to tell,
                    # so its settings must be the item's): it is neither trained further nor reported.
                    reason = (f"{readable(str(path))} is another run's folder, not the one this queue made for the "
                              "item; it is not trained further — retry the item to train it in a new folder")
                    self.mark_failed(item.id, reason)
                    raise ItemRefused(reason)
                return Launch.of(item, path, resume=True)
            if path.is_dir() or path.is_symlink():
                root = Path(runs_root) if runs_root is not None else runs.default_runs_dir()
                refusal = run_dirs.restart_refusal(path, root=root, owner=_owner(item))
                if refusal is not None:
                    reason = f"{refusal} — retry the item to train it again in a new folder"
                    self.mark_failed(item.id, reason)
                    raise ItemRefused(reason)
                # Killed before its first checkpoint: nothing to resume, so its files go and it starts there
                # (under the run's lock: no writer of it may be starting meanwhile).
                with runs.RunLock.acquire(path):
                    run_dirs.discard_new_run_dir(path, made=False, keep_marker=True)
                return Launch.of(item, path, resume=False)
        config = item.config
        path = runs.new_run_dir(runs_root, arch=config.arch, dataset=config.dataset, options=config.arch_options,
                                owner=_owner(item))
        item = self._replace(item.id, run_dir=str(path), outcome=None, reason="")
        return Launch.of(item, path, resume=False)

    def run_infos(self) -> list[runs.RunInfo]:
        """The readable run folders of the items, in queue order (for the comparison table)."""
        out = []
        for item in self._items:
            if item.run_dir is not None and (Path(item.run_dir) / runs.CONFIG_FILE).is_file():
                try:
                    out.append(runs.open_run(item.run_dir))
                except CnnStudioError:
                    pass
        return out

    def baseline_dir(self) -> Path | None:
        """The run folder of the item labelled "baseline" (what the table's Δ compares with)."""
        from cnnstudio.training.experiments.sweep import BASELINE

        return next((Path(item.run_dir) for item in self._items if item.label == BASELINE and item.run_dir), None)

    def comparison(self, sort_key: str = "best_top1") -> list[Any]:
        """The items' runs as `compare.ComparisonRow`s, best first, with Δ top-1 against the baseline
        (each row's `distinct` says what sets it apart from the baseline: "activation=leaky_relu")."""
        from cnnstudio.training.experiments.compare import comparison_rows, sort_rows

        return sort_rows(comparison_rows(self.run_infos(), baseline=self.baseline_dir()), sort_key)


# The training settings a queued run's default label names when they differ from where the
# form starts (`default_config`): what a person changes between two runs of one variant. Not the
# epochs (the state column says "epoch 1 of 3") nor the input size (the form writes the rule's).
_LABEL_SETTINGS = ("lr", "batch_size", "optimizer", "schedule", "weight_decay", "momentum", "augment",
                   "init", "seed", "pretrained", "finetune")


def _default_label(config: TrainConfig) -> str:
    """`lenet5-relu on mnist-sample`, plus what differs from the arch's starting recipe: `· lr 0.1, batch 32`."""
    from cnnstudio.training.config import default_config
    from cnnstudio.training.store.naming import variant_name

    start = default_config(config.arch)
    changes = []
    for name in _LABEL_SETTINGS:
        value = getattr(config, name)
        if value == getattr(start, name):
            continue
        if isinstance(value, (tuple, list)):
            value = "+".join(value) or "none"
        elif isinstance(value, float):
            value = f"{value:g}"
        changes.append(f"{name.replace('batch_size', 'batch').replace('_', ' ')} {value}")
    label = f"{variant_name(config.arch, config.arch_options)} on {slug(config.dataset)}"
    return f"{label} · {', '.join(changes)}" if changes else label


def new_sweep_dir(runs_root: str | Path | None, *, arch: str, dataset: str) -> Path:
    """A new folder for a sweep's queue: `<runs root>/<when>_sweep-<arch>_<dataset>` (`_2`… on a clash)."""
    from cnnstudio.training.store.new_run import ensure_runs_root

    root = Path(runs_root) if runs_root is not None else runs.default_runs_dir()
    ensure_runs_root(root)
    return runs.new_folder(root, f"{datetime.now():%Y-%m-%d_%H-%M-%S}_sweep-{slug(arch)}_{slug(dataset)}",
                           what="sweep folder")


def window_queue_dir(runs_root: str | Path | None = None) -> Path:
    """The window's own queue folder: `queue` in the runs root (no run files: not listed as a run)."""
    root = Path(runs_root) if runs_root is not None else runs.default_runs_dir()
    return root / "queue"


# What a queue item's run must share with the item to be its run (the rest the trainer resolves).
_SAME_TRAINING = ("arch", "dataset", "seed", "optimizer", "lr", "schedule", "val_fraction", "batch_size")


def _same_training(path: Path, config: TrainConfig) -> bool:
    """Whether the run in `path` trains what `config` asks (its own config.json, read as untrusted)."""
    try:
        saved = runs.open_run(path).config
    except CnnStudioError:
        return False
    return all(getattr(saved, key) == getattr(config, key) for key in _SAME_TRAINING)
