"""The one shape of a long call's progress and cancel callbacks, shared by engine and faces.

A long call (a download, a folder scan, an export, an evaluation, an LR range test) takes
``progress(done, total, message)``: ``done`` of ``total`` units so far and a short line saying
what it is doing; and ``cancel() -> bool``, asked between units: True makes the call raise
``errors.Cancelled``. Torch-free and Qt-free: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["CancelFn", "ProgressFn"]

ProgressFn = Callable[[int, int, str], None]
CancelFn = Callable[[], bool]
