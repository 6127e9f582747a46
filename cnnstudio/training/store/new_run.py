"""Making, refusing and tidying run folders: the file-system side of starting a run.

`prepare_run_dir` is the one gate a new run's folder passes (a path given with `--out`
or picked in the app): it refuses a file, a path under a file, a folder that already
holds a run or anything else, a read-only or too-long path — each in one sentence — and
says whether it made the folder, so a start refused later can take it away again
(`discard_new_run_dir`) instead of leaving a half-made run behind. `clean_leftovers`
removes the temp files a kill during an atomic save leaves. Torch-free.

Files named by an untrusted file (a queue's `run_dir`, a run folder given on the command line)
are never deleted unless the folder is provably ours: every run folder cnnstudio makes gets a
marker (`OWNER_FILE`, written before anything names the folder), and `is_ours` is the one test
every cleanup path passes first (`discard_new_run_dir`, `restart_refusal`). A folder without
the marker, a link, or (for a queue) one outside the runs folder is left exactly as it is.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from datetime import datetime
from pathlib import Path

from cnnstudio.errors import CheckpointError
from cnnstudio.files import readable

__all__ = ["os_problem", "check_new_run_dir", "prepare_run_dir", "ensure_runs_root", "discard_new_run_dir", "clean_leftovers",
           "RUN_FILE_NAMES", "OWNER_FILE", "claim_run_dir", "is_ours", "made_for_another", "restart_refusal"]

# Everything a run folder may hold; only these are removed when a refused start takes its folder away.
RUN_FILE_NAMES = ("run.json", "config.json", "spec.json", "metrics.jsonl", "last.pt", "best.pt", ".lock")
_NAME_MAX = 255
# The marker of a folder cnnstudio made for a run: what makes its files ours to remove.
OWNER_FILE = ".cnnstudio-run"
_OWNER_FORMAT = "cnnstudio-run-folder"


def os_problem(exc: OSError, path: str | os.PathLike[str]) -> str:
    """What an OSError on `path` means to a user, in words (the path shown readably)."""
    where = readable(os.fspath(path))
    code = exc.errno
    if code == errno.ENAMETOOLONG or any(len(os.fsencode(p)) > _NAME_MAX for p in Path(path).parts):
        longest = max((len(os.fsencode(p)) for p in Path(path).parts), default=0)
        return (f"the name is too long for the file system ({longest} bytes in one name; at most "
                f"{_NAME_MAX}): {where[:80]}… — choose a shorter name")
    if code == errno.ENOTDIR:
        return f"{where}: a part of this path is a file, not a folder — choose another folder"
    if code == errno.EEXIST:
        return f"{where} exists and is not a folder — choose another name"
    if code == errno.EROFS:
        return f"{where} is on a read-only file system — choose a folder you can write to"
    if code in (errno.EACCES, errno.EPERM):
        return f"no permission to write in {where} — choose a folder you can write to"
    if code == errno.ENOSPC:
        return f"the disk holding {where} is full — free some space"
    return f"cannot write {where} ({exc.strerror or exc})"


def _create(path: Path) -> None:
    try:
        path.mkdir(parents=True)
    except OSError as exc:
        raise CheckpointError(os_problem(exc, path)) from None


def ensure_runs_root(root: Path) -> None:
    """Create the runs folder if needed; one sentence when it cannot be (CNNSTUDIO_RUNS unwritable…)."""
    if root.is_dir():
        if not os.access(root, os.W_OK | os.X_OK):
            raise CheckpointError(f"no permission to write in the runs folder {readable(str(root))} — set "
                                  "CNNSTUDIO_RUNS to a folder you can write to, or give --out")
        return
    if root.exists():
        raise CheckpointError(f"the runs folder {readable(str(root))} is a file, not a folder — set CNNSTUDIO_RUNS "
                              "to a folder, or give --out")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"cannot create the runs folder: {os_problem(exc, root)}") from None


def check_new_run_dir(path: str | os.PathLike[str]) -> bool:
    """Refuse `path` as a new run's folder without creating anything; True if it does not exist yet.

    The same refusals as `prepare_run_dir`, early: a command line checks `--out` before it
    spends minutes scanning a dataset. A missing folder's nearest existing parent must be a
    folder this process may write in.
    """
    path = Path(path)
    where = readable(str(path))
    if any(len(os.fsencode(p)) > _NAME_MAX for p in path.parts):
        raise CheckpointError(os_problem(OSError(errno.ENAMETOOLONG, "File name too long"), path))
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:
        raise CheckpointError(os_problem(exc, path)) from None
    if not exists:
        parent = path.absolute().parent
        while not parent.exists() and parent != parent.parent:
            if parent.is_symlink():
                break
            parent = parent.parent
        if parent.exists() and not parent.is_dir():
            raise CheckpointError(os_problem(OSError(errno.ENOTDIR, "Not a directory"), path))
        if parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK):
            raise CheckpointError(os_problem(OSError(errno.EACCES, "Permission denied"), parent))
        return True
    _check_existing(path, where, is_dir)
    return False


def prepare_run_dir(path: str | os.PathLike[str]) -> bool:
    """Make `path` ready to hold a new run; True if this call created it (False: it was an empty folder).

    Refuses, in one sentence each: a folder that already holds a run (resume it instead),
    a non-empty folder that is not a run (its files would be overwritten or appended to),
    a file, a path under a file, a name too long, a read-only or unwritable place.
    """
    path = Path(path)
    if check_new_run_dir(path):
        _create(path)
        try:
            claim_run_dir(path)
        except CheckpointError:
            path.rmdir()  # made just now and still empty
            raise
        return True
    claim_run_dir(path)  # an empty folder given for the run: from now on its run files are ours
    return False


def _check_existing(path: Path, where: str, is_dir: bool) -> None:
    if not is_dir:
        raise CheckpointError(f"{where} is a file, not a folder — give --out a new folder's name")
    if (path / "config.json").exists():
        raise CheckpointError(f"{where} already holds a run — resume it, or choose a new folder")
    try:
        # A writer's lock label (it says who), and the marker of a folder made for this run.
        entries = [entry.name for entry in os.scandir(path) if entry.name not in (".lock", OWNER_FILE)]
    except OSError as exc:
        raise CheckpointError(os_problem(exc, path)) from None
    if entries:
        shown = ", ".join(readable(name) for name in sorted(entries)[:3])
        raise CheckpointError(
            f"{where} is not empty and holds no cnnstudio run ({shown}{'…' if len(entries) > 3 else ''}) — "
            "choose a new or empty folder"
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise CheckpointError(os_problem(OSError(errno.EACCES, "Permission denied"), path))


def claim_run_dir(path: str | os.PathLike[str], owner: str = "") -> None:
    """Mark `path`, a folder just made (or found empty) for a run, as cnnstudio's; an existing
    marker is kept (the queue's, naming its item, outlives the trainer's start in the folder).
    `owner` says who made it ("queue item 3fa2b1c0"; "" for a plain training)."""
    marker = Path(path) / OWNER_FILE
    if _read_marker(Path(path)) is not None:
        return
    from cnnstudio.files import atomic_write

    payload = json.dumps({"format": _OWNER_FORMAT, "owner": owner,
                          "made": datetime.now().isoformat(timespec="seconds")}).encode("utf-8") + b"\n"
    atomic_write(marker, lambda handle: handle.write(payload), size_estimate=len(payload))


def _read_marker(path: Path) -> dict | None:
    """The marker of the real folder `path` (not a link), or None when there is none we wrote."""
    from cnnstudio.files import read_regular

    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return None
        marker = path / OWNER_FILE
        if not stat.S_ISREG(os.lstat(marker).st_mode):
            return None
        data = json.loads(read_regular(marker, 4096))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _OWNER_FORMAT or not isinstance(data.get("owner"), str):
        return None
    return data


def is_ours(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
            owner: str | None = None) -> bool:
    """Whether `path` is provably a run folder cnnstudio made: a real folder (not a link) with the
    marker, made by `owner` when one is given, and directly inside `root` when one is given."""
    path = Path(path)
    data = _read_marker(path)
    if data is None or (owner is not None and data["owner"] != owner):
        return False
    if root is not None:
        try:
            return os.path.realpath(path.parent) == os.path.realpath(root)
        except (OSError, ValueError):
            return False
    return True


def made_for_another(path: str | os.PathLike[str], owner: str) -> bool:
    """Whether `path` carries the marker of a folder made for someone other than `owner` (another
    queue item, a plain training): provably not `owner`'s run, so not `owner`'s to go on with.
    A folder without the marker (a run of an older cnnstudio) is not known to be another's."""
    data = _read_marker(Path(path))
    return data is not None and data["owner"] != owner


