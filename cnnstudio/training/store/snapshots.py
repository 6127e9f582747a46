"""A run's history across training: the first conv layer's kernels and a few probe images'
feature maps, snapshotted at fixed moments, so a view can scrub how the network formed.

The fit's `SnapshotRecorder` (`training/fit/snapshot_writer.py`) writes it, in `RUN/history/`:

    probes.npz              the probe images, chosen once at the first fit's start: one validation
                            image per class (the first `MAX_PROBES` classes), the lowest index of
                            each, as uint8 N×C×S×S exactly as the network sees them; labels, indices
    e0001-b0000000.npz      a snapshot: epoch 1 before its first batch (the initial weights)
    e0001-b0000010.npz      epoch 1 after 10 batches (also after 1 and 100: learning changes fastest then)
    e0003-b0000036.npz      the end of epoch 3 (batch = the epoch's batch count)

A snapshot holds `kernels` (the first conv layer's weights, fp16 O×I×kh×kw) and, for the first
`MAP_LAYERS` conv layers larger than 1×1, the probes' feature maps as uint8 with each map's own
(min, max) — at most `MAX_MAP_CHANNELS` maps per layer (the first ones: map i of the first layer
is kernel i's answer), average-pooled down to at most `MAX_MAP_SIDE` pixels a side — plus a
JSON `meta` (epoch, batch, batches per epoch, global step, wall time). So a snapshot is bounded
whatever the network: VGG-16 at 224 px with 10 probes stores ≤ 0.33 MB per snapshot (measured
and stated in the README against its checkpoint).

Every file is written atomically (temp name starting with "." + os.replace), named by its place
in training, so a resume that redoes an epoch writes the same names again; a resume first drops
the snapshots later than its checkpoint (they belong to training that is being redone). A
reader ignores temp files and reports (never raises on) a file it cannot read; it reads while
the run trains. This module (the format and its readers) imports numpy only.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio.files import npz_header, remove_own_files
from cnnstudio.files import readable as shown

__all__ = [
    "HISTORY_DIR",
    "PROBES_FILE",
    "EARLY_BATCHES",
    "MAX_PROBES",
    "MAX_MAP_CHANNELS",
    "MAX_MAP_SIDE",
    "MAP_LAYERS",
    "Snapshot",
    "HistoryListing",
    "Probes",
    "list_snapshots",
    "read_kernels",
    "read_maps",
    "read_probes",
    "history_bytes",
]

HISTORY_DIR = "history"
PROBES_FILE = "probes.npz"
FORMAT = 1
EARLY_BATCHES = (1, 10, 100)  # epoch 1's batches after which a snapshot is taken (those before its end)
MAX_PROBES = 10  # one probe per class, for the first this many classes (CIFAR-100: classes 0-9)
MAX_MAP_CHANNELS = 16
MAX_MAP_SIDE = 32
MAP_LAYERS = 2
MAX_FILE_BYTES = 64 * 1024 * 1024  # no snapshot comes near this: anything bigger is not one
_NAME = re.compile(r"^e(\d{1,6})-b(\d{1,9})\.npz$")


def snapshot_name(epoch: int, batch: int) -> str:
    return f"e{epoch:04d}-b{batch:07d}.npz"


# -- reading (numpy only) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One moment of a run's history (read from its file's `meta`; the arrays are read on demand)."""

    path: Path
    epoch: int  # the epoch it is in (1-based)
    batch: int  # batches of that epoch trained before it: 0 = the initial weights, `batches` = the epoch's end
    batches: int  # batches per epoch then
    global_step: int  # optimizer steps before it, all epochs
    time: float  # wall time it was taken (Unix seconds)
    kernel_layer: str
    map_layers: tuple[str, ...]
    map_shapes: tuple[tuple[int, int, int], ...]  # each map layer's whole output per image (C, H, W), before the caps
    kernel_shape: tuple[int, ...] = ()  # the stored kernels' O×I×kh×kw, from the file's header (nothing decoded)

    @property
    def x(self) -> float:
        """Its place on an epoch axis, as the Training tab plots: 0 the start, 3.0 epoch 3's end."""
        return (self.epoch - 1) + self.batch / max(self.batches, 1)

    @property
    def epoch_end(self) -> bool:
        return self.batch >= self.batches > 0

    @property
    def label(self) -> str:
        """For people: "initial weights", "epoch 1, batch 10 of 36", "epoch 3"."""
        if self.batch == 0 and self.epoch == 1:
            return "initial weights"
        if self.epoch_end:
            return f"epoch {self.epoch}"
        return f"epoch {self.epoch}, batch {self.batch:,} of {self.batches:,}"


