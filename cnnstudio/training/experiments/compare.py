"""Runs side by side: the comparison table, the settings that tell runs apart, smoothed curves.

Torch-free (numpy only), so the command line's `sweep`/`compare` and the window's compare
view read many run folders quickly. Everything here reads finished epochs from the run
folders (`RunInfo.history()`), so a run still training compares as far as it has got.

- `comparison_rows(runs, baseline=None) -> list[ComparisonRow]`: one row per run with its best
  top-1/top-5, time, speed and the settings in which the runs differ (`differing_settings`);
  `compare_rows(rows, baseline=None)` names the differences again among some of them (the
  runs a filtered table shows).
- `RunCache`: each run's history and curves, read again only when its metrics.jsonl changed
  (the window's compare view refreshes while a run trains; thread-safe).
- `format_table(rows)` (the CLI's text table) and `write_csv(rows, path)` (atomic).
- `run_curves(run) -> RunCurves`: the per-epoch series, with cumulative wall time.
- `smooth_ema(values, weight)`: TensorBoard's debiased exponential moving average
  (tensorboard PR #639), applied to the full series before any downsampling.
"""

from __future__ import annotations

import csv
import io
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio.training.records import best_epoch

__all__ = [
    "ComparisonRow",
    "RunCurves",
    "comparison_rows",
    "differing_settings",
    "format_table",
    "group_by_dataset",
    "write_csv",
    "run_curves",
    "smooth_ema",
    "SORT_KEYS",
    "sort_rows",
    "csv_text",
    "compare_rows",
    "RunCache",
    "SERIES",
]

# Settings that never explain a difference in results (where it ran, how it reported), or that
# the row shows in its own column: left out of "what differs".
_NOT_A_DIFFERENCE = frozenset({
    "arch", "dataset", "epochs", "data_root", "device", "num_threads", "progress_interval",
    "weights_source", "pretrained_weights", "amp", "channels_last", "compile", "history", "dynamics",
})