def restart_refusal(path: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
                    owner: str | None = None) -> str | None:
    """Why the run in `path` may not be started again from nothing (its files removed), or None
    when it may: only a folder that `is_ours` and that holds no result (no last.pt, no best.pt,
    at most the one metrics line of an epoch killed before its checkpoint) is ever restarted."""
    path = Path(path)
    where = readable(str(path))
    if not is_ours(path, root=root, owner=owner):
        maker = "this queue" if owner else "cnnstudio"
        inside = f" in the runs folder {readable(str(root))}" if root is not None else ""
        return f"{where} is not a run folder {maker} made{inside}, so nothing in it is touched"
    kept = [name for name in ("last.pt", "best.pt") if os.path.lexists(path / name)]
    if "last.pt" in kept:
        return None  # resumable: not a restart
    if kept or _metrics_lines(path / "metrics.jsonl") > 1 or _saved_once(path / "run.json"):
        return (f"{where} holds results (best.pt, its metrics) but its last.pt is missing, so it cannot be resumed; "
                "nothing was deleted")
    try:
        others = sorted(entry.name for entry in os.scandir(path) if not _run_entry(entry.name))
    except OSError as exc:
        return os_problem(exc, path)
    if others:
        shown = ", ".join(readable(name) for name in others[:3]) + ("…" if len(others) > 3 else "")
        return f"{where} also holds files that are not the run's ({shown}), so it is not cleared; nothing was deleted"
    return None


