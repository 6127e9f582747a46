"""The four files of a run folder read as untrusted input: safe reads and one schema each.

A run folder may have been copied, hand-edited, cut short by a crash or planted by
someone else, so nothing read from it is trusted: each file is read only if it is a
regular file under a size cap (a FIFO would block, `/dev/zero` would never end), decoded
as UTF-8, parsed as JSON with its nesting bounded (a `[[[[…` file must not raise
`RecursionError`), then checked field by field — types, ranges, sizes — against the
schema of that file. A failure is a `RunFileError` (a `CheckpointError`) whose message
names the file and the field: "zz/config.json: input_size must be a whole number from 1
to 2048; got -3".

    config.json    check_config(data)      -> the TrainConfig's dict
    spec.json      check_spec(data)        -> the DatasetSpec's dict
    run.json       check_run_meta(data)    -> the run's state (status, pid, progress, scan)
    metrics.jsonl  check_metrics_row(row)  -> one finished epoch

`TrainConfig.validate()` runs `check_config_fields` too, so every config the trainer
writes passes the schema it is read back with. Torch-free: listing runs never waits for torch.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnstudio.errors import CheckpointError
from cnnstudio.files import file_kind, readable
from cnnstudio.training.fields import (
    MAX_INPUT_SIZE, MAX_TEXT, SchemaError, check_config_fields, finite, need_bool, need_choice, need_int,
    need_number, need_object, need_str, show,
)

__all__ = [
    "MAX_INPUT_SIZE",
    "RunFileError",
    "SchemaError",
    "check_config",
    "check_config_fields",
    "check_metrics_row",
    "check_run_meta",
    "check_spec",
    "parse_json",
    "read_json_file",
    "read_regular_file",
    "readable",
]

MAX_JSON_DEPTH = 16
KiB, MiB = 1024, 1024 * 1024
#: Size caps per file; a metrics line is one epoch, a few hundred bytes.
SIZE_LIMITS = {"config.json": 256 * KiB, "spec.json": 16 * MiB, "run.json": 1 * MiB, "metrics.jsonl": 64 * MiB}
MAX_METRICS_LINE = 64 * KiB
MAX_CLASSES = 100_000


class RunFileError(CheckpointError):
    """A run folder's file that cannot be used; names the file (and the field when there is one)."""

    def __init__(self, path: str | os.PathLike[str], problem: str, field: str = "") -> None:
        self.path = Path(path)
        self.field = field
        self.problem = problem
        where = readable(os.fspath(path))
        super().__init__(f"{where}: {field} {problem}" if field else f"{where} {problem}")


# -- reading ------------------------------------------------------------------------------------