@dataclass(frozen=True)
class HistoryListing:
    """A run's snapshots in training order, and a line per file that could not be read."""

    snapshots: tuple[Snapshot, ...]
    problems: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.snapshots)

    def nearest(self, x: float) -> int:
        """The index of the snapshot nearest to `x` on the epoch axis (-1 when there is none)."""
        if not self.snapshots:
            return -1
        return min(range(len(self.snapshots)), key=lambda i: abs(self.snapshots[i].x - x))


@dataclass(frozen=True)
class Probes:
    """The run's probe images: uint8 N×C×S×S as the network sees them, their labels and validation indices."""

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    split: str  # "validation", or "training" when the run has no validation images


def history_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / HISTORY_DIR


def remove_history(run_dir: str | Path) -> None:
    """Delete a run's history — its snapshots, probes and temp files, never anything else — and
    the folder when that empties it (a start undone, a run begun again from nothing)."""
    remove_own_files(history_dir(run_dir), lambda name: bool(_NAME.match(name)) or name == PROBES_FILE
                     or (name.startswith(".") and name.endswith(".tmp")))


def _open_npz(path: Path) -> Any:
    """`np.load` of a regular file under the size cap (a FIFO or a huge file is refused unread)."""
    info = os.stat(path, follow_symlinks=False)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise ValueError(f"{info.st_size:,} bytes: too big to be a snapshot")
    return np.load(path, allow_pickle=False)


