"""Errors a user can act on.

Every failure the user can cause or fix (a bad name, a too-small input, an unreadable
image, a missing download, a broken checkpoint) is a `CnnStudioError` whose `str()` is
one line saying what is wrong and what to do. The command line prints it and exits 2;
the app shows it in a message. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

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
    "ExportError",
]


class CnnStudioError(Exception):
    """Base class: a failure with a message meant for the user."""


class UnknownNameError(CnnStudioError, ValueError):
    """An architecture, dataset, option or run name that does not exist."""


class InputTooSmallError(CnnStudioError, ValueError):
    """The input image is smaller than the architecture's design allows."""


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


class ExportError(CnnStudioError):
    """An export that cannot be made, or whose file does not give the model's outputs."""