def _run_entry(name: str) -> bool:
    """Whether a name in a run folder is one of the run's own (files, history, dynamics, a save's temp file)."""
    return (name in RUN_FILE_NAMES or name in (OWNER_FILE, "history", "dynamics")
            or (name.startswith(".") and name.endswith(".tmp") and any(name.startswith(f".{f}.") for f in RUN_FILE_NAMES)))


def _saved_once(path: Path) -> bool:
    """Whether run.json records a checkpoint once saved (so: not killed before its first one);
    True too when it cannot be read — unknown is never taken for "nothing to lose"."""
    from cnnstudio.files import read_regular

    try:
        meta = json.loads(read_regular(path, 1 << 20))
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        return True
    return not isinstance(meta, dict) or bool(meta.get("last") or meta.get("best"))


def _metrics_lines(path: Path) -> int:
    """How many epochs `metrics.jsonl` records; many (so: results) when it cannot be read."""
    from cnnstudio.files import read_regular

    try:
        return sum(1 for line in read_regular(path, 1 << 20).splitlines() if line.strip())
    except FileNotFoundError:
        return 0
    except (OSError, ValueError):
        return 1 << 30


def discard_new_run_dir(path: str | os.PathLike[str], *, made: bool, keep_marker: bool = False) -> None:
    """Undo a refused start (or clear a run killed before its first checkpoint): remove the run
    files written so far, and the folder if this run made it.

    Only in a folder that `is_ours` (any other is left untouched), and only cnnstudio's own files
    (and its temp files) there, never anything else. `keep_marker` keeps the folder ours, for a
    run that starts again in it.
    """
    path = Path(path)
    if not is_ours(path):
        return
    for name in RUN_FILE_NAMES:
        try:
            (path / name).unlink(missing_ok=True)
        except OSError:
            pass
    clean_leftovers(path)
    from cnnstudio.training.store.dynamics import remove_dynamics
    from cnnstudio.training.store.snapshots import remove_history

    remove_history(path)
    if not keep_marker:
        try:
            (path / OWNER_FILE).unlink(missing_ok=True)
        except OSError:
            pass
    remove_dynamics(path)
    if made:
        try:
            path.rmdir()
        except OSError:
            pass  # something else is in it now: leave it


def clean_leftovers(path: str | os.PathLike[str]) -> list[str]:
    """Remove the temp files an interrupted atomic save left (`.last.pt.k3j2.tmp`); returns their names.

    Call it only with the run's lock held: a live writer's temp file is not a leftover.
    """
    removed = []
    try:
        entries = list(os.scandir(path))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if name.startswith(".") and name.endswith(".tmp") and any(name.startswith(f".{f}.") for f in RUN_FILE_NAMES):
            try:
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    removed.append(name)
            except OSError:
                pass
    return removed


def refuse_as_output(path: str | os.PathLike[str]) -> None:
    """Refuse, in one line, an output file the user named (`--json`, `--csv`, `-o`) that would
    replace a run's own file (its config.json, best.pt … inside a run folder) or a thing that is
    not a file (a FIFO, a folder, a device): every writer replaces its target whole, so a slip of
    the pen would otherwise break a run or swallow a FIFO."""
    from cnnstudio.errors import CnnStudioError
    from cnnstudio.files import file_kind

    target = Path(path)
    folder = target.parent
    if target.name in (*RUN_FILE_NAMES, OWNER_FILE) and (
            os.path.lexists(folder / OWNER_FILE) or os.path.lexists(folder / "config.json")):
        raise CnnStudioError(f"{readable(str(target))} is a file of the run in {readable(str(folder))}; "
                             "write the output somewhere else")
    try:
        mode = os.lstat(target).st_mode
    except OSError:
        return  # nothing there yet (or unreachable: the writer says why)
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise CnnStudioError(f"{readable(str(target))} is {file_kind(mode)}, not a file to write; "
                             "give a file name")
