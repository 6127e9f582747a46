"""Run folders: where each training leaves its settings, history and checkpoints.

A run folder holds

    run.json        when it was created, by which version, how it ended, the writer's PID
                    and host, the progress of the checkpoints on disk, the folder scan's report
    config.json     the TrainConfig (TrainConfig.from_dict reads it back)
    spec.json       the dataset's spec: channels, class names in index order, mean/std
    metrics.jsonl   one JSON object per finished epoch, appended and fsync'd each epoch
    last.pt         everything needed to resume exactly (model, optimizer, scheduler, AMP
                    scaler, epoch, RNG states, history; stopped mid-epoch, the batch)
    best.pt         the weights with the best validation accuracy (for classifying)
    .lock           who holds the writer's OS lock (fcntl.flock of the folder itself): one writer
                    per run, released on death

Every file is written atomically (temp file, fsync, os.replace), so a crash or a full
disk never leaves a half-written file in place of a good one. Listing and opening runs
reads JSON only and never imports torch; `load_model` is the one place that rebuilds a
trained network from a run. A run folder is untrusted input: every file is read through
`run_files` (regular files only, size caps, one schema per file), and a folder that
cannot be read is listed as an `UnreadableRun` saying why, never hiding the others.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio import __version__
from cnnstudio.errors import CheckpointError, CnnStudioError
from cnnstudio.training.store import schema as run_files
from cnnstudio.files import atomic_write
from cnnstudio.training.config import TrainConfig
from cnnstudio.training.store.naming import run_folder_base, variant_name
from cnnstudio.training.store.new_run import clean_leftovers, ensure_runs_root
from cnnstudio.training.store.schema import RunFileError
from cnnstudio.files import readable as shown

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from torch import nn

    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.training.records import EpochStats

__all__ = [
    "RunInfo",
    "UnreadableRun",
    "RunWriter",
    "RunLock",
    "RunInUseError",
    "default_runs_dir",
    "new_run_dir",
    "list_runs",
    "open_run",
    "load_model",
    "run_in_use",
    "check_not_in_use",
]

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
SPEC_FILE = "spec.json"
METRICS_FILE = "metrics.jsonl"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"
LOCK_FILE = ".lock"
_RUN_FILES = (RUN_FILE, CONFIG_FILE, SPEC_FILE, METRICS_FILE, LAST_CHECKPOINT, BEST_CHECKPOINT)


def default_runs_dir() -> Path:
    """Where runs go by default: $CNNSTUDIO_RUNS, else the user data folder's `runs`."""
    override = os.environ.get("CNNSTUDIO_RUNS")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_path

    return user_data_path("cnnstudio", appauthor=False) / "runs"


def new_run_dir(root: str | Path | None = None, *, arch: str, dataset: str,
                options: dict[str, Any] | None = None, owner: str = "") -> Path:
    """Create and return a new, empty run folder named like `2026-11-23_14-05-33_vgg16-bn_mnist-sample`.

    The name says the variant (`options` that differ from the defaults) and is short
    whatever the dataset's name. Two runs started in the same second get `_2`, `_3`, …
    suffixes (mkdir is the arbiter, so this holds across processes too). The folder gets the
    marker of a folder cnnstudio made (`run_dirs.claim_run_dir`, naming `owner`).
    """
    root = Path(root) if root is not None else default_runs_dir()
    ensure_runs_root(root)
    path = new_folder(root, run_folder_base(arch, options, dataset, f"{datetime.now():%Y-%m-%d_%H-%M-%S}"),
                      what="run folder")
    from cnnstudio.training.store.new_run import claim_run_dir

    try:
        claim_run_dir(path, owner)  # before anything names the folder: what proves its files ours
    except CheckpointError:
        path.rmdir()  # still empty: nothing else knows it
        raise
    return path


