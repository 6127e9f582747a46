"""How a queue of trainings goes on, in one place: `QueuePolicy`, which both faces drive.

Given a `TrainingQueue`, it decides what to launch next and records how each launch ended:

- the next launch is the first item still to train — a half-done one (stopped, or interrupted
  by a dying process) resumes first where it was saved, then the waiting ones in order;
- an item that cannot start (its folder is not this queue's to clear, a run folder that cannot
  be made) is marked failed with the reason, and the next one is tried;
- a fit that failed is marked failed with its reason, and the queue goes on;
- a fit that ended with its run done (finished, or ended by its own schedule) is marked done;
- a fit that ended without its run being done (the user's Stop, or a stop before the data
  loaded) pauses the queue: the run stays resumable and is the next launch when it goes on;
- when nothing is left, the queue pauses itself (finished).

The policy only decides and records; the faces start the fits and report back: the command
line's `sweep` synchronously (`cli._run_queue`), the window through its `TrainingSession`'s
signals (`gui.queue_panel.QueueRunner`). Whether the run is done is read from its folder
(`queue.item_status`), never from what a face says. Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cnnstudio.errors import CnnStudioError
from cnnstudio.training.experiments.queue import ItemState, Launch, QueueItem, TrainingQueue, item_status

__all__ = ["QueuePolicy"]


class QueuePolicy:
    """Decides the queue's next launch and records each outcome (see the module docstring)."""

    def __init__(self, queue: TrainingQueue, *, runs_root: str | Path | None = None) -> None:
        self.queue = queue
        self.runs_root = runs_root  # where new run folders are made (None: the runs directory)
        self._current: QueueItem | None = None

    @property
    def current(self) -> str | None:
        """The id of the item launched and not yet ended, or None."""
        return self._current.id if self._current is not None else None

    @property
    def running(self) -> bool:
        """Whether the queue goes on by itself (not paused)."""
        return not self.queue.paused

    def next_launch(self, *, refused: Callable[[QueueItem, str], None] | None = None) -> Launch | None:
        """The next fit to run, recorded in the queue before it starts (its run folder); None while
        paused, while a launch has not ended, or when nothing is left (then the queue is paused).

        An item that cannot start is marked failed and `refused(item, reason)` told; the next is tried."""
        if self.queue.paused or self._current is not None:
            return None
        while (item := self.queue.next_item()) is not None:
            try:
                launch = self.queue.prepare(item, self.runs_root)
            except CnnStudioError as exc:
                reason = str(exc)
                if self.queue.item(item.id).outcome != "failed":  # ItemRefused marked it already
                    self.queue.mark_failed(item.id, reason)
                if refused is not None:
                    refused(item, reason)
                continue
            self._current = launch.item
            return launch
        self.queue.set_paused(True)  # finished: nothing is left to train
        return None

    def ended(self, *, failure: str | None = None) -> ItemState | None:
        """Record how the current launch ended: `failure` (its reason, in words) marks it failed; else
        its run folder says whether it is done, and a run not done (stopped) pauses the queue.

        Returns the item's state as recorded (DONE, FAILED, or the half-done STOPPED / INTERRUPTED /
        WAITING that paused the queue); None when no launch was running or its item was removed."""
        current, self._current = self._current, None
        if current is None:
            return None
        try:
            item = self.queue.item(current.id)
        except CnnStudioError:
            return None  # removed meanwhile
        if failure is not None:
            self.queue.mark_failed(item.id, failure)
            return ItemState.FAILED
        state = item_status(item).state
        if state == ItemState.DONE:
            self.queue.mark_done(item.id)
        else:
            # Stopped by the user (or before the data had loaded): not a reason to go on as if nothing happened.
            self.queue.set_paused(True)
        return state

    def not_started(self) -> None:
        """The face could not start the current launch for a passing reason (PyTorch still loading):
        nothing is recorded against the item; the queue pauses until it is asked to go on."""
        self._current = None
        self.queue.set_paused(True)