@dataclass(frozen=True)
class ComparisonRow:
    """One run in a comparison: what it was and how well it did (accuracies are fractions)."""

    path: Path
    name: str
    arch: str
    variant: str
    dataset: str
    status: str
    epochs_done: int
    epochs: int
    differs: Mapping[str, Any]  # setting -> this run's value, for the settings the runs differ in
    best_top1: float | None
    best_top5: float | None
    best_epoch: int | None
    train_seconds: float  # the epochs' own time, pauses excluded
    images_per_s: float | None  # the median epoch's training speed
    delta_top1: float | None = None  # best top-1 minus the baseline's (None without a baseline)
    created: str = ""
    # Every setting that could tell this run from another (arch options by name, then training
    # settings; `_flat_settings`): what `compare_rows` picks `differs` from.
    settings: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Of `differs`, the settings where this run leaves the usual value (the baseline's, or the one
    # most runs share): the tricks study's `activation=relu` alone, not every run's activation.
    distinct: Mapping[str, Any] = field(default_factory=dict)

    @property
    def differs_text(self) -> str:
        """`batch_norm=on, lr=0.01` — or "baseline"-free "–" when nothing differs."""
        return ", ".join(f"{key}={_show(value)}" for key, value in self.differs.items()) or "–"

    @property
    def distinct_text(self) -> str:
        """`activation=relu` — what sets this run apart; "–" for a run with the usual settings."""
        return ", ".join(f"{key}={_show(value)}" for key, value in self.distinct.items()) or "–"

    @property
    def settings_text(self) -> str:
        """Every setting as `key=value`, the same way `differs_text` writes them (what a filter matches)."""
        return ", ".join(f"{key}={_show(value)}" for key, value in self.settings.items())


@dataclass(frozen=True)
class RunCurves:
    """A run's finished epochs as arrays (NaN where a value is missing, e.g. no validation)."""

    label: str
    epoch: np.ndarray
    wall_s: np.ndarray  # cumulative training time at each epoch's end
    train_loss: np.ndarray
    val_loss: np.ndarray
    train_acc: np.ndarray
    val_acc: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def series(self, name: str) -> np.ndarray:
        """One of train_loss, val_loss, train_acc, val_acc."""
        if name not in SERIES:
            raise ValueError(f"unknown series {name!r}; choose from {', '.join(SERIES)}")
        return getattr(self, name)


SERIES = ("train_loss", "val_loss", "train_acc", "val_acc")
# The table's sort keys, each with whether larger is better (sorted first).
SORT_KEYS = {"best_top1": True, "best_top5": True, "delta_top1": True, "train_seconds": False,
             "images_per_s": True, "epochs_done": True, "name": False}


def _flat_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """A run's config as one level: arch options by their own name, the rest as they are."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if key == "arch_options":
            for option, option_value in (value or {}).items():
                flat[option] = option_value
        elif key not in _NOT_A_DIFFERENCE:
            flat[key] = tuple(value) if isinstance(value, list) else value
    return flat


def differing_settings(configs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The settings (arch options by name, then training settings) whose values are not all equal."""
    return _differing_keys([_flat_settings(c) for c in configs])


def _differing_keys(flats: Sequence[Mapping[str, Any]]) -> list[str]:
    keys: list[str] = []
    for flat in flats:
        keys.extend(k for k in flat if k not in keys)
    missing = object()
    return [k for k in keys if len({repr(f.get(k, missing)) for f in flats}) > 1]


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def comparison_rows(runs: Sequence[Any], *, baseline: str | Path | None = None) -> list[ComparisonRow]:
    """One row per readable run (unreadable ones are skipped), in the order given.

    `baseline` is a run folder among `runs`; each row's `delta_top1` is then its best top-1
    minus the baseline's — "which trick helped most".
    """
    readable = [run for run in runs if getattr(run, "readable", True)]
    return compare_rows([comparison_row(run) for run in readable], baseline=baseline)


def comparison_row(run: Any, history: Sequence[Any] | None = None) -> ComparisonRow:
    """One run's row on its own (`differs` empty until `compare_rows` sets it among others).

    `history` is the run's `EpochStats` when the caller has read them already (`RunCache`).
    """
    history = run.history() if history is None else history
    best = best_epoch(history)  # the epoch best.pt holds: on a tie the first
    best_top1, best_at = (best.val_acc, best.epoch) if best else (None, None)
    top5s = [s.val_top5 for s in history if s.val_top5 is not None and math.isfinite(s.val_top5)]
    speeds = [s.images_per_s for s in history if math.isfinite(s.images_per_s) and s.images_per_s > 0]
    return ComparisonRow(
        path=Path(run.path), name=run.name, arch=run.arch, variant=run.variant, dataset=run.dataset,
        status=run.status, epochs_done=len(history), epochs=run.epochs, differs={},
        best_top1=_finite(best_top1), best_top5=max(top5s) if top5s else None, best_epoch=best_at,
        train_seconds=float(sum(s.seconds for s in history)),
        images_per_s=float(np.median(speeds)) if speeds else None,
        created=run.created.isoformat(timespec="seconds") if run.created else "",
        settings=_flat_settings(_resolved_config(run)),
    )


def compare_rows(rows: Sequence[ComparisonRow], *, baseline: str | Path | None = None) -> list[ComparisonRow]:
    """The rows with `differs` naming the settings in which just these rows differ, `distinct`
    those where each leaves the usual value, and `delta_top1` against `baseline` (a run folder
    among them; none: every delta is None).

    The usual value of a setting is the baseline's; without one, the value more runs share
    than any other (when no value is, as in a sweep of two learning rates, every run shows its own).
    """
    keys = _differing_keys([r.settings for r in rows])
    base = None
    if baseline is not None:
        base = next((r for r in rows if r.path.resolve() == Path(baseline).resolve()), None)
    base_top1 = base.best_top1 if base is not None else None
    usual = {key: _usual([r.settings.get(key) for r in rows]) if base is None else (True, base.settings.get(key))
             for key in keys}
    # A setting the run's architecture does not have (VGG beside LeNet's activation and pool)
    # is no difference of that run: it would read "activation=none".
    return [replace(r, differs={k: r.settings.get(k) for k in keys if k in r.settings},
                    distinct={k: r.settings.get(k) for k in keys if k in r.settings
                              and (not usual[k][0] or repr(r.settings.get(k)) != repr(usual[k][1]))},
                    delta_top1=None if base_top1 is None or r.best_top1 is None else r.best_top1 - base_top1)
            for r in rows]


def _usual(values: Sequence[Any]) -> tuple[bool, Any]:
    """(True, the value more of `values` hold than any other) — or (False, None) on a tie."""
    counts: dict[str, tuple[int, Any]] = {}
    for value in values:
        n, _ = counts.get(repr(value), (0, value))
        counts[repr(value)] = (n + 1, value)
    ranked = sorted(counts.values(), key=lambda item: -item[0])
    if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
        return False, None
    return True, ranked[0][1]


def _resolved_config(run: Any) -> dict[str, Any]:
    """The run's config with every arch option as the network has it: a default left out equals
    one written, and a switch that sets others (the tricks CNN's all_tricks) shows what it set."""
    config = dict(run.config_dict)
    try:
        from cnnstudio.models.catalog import get_info

        info = get_info(run.arch)
    except Exception:  # noqa: BLE001 - an arch the catalog lacks compares by what was written
        info = None
    options = {**({spec.name: spec.default for spec in info.options} if info else {}),
               **(config.get("arch_options") or {})}
    for switch, _implied in (info.implied if info else ()):
        if options.get(switch):
            options.update(info.implied_by(switch))
    config["arch_options"] = options
    return config


def sort_rows(rows: Sequence[ComparisonRow], key: str = "best_top1") -> list[ComparisonRow]:
    """Best first for figures where larger is better; rows without the figure last."""
    if key not in SORT_KEYS:
        raise ValueError(f"unknown sort key {key!r}; choose from {', '.join(SORT_KEYS)}")
    larger_first = SORT_KEYS[key]
    present = [r for r in rows if getattr(r, key) is not None]
    absent = [r for r in rows if getattr(r, key) is None]
    return sorted(present, key=lambda r: getattr(r, key), reverse=larger_first) + absent


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return "+".join(map(str, value)) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def _percent(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value * 100:+.1f}" if signed else f"{value * 100:.1f}"


CSV_COLUMNS = ("run", "arch", "variant", "dataset", "status", "epochs_done", "epochs", "differs",
               "best_top1", "best_top5", "best_epoch", "delta_top1", "train_seconds", "images_per_s", "path")


def _csv_record(row: ComparisonRow) -> list[Any]:
    def blank(value: Any) -> Any:
        return "" if value is None else value

    def fraction(value: float | None) -> Any:  # 0.018, not 0.018000000000000016
        return "" if value is None else round(value, 6)

    from cnnstudio.files import readable

    # Names from the file system as everywhere else: a byte that is not UTF-8 as \xe9, an
    # escape code as \x1b — the file is UTF-8 text that is safe to print.
    return [readable(row.name), readable(row.arch), readable(row.variant), readable(row.dataset), row.status,
            row.epochs_done, row.epochs, readable(row.distinct_text), fraction(row.best_top1),
            fraction(row.best_top5), blank(row.best_epoch), fraction(row.delta_top1), f"{row.train_seconds:.3f}",
            "" if row.images_per_s is None else f"{row.images_per_s:.1f}", readable(str(row.path))]


def csv_text(rows: Sequence[ComparisonRow]) -> str:
    """The table as CSV (accuracies as fractions, time in seconds): what `write_csv` writes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_record(row) for row in rows)
    return buffer.getvalue()


def write_csv(rows: Sequence[ComparisonRow], path: str | Path) -> Path:
    """Write the table as CSV atomically (`checkpoints.atomic_write`: a temp file, then a rename)."""
    from cnnstudio.files import atomic_write

    path = Path(path)
    data = csv_text(rows).encode("utf-8")
    atomic_write(path, lambda handle: handle.write(data), size_estimate=len(data))
    return path


def format_table(rows: Sequence[ComparisonRow], *, names: Mapping[Path, str] | None = None,
                 baseline: str | Path | None = None) -> str:
    """The comparison as aligned text, one line per run in the order given. A run is named by
    `names` (a sweep's labels: "baseline", "leaky_relu"), else by its folder, which tells apart
    runs of one variant; the `baseline` run says so."""
    from cnnstudio.files import readable

    base = Path(baseline).resolve() if baseline is not None else None

    def name(r: ComparisonRow) -> str:
        text = (names or {}).get(r.path) or r.name
        return f"{text} (baseline)" if base is not None and r.path.resolve() == base and text != "baseline" else text

    has_delta = any(r.delta_top1 is not None for r in rows)
    # Runs of several datasets: each names its own (accuracies on different data do not rank).
    datasets = len({r.dataset for r in rows}) > 1
    header = ["run"] + (["dataset"] if datasets else []) + ["differs", "epochs", "top-1 %", "top-5 %"] + \
        (["Δ top-1"] if has_delta else []) + ["time", "images/s", "status"]
    lines = []
    for r in rows:
        cells = [readable(name(r))] + ([readable(Path(r.dataset).name or r.dataset)] if datasets else []) + \
            [readable(r.distinct_text), f"{r.epochs_done}/{r.epochs}", _percent(r.best_top1), _percent(r.best_top5)]
        if has_delta:
            cells.append(_percent(r.delta_top1, signed=True))
        cells += [_duration(r.train_seconds), "–" if r.images_per_s is None else f"{r.images_per_s:,.0f}", r.status]
        lines.append(cells)
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines)]
    numeric = {i + int(datasets) for i in ({2, 3, 4, 5, 6, 7} if has_delta else {2, 3, 4, 5, 6})}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in numeric else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(c) for c in lines)])


def group_by_dataset(rows: Sequence[ComparisonRow]) -> list[ComparisonRow]:
    """The rows with each dataset's together, in the order of their best row (stable within one):
    runs on different data are ranked among their own."""
    first: dict[str, int] = {}
    for i, row in enumerate(rows):
        first.setdefault(row.dataset, i)
    return sorted(rows, key=lambda row: first[row.dataset])


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_curves(run: Any, label: str | None = None, history: Sequence[Any] | None = None) -> RunCurves:
    """A run's finished epochs as arrays; `wall_s` is the cumulative time at each epoch's end."""
    history = run.history() if history is None else history

    def column(values: Sequence[float | None]) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

    return RunCurves(
        label=label if label is not None else run.variant,
        epoch=column([s.epoch for s in history]),
        wall_s=np.cumsum(column([s.seconds for s in history])),
        train_loss=column([s.train_loss for s in history]),
        val_loss=column([s.val_loss for s in history]),
        train_acc=column([s.train_acc for s in history]),
        val_acc=column([s.val_acc for s in history]),
    )


class RunCache:
    """Each run's row and curves, read from its history again only when the history changed.

    Keyed by the run folder and its metrics.jsonl's modification time and size (and the
    checkpoint's epoch count, which caps the history), so a refresh while one run trains
    re-reads that run alone and hands back the very same `RunCurves` object for the others
    (a view can skip redrawing them by identity). Safe to use from several threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Path, tuple[tuple[Any, ...], list[Any], RunCurves]] = {}
        self.reads = 0  # histories read so far (what the cache saves shows here)

    @staticmethod
    def _stamp(run: Any) -> tuple[Any, ...]:
        from cnnstudio.training.store.runs import METRICS_FILE

        try:
            stat = (Path(run.path) / METRICS_FILE).stat()
            return stat.st_mtime_ns, stat.st_size, run.epochs_done, run.variant
        except OSError:
            return None, None, run.epochs_done, run.variant

    def read(self, run: Any) -> tuple[ComparisonRow, RunCurves]:
        """The run's own row (`comparison_row`) and its curves, from the cache when unchanged."""
        path, stamp = Path(run.path), self._stamp(run)
        with self._lock:
            entry = self._entries.get(path)
        if entry is None or entry[0] != stamp:
            history = run.history()
            entry = (stamp, history, run_curves(run, history=history))
            with self._lock:
                self._entries[path] = entry
                self.reads += 1
        # The row is rebuilt every time: its status and epochs come from run.json, not the history.
        return comparison_row(run, entry[1]), entry[2]

    def read_all(self, runs: Sequence[Any]) -> tuple[list[ComparisonRow], dict[Path, RunCurves]]:
        """Rows (`differs` among all of them) and curves by run folder, for the readable runs;
        runs no longer given are forgotten."""
        rows, curves = [], {}
        for run in runs:
            if getattr(run, "readable", True):
                try:
                    row, curves[row.path] = self.read(run)
                except Exception:  # noqa: BLE001 - one run that cannot be read (it is listed) never empties the table
                    continue
                rows.append(row)
        with self._lock:
            for path in set(self._entries) - set(curves):
                del self._entries[path]
        return compare_rows(rows), curves


def smooth_ema(values: Sequence[float] | np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased EMA: `last = w·last + (1−w)·x; shown = last / (1 − wⁿ)`.

    `weight` in [0, 1); 0 returns the values unchanged. NaN/Inf points stay as they are and
    do not move the average (a missing validation is not a zero). The debiasing makes the first
    points the data's own rather than dragged towards 0, as a plain EMA started at 0 would.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be from 0 to below 1; got {weight}")
    data = np.asarray(values, dtype=np.float64)
    out = data.copy()
    if weight == 0.0 or data.size == 0:
        return out
    last, n = 0.0, 0
    for i, x in enumerate(data):
        if not math.isfinite(x):
            continue
        last = weight * last + (1.0 - weight) * x
        n += 1
        out[i] = last / (1.0 - weight ** n)
    return out