def read_regular_file(path: str | os.PathLike[str], *, limit: int) -> bytes:
    """The bytes of `path` if it is a regular file of at most `limit` bytes.

    Opened non-blocking and checked with `fstat` on the open descriptor, so a FIFO, a
    device or a link to one is refused without ever blocking or reading it, and the size
    check cannot be raced. `FileNotFoundError` passes through (callers decide whether a
    missing file is an error); other failures are `RunFileError`.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RunFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise RunFileError(path, f"is not a regular file (it is {file_kind(st.st_mode)}) — it was not written by cnnstudio")
        if st.st_size > limit:
            raise RunFileError(path, f"is too large ({_size(st.st_size)}; at most {_size(limit)}) — cnnstudio never writes one that large")
        chunks, total = [], 0
        while total <= limit:  # the size can lie (a file still growing, /proc): read at most limit + 1
            chunk = os.read(fd, min(1 * MiB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise RunFileError(path, f"is too large (over {_size(limit)}) — cnnstudio never writes one that large")
        return b"".join(chunks)
    except OSError as exc:
        raise RunFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def _size(n: int) -> str:
    return f"{n / MiB:.1f} MB" if n >= MiB else f"{n / KiB:.0f} KB"


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def _max_depth(text: str) -> int:
    """How deeply `text`'s arrays and objects nest (strings skipped), counted without recursion."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # the common case costs two counts
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRING.sub('""', text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_json(data: bytes, path: str | os.PathLike[str]) -> Any:
    """`data` (a whole file or one line) as JSON; `RunFileError` naming `path` for bad text or nesting."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunFileError(path, f"is not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x})") from None
    if _max_depth(text) > MAX_JSON_DEPTH:
        raise RunFileError(path, f"nests more than {MAX_JSON_DEPTH} levels deep — cnnstudio never writes one so deep")
    try:
        return json.loads(text)
    except RecursionError:  # belt and braces: the depth check above should make this unreachable
        raise RunFileError(path, "nests too deeply — cnnstudio never writes one so deep") from None
    except ValueError as exc:
        raise RunFileError(path, f"is not valid JSON ({exc})") from None


def read_json_file(path: str | os.PathLike[str], *, limit: int | None = None) -> Any:
    """Read and parse one JSON file of a run folder (size cap by its name unless `limit` is given)."""
    name = Path(path).name
    return parse_json(read_regular_file(path, limit=limit or SIZE_LIMITS.get(name, 1 * MiB)), path)


def check_file(path: str | os.PathLike[str], check: Callable[[Any], Any]) -> Any:
    """Read `path` and run its schema `check`, turning a `SchemaError` into a `RunFileError` naming the file."""
    data = read_json_file(path)
    try:
        return check(data)
    except SchemaError as exc:
        raise RunFileError(path, exc.problem, exc.field) from None


# -- small typed checks ---------------------------------------------------------------------------


def check_config(data: Any) -> dict[str, Any]:
    """config.json: a training config (a JSON object of known settings, each of the right type and range)."""
    need_object("", data, "a training config")
    if "arch" not in data:
        raise SchemaError("arch", "is missing: this is not a training config")
    check_config_fields(data)
    return data


# -- spec.json ------------------------------------------------------------------------------------


def check_spec(data: Any) -> dict[str, Any]:
    """spec.json: the dataset's name, channels, class names (index order), per-channel mean/std, native size."""
    need_object("", data, "a dataset description")
    for key in ("name", "channels", "classes", "mean", "std", "native_size"):
        if key not in data:
            raise SchemaError(key, "is missing: this is not a dataset description")
    need_str("name", data["name"])
    channels = data["channels"]
    if channels not in (1, 3) or isinstance(channels, bool):
        raise SchemaError("channels", f"must be 1 or 3; got {show(channels)}")
    classes = data["classes"]
    if not isinstance(classes, list) or not 1 <= len(classes) <= MAX_CLASSES:
        raise SchemaError("classes", f"must be a list of 1 to {MAX_CLASSES:,} class names; got {show(classes)}")
    for i, name in enumerate(classes):
        need_str(f"classes[{i}]", name, max_len=1024)
    if len(set(classes)) != len(classes):
        raise SchemaError("classes", "names a class twice — the model's outputs would be ambiguous")
    for key, low, low_open in (("mean", 0.0, False), ("std", 0.0, True)):
        values = data[key]
        if not isinstance(values, list) or len(values) != channels:
            raise SchemaError(key, f"must list one number per channel ({channels}); got {show(values)}")
        for i, value in enumerate(values):
            need_number(f"{key}[{i}]", value, low, 1.0, low_open=low_open)
    need_int("native_size", data["native_size"], 1, 65_536)
    return data


# -- run.json -------------------------------------------------------------------------------------

STATUSES = ("running", "finished", "stopped", "failed")


def check_run_meta(data: Any) -> dict[str, Any]:
    """run.json: creation time, version, status and reason, the writer's PID and host, the
    progress of the checkpoint on disk and the folder scan's report (all optional but typed)."""
    need_object("", data, "a run record")
    if "created" in data:
        need_str("created", data["created"], max_len=64)
    if "cnnstudio" in data:
        need_str("cnnstudio", data["cnnstudio"], max_len=64)
    if "status" in data:
        need_choice("status", data["status"], STATUSES)
    if "reason" in data:
        need_str("reason", data["reason"], max_len=MAX_TEXT, allow_empty=True)
    if "pid" in data:
        need_int("pid", data["pid"], 1, 2**31 - 1)
    if "host" in data:
        need_str("host", data["host"], max_len=256)
    for key in ("last", "best"):  # what the checkpoint files held when they were last saved
        if data.get(key) is None:
            continue
        point = need_object(key, data[key], "a checkpoint's progress")
        need_int(f"{key}.epoch", point.get("epoch"), 0, 1_000_000)
        need_int(f"{key}.batch", point.get("batch", 0), 0, 100_000_000)
        need_int(f"{key}.batches", point.get("batches", 0), 0, 100_000_000)
        if point.get("batch", 0) > point.get("batches", 0):
            raise SchemaError(f"{key}.batch", "is past the epoch's last batch")
    if data.get("scan") is not None:
        scan = need_object("scan", data["scan"], "a folder scan's report")
        need_int("scan.used", scan.get("used"), 0, 1_000_000_000)
        need_int("scan.skipped_count", scan.get("skipped_count"), 0, 1_000_000_000)
        skipped = scan.get("skipped", [])
        if not isinstance(skipped, list) or len(skipped) > 100:
            raise SchemaError("scan.skipped", "must be a list of at most 100 [file, reason] pairs")
        for i, pair in enumerate(skipped):
            if not isinstance(pair, list) or len(pair) != 2:
                raise SchemaError(f"scan.skipped[{i}]", "must be a [file, reason] pair")
            need_str(f"scan.skipped[{i}][0]", pair[0])
            need_str(f"scan.skipped[{i}][1]", pair[1], max_len=1024)
    return data


# -- metrics.jsonl --------------------------------------------------------------------------------

_FRACTIONS = ("train_acc", "val_acc", "val_top5")
_LOSSES = ("train_loss", "val_loss", "aux1_loss", "aux2_loss")


def check_metrics_row(row: Any, *, previous_epoch: int = 0) -> dict[str, Any]:
    """One metrics.jsonl line: a finished epoch, numbered right after the previous one.

    Accuracies are fractions 0..1 or null (no validation); a non-finite one (NaN, as an
    older version could write) is read as null, so it is never shown as "nan %" nor ranked.
    """
    need_object("", row, "an epoch's metrics")
    need_int("epoch", row.get("epoch"), 1, 1_000_000)
    if row["epoch"] != previous_epoch + 1:
        raise SchemaError("epoch", f"is {row['epoch']} after epoch {previous_epoch} — the history is out of order")
    clean = dict(row)
    for key in _FRACTIONS + _LOSSES + ("lr", "seconds", "images_per_s"):
        value = row.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(key, f"must be a number or null; got {show(value)}")
        if not finite(value):
            clean[key] = None
        elif key in _FRACTIONS:
            need_number(key, value, 0.0, 1.0)
        elif value < 0:
            raise SchemaError(key, f"must not be negative; got {show(value)}")
    if "epochs" in row:
        need_int("epochs", row["epochs"], 1, 1_000_000)
    if "batch_size" in row:
        need_int("batch_size", row["batch_size"], 1, 65_536)
    if "is_best" in row:
        need_bool("is_best", row["is_best"])
    return clean
