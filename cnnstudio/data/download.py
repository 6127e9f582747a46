"""A small, careful file downloader: timeout, progress, cancel, checksum, atomic rename.

A download goes to `<file>.part`; only when its md5 matches is it renamed (`os.replace`)
to its final name, so an interrupted or corrupted transfer is never taken for a complete
file. Network failures become `DownloadError`s; the caller adds where the files can be
put by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from cnnstudio.errors import Cancelled
from cnnstudio.errors import DownloadError
from cnnstudio.progress import CancelFn, ProgressFn

__all__ = ["CancelFn", "DownloadFailed", "ProgressFn", "download_file", "file_md5", "file_sha256"]


_CHUNK = 1 << 16
_USER_AGENT = "cnnstudio"


def file_md5(path: str | os.PathLike[str]) -> str:
    """The md5 hex digest of a file (the checksums torchvision publishes are md5)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file (torch hub's file names end in its first digits)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DownloadFailed(DownloadError):
    """A `DownloadError` that also keeps the short reason, for callers that reword it."""

    def __init__(self, message: str, folder: Path, reason: str) -> None:
        super().__init__(message, folder)
        self.reason = reason


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    md5: str | None,
    sha256_prefix: str | None = None,
    timeout: float = 30.0,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    label: str | None = None,
) -> Path:
    """Fetch `url` into `dest` through `dest.part`, verifying `md5` (and/or the start of its
    sha256, as torch hub's file names carry it) before the rename.

    `progress(done_bytes, total_bytes, message)` is called per chunk (`total_bytes` is 0
    when the server does not say); `cancel()` returning True aborts with `Cancelled`.
    Raises `DownloadFailed` (a `DownloadError`) on network errors, timeouts and checksum mismatches.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    message = f"Downloading {label or dest.name}"
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            if progress is not None:
                progress(0, total, message)
            while True:
                if cancel is not None and cancel():
                    raise Cancelled(f"download of {dest.name} cancelled")
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total, message)
        if (md5 is not None and file_md5(part) != md5) or (
            sha256_prefix is not None and not file_sha256(part).startswith(sha256_prefix)
        ):
            reason = "checksum mismatch"
            raise DownloadFailed(f"{url} arrived corrupted ({reason}); try again", dest.parent, reason)
        os.replace(part, dest)
    except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
        _remove_quietly(part)
        reason = str(getattr(exc, "reason", None) or exc).splitlines()[0] or type(exc).__name__
        raise DownloadFailed(f"cannot download {url} ({reason})", dest.parent, reason) from None
    except BaseException:
        _remove_quietly(part)
        raise
    return dest


def _remove_quietly(path: Path) -> None:
    """Delete a leftover partial file; a failure to delete is not worth a second error."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
