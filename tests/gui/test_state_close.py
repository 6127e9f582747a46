"""Closing the window's state: nothing new starts, long jobs are cancelled, no answer reaches a closing window."""

from __future__ import annotations

import threading

from cnnstudio.errors import Cancelled


def test_close_cancels_long_jobs_drops_answers_and_starts_nothing_new(qtbot, state) -> None:
    started, release = threading.Event(), threading.Event()
    answers: list[object] = []

    def long_job(*, progress, cancel):
        started.set()
        while not cancel():
            release.wait(0.01)
        raise Cancelled("stopped")

    def short_job():
        release.wait(10)
        return "late"

    ran_after_close: list[bool] = []
    job = state.run_in_background(long_job, on_done=answers.append, on_error=answers.append,
                                  on_progress=lambda *_: None)
    state.run_in_background(short_job, on_done=answers.append, on_error=answers.append)
    assert started.wait(10)
    release.set()
    assert state.close(10_000)  # both ended in time: the long one because it was cancelled
    assert job.cancelled and state.closed
    qtbot.wait(50)
    assert state.wait_for_background(deliver=True)
    assert answers == []  # neither answer reached the (closing) window
    late = state.run_in_background(lambda **_: ran_after_close.append(True), on_done=answers.append,
                                   on_progress=lambda *_: None)
    assert late is not None and late.cancelled  # refused at once, its handle already cancelled
    assert state.run_in_background(lambda: ran_after_close.append(True), on_done=answers.append) is None
    assert state.wait_for_background(deliver=True)
    assert ran_after_close == [] and answers == []
