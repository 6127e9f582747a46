"""Run folders: where each training leaves its settings, history and checkpoints.

A run folder holds

    run.json        when it was created, by which version, and how it ended
    config.json     the TrainConfig (TrainConfig.from_dict reads it back)
    spec.json       the dataset's spec: channels, class names in index order, mean/std
    metrics.jsonl   one JSON object per finished epoch, appended and fsync'd each epoch
    last.pt         everything needed to resume exactly (model, optimizer, scheduler, AMP
                    scaler, epoch, RNG states, history)
    best.pt         the weights with the best validation accuracy (for classifying)

Every file is written atomically (temp file, fsync, os.replace), so a crash or a full
disk never leaves a half-written file in place of a good one. Listing and opening runs
reads JSON only and never imports torch; `load_model` is the one place that rebuilds a
trained network from a run.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio import __version__
from cnnstudio.errors import CheckpointError
from cnnstudio.training.checkpoints import atomic_write
from cnnstudio.training.config import TrainConfig

if TYPE_CHECKING:
    from torch import nn

    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.training.callbacks import EpochStats

__all__ = [
    "RunInfo",
    "RunWriter",
    "default_runs_dir",
    "new_run_dir",
    "list_runs",
    "open_run",
    "load_model",
]

RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
SPEC_FILE = "spec.json"
METRICS_FILE = "metrics.jsonl"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"


def default_runs_dir() -> Path:
    """Where runs go by default: $CNNSTUDIO_RUNS, else the user data folder's `runs`."""
    override = os.environ.get("CNNSTUDIO_RUNS")
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_path

    return user_data_path("cnnstudio", appauthor=False) / "runs"


def _slug(text: str) -> str:
    """A folder-name-safe version of an arch or dataset name (a dataset may be a path)."""
    name = Path(text.rstrip("/\\")).name or text
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "data"


