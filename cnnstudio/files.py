"""Files cnnstudio writes and names it prints, whatever folder they belong to.

`atomic_write` is the one way a file is written (temp name from mkstemp, then rename: a
kill at any moment leaves the old file or the new one); `readable` is the one way a name
from the file system becomes text for people; `open_regular` / `read_regular` are the one way a
file named by the user or by another file is opened for reading (a FIFO, a device or a folder
is refused without blocking). Torch-free and Qt-free: the basics layer.
"""

from __future__ import annotations

import codecs
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from cnnstudio.errors import CheckpointError, CnnStudioError

__all__ = ["atomic_write", "readable", "READABLE_ERRORS", "NotRegularFileError", "open_regular", "read_regular",
           "file_kind", "read_npy", "npz_header", "remove_own_files", "temp_beside", "replace_together"]

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


# -- reading what another file, or a user, names ---------------------------------------------------


class NotRegularFileError(CnnStudioError, OSError):
    """A path that names a FIFO, a device, a socket or a folder where a file was expected.

    Also an `OSError`, so code that skips unreadable files (a folder scan, a cache) skips it too.
    """

    def __init__(self, path: str | os.PathLike[str], kind: str) -> None:
        self.path = os.fspath(path)
        self.kind = kind
        message = f"{readable(self.path)} is {kind}, not a regular file"
        super().__init__(message)
        self.errno, self.strerror = None, message  # OSError.__new__ took (path, kind) for (errno, strerror)

    def __str__(self) -> str:
        return self.strerror

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return type(self), (self.path, self.kind)


_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))


def open_regular(path: str | os.PathLike[str]) -> IO[bytes]:
    """`path` opened for reading in binary, if it is a regular file (links followed).

    Opened non-blocking and checked with `fstat` on the open descriptor, so a FIFO, a device or
    a link to one is refused (`NotRegularFileError`) without ever blocking or reading it, and the
    check cannot be raced by a swap. Other `OSError`s (FileNotFoundError…) pass through.
    """
    fd = os.open(path, _READ_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(path, file_kind(mode))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file `path`, at most `limit` (more is `ValueError`; see `open_regular`)."""
    with open_regular(path) as handle:
        data = handle.read(limit + 1)  # the size a file states can lie (one still growing, /proc)
    if len(data) > limit:
        raise ValueError(f"{readable(os.fspath(path))} is larger than {limit:,} bytes")
    return data


def read_npy(path: str | os.PathLike[str], *, max_bytes: int, shape: tuple[int | None, ...] | None = None,
             dtype: str | None = None) -> Any:
    """A plain `.npy` array (no pickle) from a regular file, its header checked before any allocation.

    `shape` (None for any length along an axis) and `dtype` must match the header; the data must
    fit `max_bytes` and the file must hold exactly what the header says. Anything else is
    `ValueError` (a FIFO is `NotRegularFileError`): a damaged cache claiming (4500, 10⁹) is refused
    without asking for 18 TB.
    """
    import numpy as np

    with open_regular(path) as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        stated, fortran, kind = header
        if kind.hasobject:
            raise ValueError("holds Python objects")
        if dtype is not None and kind != np.dtype(dtype):
            raise ValueError(f"holds {kind}, not {dtype}")
        if shape is not None and (len(stated) != len(shape)
                                  or any(want is not None and got != want for got, want in zip(stated, shape))):
            raise ValueError(f"holds shape {stated}, not {shape}")
        count = 1
        for side in stated:
            count *= int(side)
        size = count * kind.itemsize
        if size > max_bytes:
            raise ValueError(f"would take {size:,} bytes (at most {max_bytes:,})")
        if os.fstat(handle.fileno()).st_size - handle.tell() != size:
            raise ValueError("is truncated or padded (its size does not match its header)")
        data = np.fromfile(handle, dtype=kind, count=count) if count else np.zeros(0, dtype=kind)
    return data.reshape(stated, order="F" if fortran else "C")


def npz_header(npz: Any, key: str) -> tuple[tuple[int, ...], Any]:
    """The shape and dtype that member `key` of an open `np.load`ed .npz declares, read from its
    .npy header without decoding it: check them before `npz[key]` allocates (a zip bomb's member
    can claim anything). `ValueError` when the member is missing or not a plain array."""
    import numpy as np

    if key not in npz.files:
        raise ValueError(f"it holds no {key}")
    with npz.zip.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _fortran, dtype = read(member)
    if dtype.hasobject:
        raise ValueError(f"its {key} holds Python objects")
    return tuple(int(v) for v in shape), dtype


def remove_own_files(folder: str | os.PathLike[str], ours: Callable[[str], bool]) -> None:
    """Remove the regular files of `folder` whose names `ours` accepts (a store's own files and
    its temp files), then the folder when that empties it. Nothing else is touched: not a file
    another program put there, not what a link points to, and the folder stays if anything is left."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return  # a link (or a file) in the folder's place: what it points to is not ours
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if ours(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except OSError:
                pass
    try:
        os.rmdir(folder)
    except OSError:
        pass  # something else is in it (or it is a link): leave it


# -- several files that appear together -------------------------------------------------------------


def temp_beside(path: str | os.PathLike[str], suffix: str = ".tmp") -> Path:
    """A new, empty temp file in `path`'s folder (`.<name>.k3j2<suffix>`) for a writer to fill.

    `mkstemp`: never an existing name, never through a planted link, unique across processes
    (so concurrent writers of one path never collide); it gets a user file's permissions.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, _FILE_MODE)
    finally:
        os.close(fd)
    return Path(name)


def replace_together(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each finished temp file onto its destination: all of them, or none.

    The previous destinations are hard-linked aside first, so a failure midway puts them back
    (where the file system has no hard links, a new file whose partner failed is removed
    rather than left alone). The temps are removed whatever happens; the folder is synced.
    """
    import secrets

    kept: dict[Path, Path] = {}
    done: list[Path] = []
    try:
        for _tmp, dest in pairs:
            if os.path.lexists(dest):
                aside = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.old")
                try:
                    os.link(dest, aside, follow_symlinks=False)
                    kept[dest] = aside
                except OSError:
                    pass
        for tmp, dest in pairs:
            os.replace(tmp, dest)
            done.append(dest)
    except BaseException:
        for dest in done:
            try:
                if dest in kept:
                    os.replace(kept.pop(dest), dest)
                else:
                    dest.unlink()
            except OSError:
                pass
        raise
    finally:
        for tmp, _dest in pairs:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
        for aside in kept.values():
            try:
                aside.unlink(missing_ok=True)
            except OSError:
                pass
    _fsync_folder(pairs[0][1].parent if pairs else Path("."))
