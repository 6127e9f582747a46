"""Files cnnstudio writes and names it prints, whatever folder they belong to.

`atomic_write` is the one way a file is written (temp name from mkstemp, then rename: a
kill at any moment leaves the old file or the new one); `readable` is the one way a name
from the file system becomes text for people. Torch-free and Qt-free: the basics layer.
"""

from __future__ import annotations

import codecs
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from cnnstudio.errors import CheckpointError

__all__ = ["atomic_write", "file_kind", "readable", "READABLE_ERRORS"]

_MiB = 1024 * 1024
# mkstemp makes its file readable by its owner only; what is written is the user's file (a run,
# a PNG, a CSV, an export) and gets the permissions any program's new file gets: 0o666 minus the
# umask (read once, here: setting it back and forth later would race with other threads).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None], *, size_estimate: int = 0,
                 durable: bool = True) -> None:
    """Write `path` through `write(file)` so that it is replaced whole or not at all.

    Free space is checked first against `size_estimate` (plus a margin); any failure raises
    CheckpointError and leaves the previous file untouched. The temp-then-rename alone survives a
    killed process; `durable` also syncs the file and the folder to disk, so a power cut keeps
    it too (a checkpoint must; a history snapshot, which readers skip when damaged, need not).
    """
    path = Path(path)
    folder = path.parent
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None  # nothing there yet (or a link to nothing): the rename makes the file
    if mode is not None and not stat.S_ISREG(mode):  # a folder, a FIFO, a device: nothing to replace
        hint = "; give a file name in it" if stat.S_ISDIR(mode) else ""
        raise CheckpointError(f"cannot write {readable(str(path))}: it is {file_kind(mode)}, not a file{hint}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        usage = shutil.disk_usage(folder)
    except OSError as exc:
        raise CheckpointError(f"cannot write {readable(str(path))}: {exc.strerror or exc}") from exc
    needed = int(size_estimate * 1.05) + _MiB
    # Only say the old file is safe when there is one (a run's first save has none).
    kept = "; the previous file is intact" if mode is not None else ""
    # A file system that reports no size at all (/proc, /sys) has no free space to speak of: the
    # write itself says what is wrong there, instead of a false "0 MB free".
    if usage.total > 0 and usage.free < needed:
        need, free = _two_sizes(needed, usage.free)
        raise CheckpointError(
            f"not enough free disk space to save {readable(str(path))}: about {need} needed, "
            f"{free} free — free some space{kept}"
        )
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, FileNotFoundError) and folder.is_dir():  # /proc: the folder is there, files cannot be
            reason = f"the folder {readable(str(folder))} does not take new files ({reason})"
        raise CheckpointError(f"cannot write {readable(str(path))}: {reason}{kept}") from exc
    tmp = Path(tmp_name)
    try:
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(fd, _FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except Exception as exc:  # any failure of the writer, whatever its type, must keep the old file
        tmp.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise CheckpointError(f"could not save {path}: {reason}{' —' + kept[1:] if kept else ''}") from exc
    if durable:
        _fsync_folder(folder)


def _two_sizes(a: int, b: int) -> tuple[str, str]:
    """Two byte counts in MB with as many decimals as it takes to tell them apart ("1.05 MB", "0.98 MB")."""
    for decimals in (0, 1, 2, 3):
        first, second = f"{a / _MiB:,.{decimals}f} MB", f"{b / _MiB:,.{decimals}f} MB"
        if first != second:
            return first, second
    return f"{a:,} bytes", f"{b:,} bytes"


def file_kind(mode: int) -> str:
    """What a `st_mode` names, in words ("a FIFO", "a device", "a folder", …)."""
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the data file itself is synced
    finally:
        os.close(fd)


def readable(text: str) -> str:
    """A name or path as a person can read it, and as a terminal cannot act on it.

    Bytes that are not UTF-8 (kept losslessly as surrogate escapes) are shown as `\\xff`;
    control and other non-printable characters — C0 and C1 controls, DEL, line and
    paragraph separators, format characters such as a right-to-left override — as escapes
    (ESC → `\\x1b`, a newline → `\\n`), so a name can neither clear the screen, set the
    terminal's title nor forge a line. Printable text of any script is kept as is, and a
    readable name reads the same again (`readable(readable(x)) == readable(x)`).
    """
    if text.isprintable():  # the common case costs one scan (surrogates are not printable)
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    """One character that must not reach a terminal as itself, as a Python-style escape."""
    if ch in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _readable_errors(exc: UnicodeError) -> tuple[str, int]:
    """A codec error handler ("cnnstudio-readable"): surrogate escapes as `\\xe9`, other
    unencodable characters as `\\u00d7` — for streams that must never fail on a name."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start : exc.end]
    out = "".join(f"\\x{ord(ch) - 0xDC00:02x}" if "\udc80" <= ch <= "\udcff" else ch.encode("ascii", "backslashreplace").decode()
                  for ch in text)
    return out, exc.end


READABLE_ERRORS = "cnnstudio-readable"
codecs.register_error(READABLE_ERRORS, _readable_errors)