def new_run_dir(root: str | Path | None = None, *, arch: str, dataset: str) -> Path:
    """Create and return a new, empty run folder named like `2026-11-23_14-05-33_lenet5_mnist-sample`.

    Two runs started in the same second get `_2`, `_3`, … suffixes (mkdir is the arbiter,
    so this holds across processes too).
    """
    root = Path(root) if root is not None else default_runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    base = f"{datetime.now():%Y-%m-%d_%H-%M-%S}_{_slug(arch)}_{_slug(dataset)}"
    for n in range(1, 10_000):
        candidate = root / (base if n == 1 else f"{base}_{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise CheckpointError(f"cannot create a new run folder in {root}: too many runs named {base}")


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    payload = text.encode("utf-8")
    atomic_write(path, lambda handle: handle.write(payload), size_estimate=len(payload))


def _read_json(path: Path) -> Any:
    with path.open("r", encoding="utf-8") as handle:
        return json.load(handle)


class RunWriter:
    """Writes one run folder; used by the trainer, one call per event."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)

    def start(self, config: TrainConfig, spec_dict: dict[str, Any], *, resumed: bool = False) -> None:
        """Write config.json, spec.json and run.json (keeping the creation time when resuming)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        run_file = self.run_dir / RUN_FILE
        created = datetime.now().isoformat(timespec="seconds")
        if resumed and run_file.exists():
            try:
                created = _read_json(run_file).get("created", created)
            except (OSError, ValueError, AttributeError):
                pass  # a damaged run.json is rewritten below; the run itself is fine
        _write_json(self.run_dir / CONFIG_FILE, config.to_dict())
        _write_json(self.run_dir / SPEC_FILE, spec_dict)
        _write_json(run_file, {"created": created, "cnnstudio": __version__, "status": "running", "reason": ""})

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one epoch's metrics as a JSON line, flushed and fsync'd before returning.

        An append cannot be atomic, but a crash can only cut the last line short, and
        `RunInfo.metrics()` skips an unterminated last line.
        """
        path = self.run_dir / METRICS_FILE
        line = json.dumps(row, ensure_ascii=False) + "\n"
        try:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise CheckpointError(f"could not append to {path}: {exc.strerror or exc}") from exc

    def truncate_metrics(self, epochs: int) -> None:
        """Keep only the first `epochs` lines (resuming from a checkpoint older than the log)."""
        path = self.run_dir / METRICS_FILE
        rows = _read_metrics(path)[:epochs]
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
        atomic_write(path, lambda handle: handle.write(text), size_estimate=len(text))

    def save_last(self, payload: dict[str, Any]) -> None:
        """Atomically replace last.pt (the resumable state)."""
        from cnnstudio.training.checkpoints import save_checkpoint

        save_checkpoint(self.run_dir / LAST_CHECKPOINT, payload)

    def save_best(self, payload: dict[str, Any]) -> None:
        """Atomically replace best.pt (weights for inference, no optimizer state)."""
        from cnnstudio.training.checkpoints import save_checkpoint

        save_checkpoint(self.run_dir / BEST_CHECKPOINT, payload)

    def finish(self, status: str, reason: str = "") -> None:
        """Record how the run ended ("finished", "stopped", "failed") in run.json."""
        run_file = self.run_dir / RUN_FILE
        try:
            data = _read_json(run_file)
        except (OSError, ValueError):
            data = {"created": datetime.now().isoformat(timespec="seconds"), "cnnstudio": __version__}
        data.update(status=status, reason=reason)
        _write_json(run_file, data)


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    """The epoch rows of a metrics.jsonl; a cut-short or damaged line ends the list."""
    rows: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return rows
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # the writer died mid-line
        try:
            row = json.loads(line)
        except ValueError:
            break
        if isinstance(row, dict):
            rows.append(row)
    return rows


@dataclass(frozen=True)
class RunInfo:
    """What a run folder says about itself (read from its JSON files; no torch)."""

    path: Path
    name: str
    arch: str
    dataset: str
    created: datetime | None
    status: str  # "running" (or interrupted), "finished", "stopped", "failed"
    epochs: int  # asked for
    epochs_done: int
    best_val_acc: float | None  # fraction 0..1
    config_dict: dict[str, Any]

    @property
    def config(self) -> TrainConfig:
        """The run's TrainConfig."""
        return TrainConfig.from_dict(self.config_dict)

    @property
    def spec(self) -> DatasetSpec:
        """The run's DatasetSpec (class names in the model's index order)."""
        from cnnstudio.data.spec import DatasetSpec

        try:
            return DatasetSpec.from_dict(_read_json(self.path / SPEC_FILE))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{self.path / SPEC_FILE} is missing or damaged; the run's class names are lost") from exc

    def metrics(self) -> list[dict[str, Any]]:
        """One dict per finished epoch, in order."""
        return _read_metrics(self.path / METRICS_FILE)

    def history(self) -> list[EpochStats]:
        """The finished epochs as records, in order (rows that do not read as one end it)."""
        from cnnstudio.training.callbacks import EpochStats

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


def open_run(path: str | Path) -> RunInfo:
    """Read a run folder's description; CheckpointError if it is not a usable run folder."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"no run folder at {path}")
    try:
        config = _read_json(path / CONFIG_FILE)
        TrainConfig.from_dict(config)  # a config this version cannot read makes the run unusable
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path} is not a cnnstudio run folder (it has no {CONFIG_FILE})") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{path / CONFIG_FILE} is damaged: {exc}") from exc
    try:
        meta = _read_json(path / RUN_FILE)
        if not isinstance(meta, dict):
            meta = {}
    except (OSError, ValueError):
        meta = {}
    try:
        created = datetime.fromisoformat(meta["created"])
    except (KeyError, TypeError, ValueError):
        created = None
    rows = _read_metrics(path / METRICS_FILE)
    accs = [row["val_acc"] for row in rows if isinstance(row.get("val_acc"), (int, float))]
    return RunInfo(
        path=path,
        name=path.name,
        arch=str(config.get("arch", "?")),
        dataset=str(config.get("dataset", "?")),
        created=created,
        status=str(meta.get("status", "unknown")),
        epochs=int(config.get("epochs", 0)),
        epochs_done=max((int(row.get("epoch", 0)) for row in rows), default=0),
        best_val_acc=max(accs) if accs else None,
        config_dict=config,
    )


def list_runs(root: str | Path | None = None) -> list[RunInfo]:
    """Every readable run under `root` (default: default_runs_dir()), newest first; broken folders are skipped."""
    root = Path(root) if root is not None else default_runs_dir()
    try:
        children: Iterable[Path] = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []
    runs = []
    for child in children:
        try:
            runs.append(open_run(child))
        except (CheckpointError, OSError, ValueError, TypeError):
            continue
    return sorted(runs, key=lambda r: (r.created or datetime.min, r.name), reverse=True)


def load_model(run: RunInfo | str | Path, *, which: str = "best", device: str = "cpu") -> tuple[nn.Module, DatasetSpec, TrainConfig]:
    """Rebuild a run's trained network (eval mode, on `device`) with its dataset spec and config."""
    from cnnstudio.models.registry import build_model
    from cnnstudio.training.checkpoints import load_checkpoint, load_model_state

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