def new_folder(root: Path, base: str, *, what: str) -> Path:
    """Create `root/base`, or `base_2`, `base_3`… when it exists (mkdir is the arbiter, across
    processes too); a folder that cannot be made is one sentence naming `what` it was for."""
    for n in range(1, 10_000):
        candidate = root / (base if n == 1 else f"{base}_{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            from cnnstudio.training.store.new_run import os_problem

            raise CheckpointError(f"cannot create a {what}: {os_problem(exc, candidate)}") from None
        return candidate
    raise CheckpointError(f"cannot create a new {what} in {root}: too many named {base}")


def _write_json(path: Path, data: Any) -> None:
    # Names that are not UTF-8 (a folder called b"caf\xe9") live in Python as surrogate escapes;
    # backslashreplace writes them as JSON's own "\udce9" escape: lossless, and the file stays UTF-8.
    payload = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")
    atomic_write(path, lambda handle: handle.write(payload), size_estimate=len(payload))


# -- the lock -------------------------------------------------------------------------------------


class RunInUseError(CheckpointError):
    """Another process (or another fit in this one) is writing the run."""


class RunLock:
    """An exclusive OS lock on a run folder, held while the run is written.

    `fcntl.flock` on the run folder's own descriptor: the kernel releases it when the holder
    exits or is killed, so a crash never leaves a run locked, and no file can be deleted or
    recreated to let a second writer in beside the first (a lock on a file in the folder
    could: delete it and the next writer locks a new one). The holder's PID and host are
    written in `<run>/.lock`, a label only, to name it in the refusal. The trainer takes it
    for every fit (new or resumed); the app's resume and any queue go through the trainer, or
    take it themselves (`RunLock.acquire`) before touching a run. Locks are per open file, so
    two fits in one process exclude each other too.
    """

    def __init__(self, run_dir: Path, fd: int | None) -> None:
        self.run_dir = run_dir
        self._fd = fd

    @classmethod
    def acquire(cls, run_dir: str | Path, *, wait_s: float = 1.0) -> RunLock:
        """Lock `run_dir` (which must exist) or raise `RunInUseError` naming the holder.

        Waits up to `wait_s` for a brief holder (a listing probing the lock) before refusing.
        """
        import time

        run_dir = Path(run_dir)
        if fcntl is None:
            return cls(run_dir, None)
        try:
            fd = os.open(run_dir, os.O_RDONLY | _DIR_FLAGS)
        except OSError as exc:
            from cnnstudio.training.store.new_run import os_problem

            raise CheckpointError(f"cannot lock the run: {os_problem(exc, run_dir)}") from None
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise _in_use(run_dir) from None
                time.sleep(0.05)
            except OSError as exc:
                os.close(fd)
                raise CheckpointError(f"cannot lock the run {shown(str(run_dir))} ({exc.strerror or exc})") from None
        _write_lock_label(run_dir / LOCK_FILE)
        return cls(run_dir, fd)

    def release(self) -> None:
        """Let the next writer in (closing the descriptor releases the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


_DIR_FLAGS = getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _write_lock_label(path: Path) -> None:
    """Write who holds the lock into `.lock` — only into a regular file (never through a link, never
    into a FIFO); the lock holds without its label."""
    flags = (os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_NONBLOCK", 0))
    try:
        fd = os.open(path, flags, 0o644)
    except OSError:
        return
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def _in_use(run_dir: Path) -> RunInUseError:
    return RunInUseError(f"the run {shown(str(run_dir))} is in use (by {_lock_holder(run_dir / LOCK_FILE)}) — "
                         "wait for it to finish, or stop that training first")


def check_not_in_use(run_dir: str | Path) -> None:
    """Raise `RunInUseError` (naming the holder's PID) if a writer holds the run now.

    An early, advisory check (a command line makes it before loading data); the trainer's
    `RunLock` is what actually keeps a second writer out.
    """
    if run_in_use(run_dir):
        raise _in_use(Path(run_dir))


def _lock_holder(path: Path) -> str:
    from cnnstudio.files import read_regular

    try:
        pid, _, host = read_regular(path, 512).decode("utf-8", errors="replace").strip().partition(" ")
    except (OSError, ValueError):
        return "another process"
    if not pid.isdigit():
        return "another process"
    here = socket.gethostname()
    return f"PID {pid}" + (f" on {host}" if host and host != here else "")


def run_in_use(run_dir: str | Path) -> bool | None:
    """Whether a writer holds the run's lock now: True or False; None where it cannot be told
    (no such folder, no flock on this system).

    Probes with a shared lock on the folder, taken and dropped at once, so it never blocks a
    writer for long. Every writer of this cnnstudio holds the lock, so False means that nobody
    writes the run, whatever its run.json says (a PID there may have been reused).
    """
    if fcntl is None:
        return None
    try:
        fd = os.open(run_dir, os.O_RDONLY | _DIR_FLAGS)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # closing drops the probe's lock
    return False


# -- writing --------------------------------------------------------------------------------------


class RunWriter:
    """Writes one run folder; used by the trainer, one call per event.

    Opening a run for writing removes the temp files an earlier kill left (take the
    `RunLock` first: a live writer's temp file is not a leftover). run.json records, after
    each checkpoint is safely on disk, which epoch (and batch) it holds: listings show the
    progress of what was saved, never that of a save that failed or was cut short.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.removed_leftovers = clean_leftovers(self.run_dir)
        self._meta: dict[str, Any] = {}

    def start(self, config: TrainConfig, spec_dict: dict[str, Any], *, resumed: bool = False,
              scan: dict[str, Any] | None = None) -> None:
        """Write config.json, spec.json and run.json (keeping the creation time and progress when resuming).

        `scan` is a folder scan's report (`used`, `skipped_count`, `skipped` [[file, reason], …]).
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        run_file = self.run_dir / RUN_FILE
        meta: dict[str, Any] = {}
        if resumed:
            try:
                meta = run_files.check_file(run_file, run_files.check_run_meta)
            except (OSError, CheckpointError):
                meta = {}  # a damaged run.json is rewritten below; the run itself is fine
        self._meta = {
            "created": meta.get("created") or datetime.now().isoformat(timespec="seconds"),
            "cnnstudio": __version__,
            "status": "running",
            "reason": "",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "last": meta.get("last"),
            "best": meta.get("best"),
            "scan": scan,
        }
        _write_json(self.run_dir / CONFIG_FILE, config.to_dict())
        _write_json(self.run_dir / SPEC_FILE, spec_dict)
        _write_json(run_file, self._meta)

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one epoch's metrics as a JSON line, flushed and fsync'd before returning.

        An append cannot be atomic, but a crash can only cut the last line short, and
        `RunInfo.metrics()` skips an unterminated last line.
        """
        path = self.run_dir / METRICS_FILE
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")
        flags = (os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                 | getattr(os, "O_CLOEXEC", 0))
        try:
            fd = os.open(path, flags, 0o666)  # never through a link, never blocked by a FIFO
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise OSError(0, "it is not a regular file")
            with os.fdopen(fd, "ab") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise CheckpointError(f"could not append to {path}: {exc.strerror or exc}") from exc

    def rewrite_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Replace metrics.jsonl with `rows` (a resume writes last.pt's own history: lines written
        after that checkpoint, or damaged by hand, are gone)."""
        path = self.run_dir / METRICS_FILE
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8", "backslashreplace")
        atomic_write(path, lambda handle: handle.write(text), size_estimate=len(text))

    def save_last(self, payload: dict[str, Any]) -> None:
        """Atomically replace last.pt (the resumable state), then record its progress in run.json."""
        from cnnstudio.training.store.checkpoints import save_checkpoint

        save_checkpoint(self.run_dir / LAST_CHECKPOINT, payload)
        partial = payload.get("partial") or {}
        self._record("last", {"epoch": int(payload.get("epoch", 0)), "batch": int(partial.get("batch", 0)),
                              "batches": int(partial.get("batches", 0))})

    def save_best(self, payload: dict[str, Any]) -> None:
        """Atomically replace best.pt (weights for inference, no optimizer state), then record it in run.json."""
        from cnnstudio.training.store.checkpoints import save_checkpoint

        save_checkpoint(self.run_dir / BEST_CHECKPOINT, payload)
        self._record("best", {"epoch": int(payload.get("epoch", 0))})

    def _record(self, key: str, value: dict[str, Any]) -> None:
        if not self._meta:
            self._meta = self._read_meta()
        self._meta[key] = value
        _write_json(self.run_dir / RUN_FILE, self._meta)

    def _read_meta(self) -> dict[str, Any]:
        try:
            return dict(run_files.check_file(self.run_dir / RUN_FILE, run_files.check_run_meta))
        except (OSError, CheckpointError):
            return {"created": datetime.now().isoformat(timespec="seconds"), "cnnstudio": __version__}

    def finish(self, status: str, reason: str = "") -> None:
        """Record how the run ended ("finished", "stopped", "failed") in run.json."""
        if not self._meta:
            self._meta = self._read_meta()
        self._meta.update(status=status, reason=reason[: run_files.MAX_TEXT])
        _write_json(self.run_dir / RUN_FILE, self._meta)


# -- reading --------------------------------------------------------------------------------------


def _read_metrics(path: Path) -> tuple[list[dict[str, Any]], str]:
    """The epoch rows of a metrics.jsonl, and a problem note ("" if none).

    A cut-short last line (the writer died mid-append) ends the list silently; a damaged
    line ends it with a note naming the line and the field.
    """
    rows: list[dict[str, Any]] = []
    try:
        data = run_files.read_regular_file(path, limit=run_files.SIZE_LIMITS[METRICS_FILE])
    except FileNotFoundError:
        return rows, ""
    except RunFileError as exc:
        return rows, str(exc)
    lines = data.split(b"\n")
    complete = lines[:-1]  # after the last "\n": empty, or a line cut short by a crash
    for number, line in enumerate(complete, 1):
        where = f"{shown(str(path))} line {number}"
        if len(line) > run_files.MAX_METRICS_LINE:
            return rows, f"{where} is too long to be an epoch's metrics; the history stops before it"
        try:
            row = run_files.parse_json(line, f"{path} line {number}")
            rows.append(run_files.check_metrics_row(row, previous_epoch=len(rows)))
        except RunFileError as exc:
            return rows, f"{exc}; the history stops before it"
        except run_files.SchemaError as exc:
            return rows, f"{where}: {exc}; the history stops before it"
    return rows, ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


@dataclass(frozen=True)
class RunInfo:
    """What a run folder says about itself (read from its JSON files; no torch).

    `epochs_done` and `batches_done` are the progress of the checkpoint on disk (last.pt):
    `batches_done` > 0 means it was stopped inside epoch `epochs_done + 1` after that many
    of its `batches_per_epoch` batches, and a resume continues exactly from there.
    `status` is "running", "finished", "stopped", "failed", or "interrupted" (run.json says
    running but the process that wrote it is gone: killed, or the machine went down).
    """

    path: Path
    name: str
    arch: str
    dataset: str
    created: datetime | None
    status: str
    epochs: int  # asked for
    epochs_done: int
    best_val_acc: float | None  # fraction 0..1
    config_dict: dict[str, Any]
    batches_done: int = 0
    batches_per_epoch: int = 0
    pid: int | None = None
    host: str = ""
    reason: str = ""
    skipped_files: int = 0  # files the folder scan could not use
    scan_summary: str = ""  # the scan's one line ("4,995 images used; skipped 5 unusable files: …")
    problems: tuple[str, ...] = ()  # damage that does not make the run unusable (a bad metrics line…)
    readable: bool = field(default=True, init=False)

    @property
    def config(self) -> TrainConfig:
        """The run's TrainConfig."""
        return TrainConfig.from_dict(self.config_dict)

    @property
    def spec(self) -> DatasetSpec:
        """The run's DatasetSpec (class names in the model's index order)."""
        from cnnstudio.data.spec import DatasetSpec

        path = self.path / SPEC_FILE
        try:
            return DatasetSpec.from_dict(run_files.check_file(path, run_files.check_spec))
        except FileNotFoundError:
            raise CheckpointError(f"{shown(str(path))} is missing; the run's class names are lost") from None
        except CnnStudioError as exc:
            raise CheckpointError(f"{exc}; the run's class names are lost") from None

    @property
    def variant(self) -> str:
        """The architecture with its non-default options: `vgg16-bn`."""
        return variant_name(self.arch, self.config_dict.get("arch_options") or {})

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The run's key settings, in the order a person reads them."""
        c = self.config_dict
        keys = {"variant": self.variant, "input_size": c.get("input_size"), "batch_size": c.get("batch_size"),
                "optimizer": c.get("optimizer"), "lr": c.get("lr"), "schedule": c.get("schedule"),
                "weight_decay": c.get("weight_decay"), "augment": ",".join(c.get("augment") or ()) or "none",
                "seed": c.get("seed")}
        return keys

    @property
    def hyperparameters_text(self) -> str:
        """`vgg16-bn 32 px, batch 64, sgd lr 0.01, constant, wd 0.0005, augment none`."""
        h = self.hyperparameters
        size = f" {h['input_size']} px" if h["input_size"] else ""
        return (f"{h['variant']}{size}, batch {h['batch_size']}, {h['optimizer']} lr {h['lr']:g}, {h['schedule']}, "
                f"wd {h['weight_decay']:g}, augment {h['augment']}")

    @property
    def progress_text(self) -> str:
        """Where the run's checkpoint stands: "3 / 10 epochs", "stopped in epoch 1 at batch 10/36", "no checkpoint yet"."""
        if self.batches_done:
            verb = {"running": "in", "interrupted": "interrupted in"}.get(self.status, "stopped in")
            where = f"{verb} epoch {self.epochs_done + 1} at batch {self.batches_done}/{self.batches_per_epoch}"
            if self.batches_done >= self.batches_per_epoch:
                where += " (before validation)"
            return f"{where}; {self.epochs_done} / {self.epochs} epochs done"
        if self.epochs_done == 0 and not (self.path / LAST_CHECKPOINT).exists():
            return f"0 / {self.epochs} epochs (no checkpoint yet)"
        return f"{self.epochs_done} / {self.epochs} epochs"

    def metrics(self) -> list[dict[str, Any]]:
        """One dict per finished epoch whose checkpoint is on disk, in order."""
        return _read_metrics(self.path / METRICS_FILE)[0][: self.epochs_done]

    def history(self) -> list[EpochStats]:
        """The finished epochs as records, in order (rows that do not read as one end it)."""
        from cnnstudio.training.records import EpochStats

        records: list[EpochStats] = []
        for row in self.metrics():
            try:
                records.append(EpochStats.from_row(row))
            except ValueError:
                break
        return records

    def checkpoint_path(self, which: str = "best") -> Path:
        """best.pt or last.pt; "best" falls back to last.pt when no epoch has finished validation."""
        if which not in ("best", "last"):
            raise ValueError(f"which must be 'best' or 'last', not {which!r}")
        best, last = self.path / BEST_CHECKPOINT, self.path / LAST_CHECKPOINT
        if which == "best" and (best.exists() or not last.exists()):
            return best
        return last


@dataclass(frozen=True)
class UnreadableRun:
    """A folder of the runs directory that looks like a run but cannot be read, and why.

    Listed beside the readable runs (never hiding them) with the same display fields, so a
    table of runs shows it as a row: `status` "unreadable", `problem` the one-line reason
    ("zz/config.json: input_size must be a whole number from 1 to 2,048; got -3").
    """

    path: Path
    name: str
    problem: str
    created: datetime | None = None  # the folder's modification time
    arch: str = "?"
    dataset: str = "?"
    status: str = "unreadable"
    epochs: int = 0
    epochs_done: int = 0
    batches_done: int = 0
    batches_per_epoch: int = 0
    best_val_acc: float | None = None
    skipped_files: int = 0
    scan_summary: str = ""
    problems: tuple[str, ...] = ()
    readable: bool = field(default=False, init=False)

    @property
    def progress_text(self) -> str:
        return self.problem

    @property
    def hyperparameters_text(self) -> str:
        return ""

    def metrics(self) -> list[dict[str, Any]]:
        return []


def _scan_line(scan: dict[str, Any]) -> str:
    line = f"{scan['used']:,} images used"
    if scan["skipped_count"]:
        examples = ", ".join(f"{shown(path)} ({reason})" for path, reason in scan.get("skipped", [])[:5])
        more = scan["skipped_count"] - min(5, len(scan.get("skipped", [])))
        line += f"; skipped {scan['skipped_count']:,} unusable files: {examples}" + (f" and {more:,} more" if more > 0 else "")
    return line


def open_run(path: str | Path) -> RunInfo:
    """Read a run folder's description; CheckpointError (naming the file and field) if it is not a usable run.

    Whatever the folder holds, reading it fails as that one run's CheckpointError: a value no
    check foresaw (a 401-digit number, say) must not become a traceback in `runs`, `compare`,
    `kernels` or a resume, nor hide the other runs of a listing.
    """
    try:
        return _open_run(path)
    except CnnStudioError:
        raise
    except Exception as exc:  # noqa: BLE001 - one bad run never hides the others, whatever it holds
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(f"{shown(str(path))}: cannot be read ({type(exc).__name__}"
                              f"{': ' + first if first else ''})") from None


def _open_run(path: str | Path) -> RunInfo:
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"no run folder at {shown(str(path))}")
    try:
        config = run_files.check_file(path / CONFIG_FILE, run_files.check_config)
        TrainConfig.from_dict(config)  # a config this version cannot read makes the run unusable
    except FileNotFoundError:
        raise CheckpointError(f"{shown(str(path))} is not a cnnstudio run folder (it has no {CONFIG_FILE})") from None
    except CheckpointError:
        raise
    except (CnnStudioError, TypeError, ValueError) as exc:
        raise RunFileError(path / CONFIG_FILE, f"is not a training config ({exc})") from None
    problems: list[str] = []
    try:
        run_files.check_file(path / SPEC_FILE, run_files.check_spec)
    except FileNotFoundError:
        problems.append(f"{SPEC_FILE} is missing: the class names are lost")
    try:
        meta = run_files.check_file(path / RUN_FILE, run_files.check_run_meta)
    except FileNotFoundError:
        meta = {}
    except CheckpointError as exc:
        meta = {}
        problems.append(f"{exc} (the run's status is unknown)")
    try:
        created = datetime.fromisoformat(meta["created"])
    except (KeyError, TypeError, ValueError):
        created = None
    rows, problem = _read_metrics(path / METRICS_FILE)
    if problem:
        problems.append(problem)
    epochs_done, batches_done, batches = _progress(path, meta, rows)
    accs = [row["val_acc"] for row in rows[:epochs_done] if row.get("val_acc") is not None]
    status = str(meta.get("status", "unknown"))
    pid = meta.get("pid")
    host = str(meta.get("host", ""))
    if status == "running" and _writer_gone(path, pid, host):
        status = "interrupted"
    scan = meta.get("scan")
    return RunInfo(
        path=path,
        name=path.name,
        arch=str(config["arch"]),
        dataset=str(config.get("dataset", "?")),
        created=created,
        status=status,
        epochs=int(config.get("epochs", 10)),
        epochs_done=epochs_done,
        best_val_acc=max(accs) if accs else None,
        config_dict=config,
        batches_done=batches_done,
        batches_per_epoch=batches,
        pid=pid,
        host=host,
        reason=str(meta.get("reason", "")),
        skipped_files=int(scan["skipped_count"]) if scan else 0,
        scan_summary=_scan_line(scan) if scan else "",
        problems=tuple(problems),
    )


def _progress(path: Path, meta: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[int, int, int]:
    """(epochs done, batches done in the next epoch, batches per epoch) of the checkpoint on disk.

    run.json says what the last successful save held; a save that failed (a full disk) or
    was killed never got there. Runs written before run.json kept this count their
    history's epochs when a checkpoint exists, and nothing otherwise.
    """
    last, best = meta.get("last"), meta.get("best")
    if last and (path / LAST_CHECKPOINT).is_file():
        return int(last["epoch"]), int(last.get("batch", 0)), int(last.get("batches", 0))
    if best and (path / BEST_CHECKPOINT).is_file():
        return int(best["epoch"]), 0, 0
    if last or best:
        return 0, 0, 0  # recorded, then deleted
    if (path / LAST_CHECKPOINT).is_file() or (path / BEST_CHECKPOINT).is_file():
        return len(rows), 0, 0
    return 0, 0, 0


def _writer_gone(path: Path, pid: Any, host: str) -> bool:
    """Whether the process that marked the run "running" is gone (its lock is free, or its PID is dead here)."""
    locked = run_in_use(path)
    if locked is not None:
        return not locked
    if isinstance(pid, int) and host == socket.gethostname():
        return not _pid_alive(pid)
    return False


def _looks_like_run(folder: Path) -> bool:
    return any((folder / name).exists() or (folder / name).is_symlink() for name in _RUN_FILES)


def list_runs(root: str | Path | None = None) -> list[RunInfo | UnreadableRun]:
    """Every run under `root` (default: default_runs_dir()), newest first, then one
    `UnreadableRun` per folder that holds run files but cannot be read (`readable` tells them
    apart). Folders with no run file at all (and hidden ones) are not runs and are left out.
    """
    root = Path(root) if root is not None else default_runs_dir()
    try:
        children = sorted(p for p in root.iterdir() if not p.name.startswith(".") and p.is_dir())
    except OSError:
        return []
    runs: list[RunInfo] = []
    broken: list[UnreadableRun] = []
    for child in children:
        try:
            runs.append(open_run(child))
        except CnnStudioError as exc:
            if _looks_like_run(child):
                broken.append(_unreadable(child, str(exc)))
        except Exception as exc:  # noqa: BLE001 - a bug here must not hide the others
            broken.append(_unreadable(child, f"{shown(str(child))}: cannot be read ({type(exc).__name__}: {exc})"))
    runs.sort(key=lambda r: (r.created or datetime.min, r.name), reverse=True)
    return [*runs, *broken]


def _unreadable(folder: Path, message: str) -> UnreadableRun:
    # "…/runs/zz/config.json: …" reads better as "zz: config.json …" in a list of folders.
    prefix = shown(str(folder)) + os.sep
    problem = message[len(prefix):] if message.startswith(prefix) else message
    try:
        created: datetime | None = datetime.fromtimestamp(folder.stat().st_mtime)
    except OSError:
        created = None
    return UnreadableRun(path=folder, name=folder.name, problem=problem, created=created)


def load_model(run: RunInfo | str | Path, *, which: str = "best", device: str = "cpu") -> tuple[nn.Module, DatasetSpec, TrainConfig]:
    """Rebuild a run's trained network (eval mode, on `device`) with its dataset spec and config."""
    from cnnstudio.models.registry import build_model
    from cnnstudio.training.store.checkpoints import load_checkpoint, load_model_state

    info = run if isinstance(run, RunInfo) else open_run(run)
    config, spec = info.config, info.spec
    path = info.checkpoint_path(which)
    checkpoint = load_checkpoint(path, map_location="cpu")
    try:
        model = build_model(config.arch, in_channels=spec.channels, num_classes=len(spec.classes), **config.arch_options)
    except ValueError as exc:
        raise CheckpointError(f"{info.path}: cannot rebuild {config.arch}: {exc}") from exc
    load_model_state(model, checkpoint, arch=config.arch, path=path)
    model.eval()
    return model.to(device), spec, config