def _meta(npz: Any) -> dict[str, Any]:
    meta = json.loads(bytes(npz["meta"]).decode("utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError("not a cnnstudio history snapshot of a known format")
    return meta


def _whole(meta: dict[str, Any], key: str, high: int = 10**15) -> int:
    value = meta.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        raise ValueError(f"{key} must be a whole number from 0 to {high:,}; got {str(value)[:40]}")
    return value


#: What a snapshot's arrays may be, checked on each .npy header before anything is decoded (a
#: 125 KB file can hold a compressed 8000×8000 array): the kernels of a first conv layer — at most
#: 1,024 filters of 16 input channels, 32×32 pixels, and 4,096 tiles (filter × channel) in a grid —
#: and the probes' maps as the writer caps them.
MAX_KERNEL_SHAPE = (1024, 16, 32, 32)
MAX_KERNEL_TILES = 4096
_MAX_EPOCH, _MAX_BATCH = 1_000_000, 100_000_000  # as run.json's checkpoint progress (run_files.check_run_meta)


def _check_arrays(npz: Any, map_count: int) -> tuple[int, ...]:
    """ValueError unless the kernels and maps are shapes and types the writer makes; the kernels' shape."""
    shape, dtype = npz_header(npz, "kernels")
    if len(shape) != 4 or dtype.kind != "f" or min(shape) < 1 \
            or any(n > top for n, top in zip(shape, MAX_KERNEL_SHAPE)) or shape[0] * shape[1] > MAX_KERNEL_TILES:
        raise ValueError(f"its kernels ({'×'.join(map(str, shape))} {dtype}) are not a first conv layer's weights")
    for i in range(map_count):
        maps, kind = npz_header(npz, f"maps{i}")
        ranges, range_kind = npz_header(npz, f"ranges{i}")
        if (len(maps) != 4 or kind != np.uint8 or maps[0] > MAX_PROBES or maps[1] > MAX_MAP_CHANNELS
                or max(maps[2:]) > MAX_MAP_SIDE or ranges != (*maps[:2], 2) or range_kind.kind != "f"):
            raise ValueError(f"its maps of layer {i + 1} are not the probes' maps as stored "
                             f"(at most {MAX_PROBES}×{MAX_MAP_CHANNELS}×{MAX_MAP_SIDE}×{MAX_MAP_SIDE} uint8)")
    return shape


def _read_snapshot(path: Path) -> Snapshot:
    with _open_npz(path) as npz:
        meta = _meta(npz)
        layers = meta.get("map_layers", [])
        shapes = meta.get("map_shapes", [])
        if (not isinstance(layers, list) or not all(isinstance(n, str) for n in layers)
                or not isinstance(shapes, list) or len(shapes) != len(layers)
                or not all(isinstance(s, list) and len(s) == 3 and all(isinstance(v, int) for v in s) for s in shapes)):
            raise ValueError("its map layers are damaged")
        if any(not 0 < v <= 1_000_000 for s in shapes for v in s) or len(layers) > MAP_LAYERS:
            raise ValueError("its map layers are damaged")
        kernel_shape = _check_arrays(npz, len(layers))
        epoch, batch = _whole(meta, "epoch", _MAX_EPOCH), _whole(meta, "batch", _MAX_BATCH)
        batches = _whole(meta, "batches", _MAX_BATCH)
        if epoch < 1 or batch > batches:
            raise ValueError(f"its place in training (epoch {epoch:,}, batch {batch:,} of {batches:,}) is impossible")
        when = meta.get("time", 0.0)
        if isinstance(when, bool) or not isinstance(when, (int, float)) or not 0 <= when < 1e11:
            raise ValueError("its time is not a moment")
        return Snapshot(path=path, epoch=epoch, batch=batch, batches=batches,
                        global_step=_whole(meta, "global_step"), time=float(when),
                        kernel_layer=str(meta.get("kernel_layer", ""))[:256], map_layers=tuple(layers),
                        map_shapes=tuple(tuple(s) for s in shapes), kernel_shape=kernel_shape)


def _problem(path: Path, exc: BaseException) -> str:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{shown(str(path))} cannot be read ({reason}); it is left out of the history"


def list_snapshots(run_dir: str | Path) -> HistoryListing:
    """The snapshots in `run_dir`'s history, in training order (empty for a run without one).

    Temp files of a save in progress (or killed) are skipped; a file that cannot be read is
    left out with a line in `problems`. Safe while the run trains.
    """
    folder = history_dir(run_dir)
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return HistoryListing(())
    found: list[Snapshot] = []
    problems: list[str] = []
    for name in names:
        if name.startswith(".") or not _NAME.match(name):
            continue  # a temp file (".e0001-….npz.x1y2.tmp"), the probes, anything else
        path = folder / name
        try:
            found.append(_read_snapshot(path))
        except Exception as exc:  # noqa: BLE001 - a damaged file of any kind must not hide the others
            problems.append(_problem(path, exc))
    found.sort(key=lambda s: (s.epoch, s.batch))
    return HistoryListing(tuple(found), tuple(problems))


def read_kernels(snapshot: Snapshot) -> np.ndarray:
    """The snapshot's first-layer kernels, float32 O×I×kh×kw (ValueError/OSError if the file changed)."""
    with _open_npz(snapshot.path) as npz:
        _check_arrays(npz, 0)  # the file may have changed since it was listed
        kernels = npz["kernels"]
    with np.errstate(all="ignore"):  # a float64 beyond float32's range becomes inf here, and is refused below
        kernels = kernels.astype(np.float32)
    if not np.isfinite(kernels).all():
        raise ValueError("its kernels hold values that are not finite numbers (NaN or infinity)")
    return kernels


def read_maps(snapshot: Snapshot, layer: int) -> np.ndarray:
    """The probes' maps of the snapshot's `layer`-th stored layer: float32 N×C×h×w (dequantised)."""
    with _open_npz(snapshot.path) as npz:
        _check_arrays(npz, layer + 1)
        q = npz[f"maps{layer}"]
        with np.errstate(all="ignore"):
            ranges = npz[f"ranges{layer}"].astype(np.float32)
    if q.ndim != 4 or ranges.shape != (*q.shape[:2], 2):
        raise ValueError(f"{shown(str(snapshot.path))}: its maps of layer {layer} are damaged")
    if not np.isfinite(ranges).all():
        raise ValueError(f"its maps of layer {layer + 1} have ranges that are not finite numbers")
    low, high = ranges[..., 0, None, None], ranges[..., 1, None, None]
    return low + q.astype(np.float32) * ((high - low) / 255.0)


def read_probes(run_dir: str | Path) -> Probes | None:
    """The run's probe images, or None when it has none (or they cannot be read)."""
    try:
        with _open_npz(history_dir(run_dir) / PROBES_FILE) as npz:
            meta = _meta(npz)
            shape, dtype = npz_header(npz, "images")  # bounded before it is decoded, as a snapshot's arrays
            if len(shape) != 4 or dtype != np.uint8 or shape[0] > MAX_PROBES or shape[1] > 4 \
                    or max(shape[2:], default=0) > 2048:
                return None
            images, labels, indices = npz["images"], npz["labels"], npz["indices"]
    except Exception:  # noqa: BLE001 - no probes is a state, not an error
        return None
    if images.dtype != np.uint8 or images.ndim != 4 or labels.shape != (len(images),) or indices.shape != labels.shape:
        return None
    return Probes(images=images, labels=labels.astype(np.int64), indices=indices.astype(np.int64),
                  split=str(meta.get("split", "validation")))


def history_bytes(run_dir: str | Path) -> int:
    """What the run's history takes on disk (bytes)."""
    try:
        return sum(entry.stat().st_size for entry in os.scandir(history_dir(run_dir)) if entry.is_file())
    except OSError:
        return 0


def npz_bytes(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    payload = json.dumps({"format": FORMAT, **meta}).encode("utf-8")
    np.savez(buffer, meta=np.frombuffer(payload, dtype=np.uint8), **arrays)
    return buffer.getvalue()


def write_snapshot_file(path: Path, data: bytes) -> None:
    from cnnstudio.files import atomic_write

    # Not synced to disk: a snapshot lost to a power cut is skipped by every reader, and the
    # rename alone survives a kill; syncing cost more than the snapshot itself on small nets.
    atomic_write(path, lambda handle: handle.write(data), size_estimate=len(data), durable=False)
