"""Errors a user can act on.

Every failure the user can cause or fix (a bad name, a too-small input, an unreadable
image, a missing download, a broken checkpoint) is a `CnnStudioError` whose `str()` is
one line saying what is wrong and what to do. The command line prints it and exits 2;
the app shows it in a message. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "CnnStudioError",
    "UnknownNameError",
    "InputTooSmallError",
    "ImageError",
    "DatasetError",
    "DownloadError",
    "Cancelled",
    "CheckpointError",
    "TrainingError",
    "describe",
    "did_you_mean",
    "ExportError",
]


class CnnStudioError(Exception):
    """Base class: a failure with a message meant for the user."""


class UnknownNameError(CnnStudioError, ValueError):
    """An architecture, dataset, option or run name that does not exist."""


class InputTooSmallError(CnnStudioError, ValueError):
    """The input image is smaller than the architecture's design allows."""

    @classmethod
    def for_size(cls, arch: str, minimum: int, height: int, width: int | None = None) -> InputTooSmallError:
        """The one wording of this refusal: "vgg16 needs inputs of at least 32×32 pixels; got 16×16"."""
        width = height if width is None else width
        return cls(f"{arch} needs inputs of at least {minimum}×{minimum} pixels; got {height}×{width}")


class ImageError(CnnStudioError):
    """An image file that cannot be used; names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DatasetError(CnnStudioError):
    """A dataset that cannot be loaded (bad folder, missing files, ...)."""


class DownloadError(DatasetError):
    """A download that failed; `folder` is where the files can be put by hand."""

    def __init__(self, message: str, folder: str | Path | None = None) -> None:
        self.folder = str(folder) if folder is not None else None
        super().__init__(message)


class Cancelled(DatasetError):
    """The user cancelled a download or a folder scan: not a failure to report."""


class CheckpointError(CnnStudioError):
    """A checkpoint that cannot be written or read."""


class TrainingError(CnnStudioError):
    """Training cannot go on (a NaN loss, an unrecoverable device error, ...)."""


def describe(exc: BaseException, *, doing: str | None = None) -> str:
    """The one way a failure becomes a line for people (the window, the run's status).

    A `CnnStudioError` already is one; memory running out says what to lower; anything else
    is a bug, named by its type and first line. `doing` ("Training", "Kernels") says what
    failed, for a message shown away from where it happened.
    """
    if isinstance(exc, CnnStudioError):
        text = str(exc)
    elif isinstance(exc, MemoryError):
        text = "out of memory: try a smaller batch size or input size"
    else:
        lines = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return f"{doing} failed: {text}" if doing else text


# How close a mistyped name must come to a valid one to be suggested: 0.75 offers vgg16 for
# "vgg17" and googlenet for "googlnet", but not alexnet for "resnet" (difflib's default 0.6 did).
CLOSE_ENOUGH = 0.75


def did_you_mean(name: object, valid: Iterable[str]) -> str:
    """The hint " (did you mean X?)" for the valid name closest to `name`, or "" when none is close."""
    close = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=CLOSE_ENOUGH)
    return f" (did you mean {close[0]}?)" if close else ""


class ExportError(CnnStudioError):
    """An export that cannot be made, or whose file does not give the model's outputs."""
