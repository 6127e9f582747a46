"""The window's training queue: trainings that run one after another, and the list that shows them.

`QueueRunner` is the queue's listener on the `TrainingSession`: when a fit it started has
really ended (`finished` comes after the thread stopped, so the next fit may start there),
it reports how it ended to the engine's `experiments.queue_policy.QueuePolicy` (the policy
the command line's sweep follows too), which records it in the saved `TrainingQueue` and
names the next launch; the runner starts it with `session.start(config, run_dir=…)`, or
`session.resume(run_dir)` for a half-done one. A user's Stop of a queued run pauses the queue (the run stays resumable; Run queue goes on
with it); a failed run is marked failed with its reason and the next one starts. The queue
lives in the runs root's `queue/` folder and is loaded paused: after a crash nothing trains
until the user presses Run queue, and the interrupted run then resumes where it was saved.

`QueuePanel` is the compact list under the setup form (so it stays in view beside the
Training tab's curves): each item's label and state (waiting, running with its epoch, done
with its best top-1, failed with the reason, stopped or interrupted), with Run / Pause
queue, move up / down and remove. Item states are read from the run folders (small JSON
files) when something changes, never on a timer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.errors import Cancelled, CnnStudioError, describe
from cnnstudio.gui.training.session import TrainingSession
from cnnstudio.gui.state import StudioState
from cnnstudio.gui.style import icon
from cnnstudio.gui.text import plain, tooltip
from cnnstudio.gui.widgets.table_models import Column, RecordTableModel
from cnnstudio.training.config import TrainConfig
from cnnstudio.training.experiments.queue import ItemState, ItemStatus, QueueFileError, QueueItem, TrainingQueue, item_status
from cnnstudio.training.experiments.queue_policy import QueuePolicy

__all__ = ["QueuePanel", "QueueRow", "QueueRunner", "load_window_queue"]

EMPTY_HINT = ("Nothing queued. 'Add to queue' puts the form's training here; 'Tricks study' adds the "
              "notes' eight runs of the tricks CNN. Queued runs train one after another.")


def load_window_queue(folder: str | Path) -> tuple[TrainingQueue, str]:
    """The window's saved queue, paused (nothing trains on launch without asking), and a problem
    to tell the user ("" if none): a damaged file is set aside and an empty queue starts."""
    folder = Path(folder)
    if not (folder / "queue.json").exists():  # written when something is first queued, not at every launch
        return TrainingQueue(folder, paused=True, title="window queue"), ""
    try:
        queue = TrainingQueue.load(folder)
        problem = ""
    except QueueFileError as exc:
        aside = folder / "queue.json.damaged"
        try:
            (folder / "queue.json").replace(aside)
            queue = TrainingQueue.create(folder, title="window queue")
            problem = f"{exc} It was set aside as {aside}."
        except (OSError, CnnStudioError):
            queue = TrainingQueue(folder, title="window queue")  # in memory only: the damaged file stays
            problem = f"{exc} New queued runs are not saved."
    except CnnStudioError as exc:  # an unwritable runs folder: the queue lives in memory only
        queue = TrainingQueue(folder, title="window queue")
        problem = f"The queue cannot be saved: {exc}"
    if not queue.paused:  # it was running when the app ended (a crash), or it is new
        try:
            queue.set_paused(True)
        except CnnStudioError:
            queue.paused = True
    return queue, problem


class QueueRunner(QObject):
    """Starts the queue's items on the session one after another (see the module docstring)."""

    changed = Signal()  # the items, their order or their states changed
    message = Signal(str)  # something to tell the user (the status bar)

    def __init__(self, session: TrainingSession, queue: TrainingQueue, *, runs_root: str | Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.queue = queue
        self.runs_root = runs_root
        self.policy = QueuePolicy(queue, runs_root=runs_root)  # what goes next, and how an end is recorded
        self._failure = ""  # the session's words for the current item's failure
        session.finished.connect(self._on_finished)
        session.failed.connect(self._on_failed)
        session.started.connect(lambda _info: self.changed.emit())
        session.epoch_finished.connect(lambda _stats: self.changed.emit())

    @property
    def current(self) -> str | None:
        """The id of the item training now, or None."""
        return self.policy.current

    @property
    def running(self) -> bool:
        """Whether the queue goes on by itself (not paused)."""
        return not self.queue.paused

    # -- changes --------------------------------------------------------------------------------
    def add(self, labelled: list[tuple[str, TrainConfig]]) -> list[QueueItem]:
        """Queue `labelled` configs at the end (validated: a bad one raises `CnnStudioError`, none is added)."""
        items = self.queue.extend(labelled)
        self.changed.emit()
        return items

    def remove(self, item_id: str) -> None:
        if item_id == self.current:
            raise CnnStudioError("that run is training; stop it before removing it from the queue")
        self.queue.remove(item_id)
        self.changed.emit()

    def move(self, item_id: str, offset: int) -> None:
        self.queue.move(item_id, offset)
        self.changed.emit()

    def status(self, item: QueueItem) -> ItemStatus:
        """The item's state; the item the session is still preparing shows as running."""
        status = item_status(item)
        if item.id == self.current and status.state == ItemState.WAITING:
            return ItemStatus(ItemState.RUNNING, epochs=item.config.epochs)
        return status

    # -- running --------------------------------------------------------------------------------
    def run(self) -> None:
        """Go on with the queue: the half-done item first, then the waiting ones."""
        if not self._hold():
            return
        self.queue.set_paused(False)
        self.changed.emit()
        self._start_next()

    def pause(self) -> None:
        """Start no next item; the one training carries on (Stop stops it)."""
        self.queue.set_paused(True)
        self.changed.emit()
        if self.current is not None:
            self.message.emit("Queue paused: the current training finishes, then the queue waits")
        self._release_if_idle()

    def _hold(self) -> bool:
        """Take the queue folder's lock — the one `sweep --resume` takes, so the two never run one
        queue at once — and read the file again, with what another runner did meanwhile. False
        (the queue stays paused, the user is told) when another process runs it."""
        if self.queue.held:
            return True
        try:
            self.queue.acquire()
        except CnnStudioError as exc:
            self.queue.paused = True
            self.changed.emit()
            self.message.emit(f"Queue not started: {exc}")
            return False
        try:
            self.queue.reload()
        except QueueFileError:
            pass  # damaged since: this window's copy is the one that runs (and is saved over it)
        self.changed.emit()
        return True

    def _release_if_idle(self) -> None:
        """Let another runner in once nothing trains for the queue and it starts nothing more."""
        if self.current is None and self.queue.paused:
            self.queue.release()

    def _start_next(self) -> None:
        if self.queue.paused or self.session.active or self.current is not None:
            return
        if not self._hold():
            return
        launch = self.policy.next_launch(refused=lambda _item, _reason: self.changed.emit())
        if launch is None:  # it was running: nothing is left (the policy paused it)
            self.changed.emit()
            self.message.emit("Queue finished: every queued training has run")
            self._release_if_idle()
            return
        item, self._failure = launch.item, ""
        self.changed.emit()
        if launch.resume:
            started = self.session.resume(launch.run_dir, more_epochs=item.config.epochs, label=item.label)
        else:
            started = self.session.start(item.config, run_dir=launch.run_dir, label=item.label)
        if not started:
            if self._failure:  # refused in words (the session showed them): the queue goes on
                self.policy.ended(failure=self._failure)
                self.changed.emit()
                QTimer.singleShot(0, self._start_next)  # not from inside the failing call
            else:  # PyTorch still loading: try again when asked
                self.policy.not_started()
                self.changed.emit()
                self._release_if_idle()

    @Slot(str, bool)
    def _on_failed(self, text: str, _retryable: bool) -> None:
        if self.current is not None:
            self._failure = text

    @Slot(object, object)
    def _on_finished(self, result: object, error: object) -> None:
        item_id = self.current
        if item_id is None:  # a training started by hand: the queue, if running, goes on after it
            self.changed.emit()  # an item whose run folder it trained shows its own state again
            self._start_next()
            return
        label = next((item.label for item in self.queue.items if item.id == item_id), "")
        was_paused = self.queue.paused
        state = self.policy.ended(failure=None if error is None else self._failure or describe(error))
        if state is None:
            return  # removed meanwhile
        if error is not None:
            self.message.emit(f"Queue: {label} failed; going on with the next run")
        elif state != ItemState.DONE and not was_paused:
            self.message.emit(f"Queue paused: {label} was stopped; Run queue resumes it where it stopped")
        self.changed.emit()
        self._start_next()
        self._release_if_idle()


@dataclass(frozen=True)
class QueueRow:
    """One line of the list: the item, its place, and its state."""

    number: int
    item: QueueItem
    status: ItemStatus


def _settings_text(item: QueueItem) -> str:
    from cnnstudio.training.store.naming import variant_name

    config = item.config
    lines = [item.label, f"{variant_name(config.arch, config.arch_options)} on {config.dataset}",
             f"{config.epochs} epochs, batch {config.batch_size}, {config.optimizer} lr {config.lr:g}"]
    if item.run_dir:
        lines.append(f"run folder: {item.run_dir}")
    return "\n".join(lines)


_COLUMNS = [
    Column("#", lambda r: str(r.number), numeric=True),
    Column("Run", lambda r: r.item.label, tooltip=lambda r: _settings_text(r.item)),
    Column("State", lambda r: r.status.text, tooltip=lambda r: r.status.text),
]


class QueuePanel(QWidget):
    """The queue's list and buttons (see the module docstring); `runner` does the work."""

    def __init__(self, state: StudioState, session: TrainingSession, runner: QueueRunner | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("queuePanel")
        self._state = state
        self._session = session
        self.hint_extra = ""  # said under the list after its state (the tricks study's time in all)
        self.study_estimate = ""
        self._estimate_job: Any = None
        if runner is None:
            from cnnstudio.training.experiments.queue import window_queue_dir

            queue, problem = load_window_queue(window_queue_dir())
            runner = QueueRunner(session, queue, parent=self)
            if problem:
                QTimer.singleShot(0, lambda: state.report("warning", problem))
        self.runner = runner

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 8)
        layout.setSpacing(4)
        self.title = plain(QLabel())
        self.title.setObjectName("queueTitle")
        layout.addWidget(self.title)
        self.hint = plain(QLabel())
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        self.model = RecordTableModel(_COLUMNS, self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setVisible(False)
        self.view.setWordWrap(False)
        # Compact rows: the list shares the column with the form.
        self.view.verticalHeader().setDefaultSectionSize(self.view.fontMetrics().height() + 6)
        self.view.setMinimumHeight(4 * (self.view.fontMetrics().height() + 6))
        # The state is what one watches: always whole; the run's name gives way (elided in the
        # end, whole in its tooltip) rather than a sideways scroll bar.
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        layout.addWidget(self.view, 1)

        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        self.run_button = QPushButton(icon("start"), "Run queue")
        self.up_button = QPushButton("Up")
        self.up_button.setToolTip("Move the selected run earlier in the queue")
        self.down_button = QPushButton("Down")
        self.down_button.setToolTip("Move the selected run later in the queue")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Take the selected run out of the queue (a started run's folder stays "
                                      "in the Runs tab)")
        for button in (self.run_button, self.up_button, self.down_button, self.remove_button):
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            buttons.addWidget(button)
        layout.addLayout(buttons)

        self.run_button.clicked.connect(self.toggle_run)
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button.clicked.connect(lambda: self._move(+1))
        self.remove_button.clicked.connect(self.remove_selected)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        runner.changed.connect(self.refresh)
        runner.message.connect(lambda text: state.report("info", text))
        session.state_changed.connect(lambda _s: self._update_buttons())
        state.engine_ready.connect(self._update_buttons)
        self.refresh()

    # -- what the user does ---------------------------------------------------------------------
    def add_config(self, config: TrainConfig) -> None:
        """Queue the form's training (Add to queue)."""
        self._add([("", config)])

    def add_study(self, config: TrainConfig, *, width: float | None = None) -> None:
        """Queue the tricks study on the form's dataset and budget (Tricks study), at `width`
        (the tricks CNN's channel multiplier; None: the form's, else the notes' 1)."""
        from cnnstudio.training.experiments.sweep import tricks_study

        try:
            labelled = tricks_study(config, width=width)
        except CnnStudioError as exc:
            self._state.report("error", str(exc))
            return
        if self._add(labelled):
            self._estimate_study([c for _label, c in labelled])

    def _estimate_study(self, configs: list[TrainConfig]) -> None:
        """Say how long the study's runs take in all (a few measured steps of each, in the background)."""
        from cnnstudio.training.fit.estimate import estimate_plan

        self.study_estimate = ""
        # Measured while a fit runs, the figure would be wrong: the engine waits for the fit to end
        # (`training.fit.rng`), and the hint says so instead of "estimating" all that time.
        self.hint_extra = (f"Tricks study: the time of its {len(configs)} runs is measured once the training "
                           "now running ends" if self._session.active
                           else f"Tricks study: estimating the time of its {len(configs)} runs…")
        self._refresh_hint()

        def done(plan: Any) -> None:
            self.study_estimate = f"Tricks study: {plan.sentence}"
            self.hint_extra = self.study_estimate
            self._refresh_hint()
            self._state.report("info", self.study_estimate)

        def failed(exc: BaseException) -> None:
            self.hint_extra = f"Tricks study: no time estimate ({describe(exc)})"
            self._refresh_hint()

        def failed_or_cancelled(exc: BaseException) -> None:
            if isinstance(exc, Cancelled):
                self.hint_extra = ""
                self._refresh_hint()
            else:
                failed(exc)

        self._estimate_job = self._state.run_in_background(
            lambda progress, cancel: estimate_plan(configs, download=False, progress=progress, cancel=cancel),
            on_done=done, on_error=failed_or_cancelled, key=f"study-estimate-{id(self)}",
            on_progress=lambda d, t: None)

    def cancel_estimate(self) -> None:
        """Stop measuring the study's time (a fit starts, or the window closes)."""
        if self._estimate_job is not None:
            self._estimate_job.cancel()
            self._estimate_job = None

    def _add(self, labelled: list[tuple[str, TrainConfig]]) -> bool:
        try:
            items = self.runner.add(labelled)
        except CnnStudioError as exc:
            self._state.report("error", f"Not queued: {exc}")
            return False
        what = items[0].label if len(items) == 1 else f"{len(items)} runs"
        hint = "" if self.runner.running else " — press Run queue to train"
        self._state.report("info", f"Queued {what}{hint}")
        return True

    def toggle_run(self) -> None:
        """Run the queue, or pause it (the training now running carries on)."""
        if self.runner.running:
            self.runner.pause()
        else:
            self.cancel_estimate()  # measured while a fit runs, it would be wrong and slow the fit
            self.runner.run()

    def remove_selected(self) -> None:
        item = self.selected_item()
        if item is None:
            return
        try:
            self.runner.remove(item.id)
        except CnnStudioError as exc:
            self._state.report("warning", str(exc))

    def _move(self, offset: int) -> None:
        item = self.selected_item()
        if item is not None:
            try:
                self.runner.move(item.id, offset)
            except CnnStudioError as exc:  # another process runs the queue, or the disk is full
                self._state.report("warning", str(exc))
                return
            self._select(item.id)

    def selected_item(self) -> QueueItem | None:
        rows = self.view.selectionModel().selectedRows()
        return self.model.record(rows[0].row()).item if rows else None

    def _select(self, item_id: str) -> None:
        for row, record in enumerate(self.model.records):
            if record.item.id == item_id:
                self.view.selectRow(row)
                return

    # -- what it shows --------------------------------------------------------------------------
    @Slot()
    def refresh(self) -> None:
        """Read the items' states again and redraw (keeping the selection)."""
        selected = self.selected_item()
        runner = self.runner
        rows = [QueueRow(number, item, runner.status(item)) for number, item in enumerate(runner.queue.items, 1)]
        self.model.set_records(rows)
        if selected is not None:
            self._select(selected.id)
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.status.state.value] = counts.get(row.status.state.value, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in counts.items())
        self.title.setText(f"Queue — {summary}" if rows else "Queue")
        half_done = [r for r in rows if r.status.state in (ItemState.STOPPED, ItemState.INTERRUPTED)]
        if not rows:
            self.hint.setText(EMPTY_HINT)
        elif runner.running:
            self.hint.setText("Running one after another. Pause queue waits after this run; Stop pauses it too.")
        elif half_done:
            self.hint.setText(f"Paused — Run queue continues; {half_done[0].item.label} resumes where it was saved.")
        elif runner.queue.remaining():
            begun = any(r.item.run_dir for r in rows)
            self.hint.setText(("Paused — press Run queue" if begun else "Ready — press Run queue")
                              + " to train the waiting runs one after another.")
        else:
            self.hint.setText("Every queued run has ended; the Runs tab compares them.")
        if self.hint_extra and runner.queue.remaining():
            self.hint.setText(f"{self.hint.text()} {self.hint_extra}")
        self._update_buttons()

    def _refresh_hint(self) -> None:
        self.refresh()

    def _update_buttons(self) -> None:
        runner = self.runner
        running = runner.running
        self.run_button.setText("Pause queue" if running else "Run queue")
        self.run_button.setIcon(icon("pause" if running else "start"))
        self.run_button.setToolTip("Start no next run; the current one carries on" if running
                                   else "Train the queued runs one after another (a half-done one resumes first)")
        self.run_button.setEnabled(running or (bool(runner.queue.remaining()) and self._state.torch_ready))
        item = self.selected_item()
        index = runner.queue.index(item.id) if item is not None else -1
        self.up_button.setEnabled(index > 0)
        self.down_button.setEnabled(0 <= index < len(runner.queue.items) - 1)
        self.remove_button.setEnabled(item is not None and item.id != runner.current)
        if item is not None:
            self.remove_button.setToolTip(tooltip(f"Take {item.label} out of the queue (a started run's folder "
                                                  "stays in the Runs tab)"))
