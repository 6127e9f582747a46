"""A run's training dynamics on disk: per layer, at sampled steps, how its activations and
gradients behaved — the record behind "why it trains, or doesn't".

The fit's `DynamicsRecorder` (`training/fit/dynamics.py`) writes `RUN/dynamics/`:

    layers.json             the recorded layers, once: name, kind, what its activation is
                            (bounded / rectifier / other) and its histogram's fixed range
    s0000000001-0000000020.npz   one chunk: the samples of global steps 1…20, appended as the
                            fit goes (a chunk per epoch end, and more often early on)

A chunk holds, per sample (S of them) and layer (L): `steps`, `epochs`, `batches`, `num_batches` (S), `loss`,
`lr` (S), and float32 (S×L) `act_mean`, `act_std`, `saturated`, `zero`, `dead`,
`nonfinite`, `grad_norm`, `weight_norm`, `update_ratio`, `bn_var_ratio` (NaN where a figure does
not apply to a layer; `nonfinite` is 1 where the layer's output held NaN/Inf, 2 where only its
gradient did), and `hist` (S×L×BINS, uint8: each row scaled to its largest bin).
VGG-16 over 74 epochs at the default sampling is about 1 % of its best.pt (README).

Every chunk is written atomically; a resume drops the samples after its checkpoint (rewriting
the one chunk that straddles it). A reader skips temp files and damaged chunks (reporting them,
never raising) and reads while the run trains. numpy only.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnstudio.files import atomic_write, npz_header, read_regular, readable, remove_own_files

__all__ = [
    "BINS", "DYNAMICS_DIR", "FIGURES", "DynamicsRecord", "LayerMeta", "chunk_name", "drop_after", "read_dynamics",
    "DynamicsFileError", "read_layers", "remove_dynamics", "write_chunk", "write_layers",
]

DYNAMICS_DIR = "dynamics"
LAYERS_FILE = "layers.json"
FORMAT = 1
BINS = 40
#: The per-layer figures of a sample, in the order chunks store them.
FIGURES = ("act_mean", "act_std", "saturated", "zero", "dead", "nonfinite", "grad_norm", "weight_norm", "update_ratio",
           "bn_var_ratio")
MAX_CHUNK_BYTES = 64 * 1024 * 1024  # far above any real chunk: anything bigger is not one
MAX_LAYERS = 4096
MAX_SAMPLES_PER_CHUNK = 100_000
_NAME = re.compile(r"^s(\d{10})-(\d{10})\.npz$")


@dataclass(frozen=True)
class LayerMeta:
    """One recorded layer: its name in the layer graph, its kind, what its activation is, the
    histogram's fixed range (chosen at its first sample)."""

    name: str
    kind: str  # conv, linear, norm, block, head
    activation: str  # "bounded" (sigmoid, tanh), "rectifier" (ReLU), "other"
    hist_range: tuple[float, float]
    in_head: bool = False


@dataclass
class DynamicsRecord:
    """Everything recorded for a run, samples in step order (arrays S×L, S×L×BINS)."""

    layers: list[LayerMeta]
    steps: np.ndarray
    epochs: np.ndarray
    batches: np.ndarray
    num_batches: np.ndarray
    loss: np.ndarray
    lr: np.ndarray
    figures: dict[str, np.ndarray]
    hist: np.ndarray
    problems: list[str] = field(default_factory=list)  # chunks that could not be read, in words

    def __len__(self) -> int:
        return int(self.steps.shape[0])

    @property
    def positions(self) -> np.ndarray:
        """Each sample's place on the epoch axis the curves and the history use: 2.5 is halfway
        through epoch 3, 3.0 its end."""
        return (self.epochs - 1) + self.batches / np.maximum(self.num_batches, 1)

    def layer_index(self, name: str) -> int:
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        raise KeyError(name)


def dynamics_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / DYNAMICS_DIR


def chunk_name(first_step: int, last_step: int) -> str:
    return f"s{first_step:010d}-{last_step:010d}.npz"


def _npz_bytes(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    payload = json.dumps({"format": FORMAT, **meta}).encode("utf-8")
    np.savez_compressed(buffer, meta=np.frombuffer(payload, dtype=np.uint8), **arrays)
    return buffer.getvalue()


def write_layers(run_dir: str | Path, layers: list[LayerMeta]) -> None:
    payload = json.dumps({"format": FORMAT, "bins": BINS, "layers": [
        {"name": m.name, "kind": m.kind, "activation": m.activation, "hist_range": list(m.hist_range),
         "in_head": m.in_head} for m in layers]}, indent=1).encode("utf-8")
    folder = dynamics_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / LAYERS_FILE, lambda handle: handle.write(payload), size_estimate=len(payload), durable=False)


class DynamicsFileError(ValueError):
    """The recording's layers.json exists but cannot be used (its chunks cannot be read without it)."""


def read_layers(run_dir: str | Path, *, strict: bool = False) -> list[LayerMeta] | None:
    """The recorded layers; None when the run recorded none — or, unless `strict`, when its
    layers.json is damaged (`strict`: `DynamicsFileError` saying what is wrong)."""
    path = dynamics_dir(run_dir) / LAYERS_FILE
    if not os.path.lexists(path):
        return None
    try:
        data = json.loads(read_regular(path, 4 * 1024 * 1024))
        layers = []
        for raw in data["layers"][:MAX_LAYERS]:
            low, high = (float(v) for v in raw["hist_range"])
            if not (np.isfinite(low) and np.isfinite(high) and high > low):
                raise ValueError("bad histogram range")
            layers.append(LayerMeta(str(raw["name"]), str(raw["kind"]), str(raw["activation"]), (low, high),
                                    bool(raw.get("in_head", False))))
        return layers
    except (OSError, ValueError, KeyError, TypeError, RecursionError, UnicodeDecodeError) as exc:
        if strict:
            raise DynamicsFileError(f"{readable(str(path))} is damaged ({readable(str(exc)) or type(exc).__name__}): "
                                    "the recording's chunks cannot be read without it") from None
        return None


def write_chunk(run_dir: str | Path, samples: list[dict[str, Any]], num_layers: int) -> Path | None:
    """Write `samples` (the recorder's dicts, in step order) as one chunk; None when there are none."""
    if not samples:
        return None
    arrays: dict[str, np.ndarray] = {
        "steps": np.array([s["step"] for s in samples], dtype=np.int64),
        "epochs": np.array([s["epoch"] for s in samples], dtype=np.int32),
        "batches": np.array([s["batch"] for s in samples], dtype=np.int32),
        "num_batches": np.array([s["num_batches"] for s in samples], dtype=np.int32),
        "loss": np.array([s["loss"] for s in samples], dtype=np.float32),
        "lr": np.array([s["lr"] for s in samples], dtype=np.float32),
        "hist": np.stack([s["hist"] for s in samples]).astype(np.uint8),
    }
    for name in FIGURES:
        arrays[name] = np.stack([s[name] for s in samples]).astype(np.float32)  # a gradient can pass float16's 65504
    first, last = int(arrays["steps"][0]), int(arrays["steps"][-1])
    data = _npz_bytes(arrays, {"layers": num_layers})
    path = dynamics_dir(run_dir) / chunk_name(first, last)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not synced: a chunk lost to a power cut is skipped by every reader; the rename survives a kill.
    atomic_write(path, lambda handle: handle.write(data), size_estimate=len(data), durable=False)
    return path


def _chunks(run_dir: str | Path) -> list[tuple[int, int, Path]]:
    folder = dynamics_dir(run_dir)
    found = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), int(match.group(2)), Path(entry.path)))
    return sorted(found)


def _load_chunk(path: Path, num_layers: int) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(read_regular(path, MAX_CHUNK_BYTES)), allow_pickle=False) as npz:
        # Every member's shape is checked from its header first: a compressed chunk can claim any size.
        samples = npz_header(npz, "steps")[0]
        if len(samples) != 1 or not 0 < samples[0] <= MAX_SAMPLES_PER_CHUNK:
            raise ValueError(f"its steps have shape {samples}")
        s = samples[0]
        expected = {"epochs": (s,), "batches": (s,), "num_batches": (s,), "loss": (s,), "lr": (s,),
                    "hist": (s, num_layers, BINS), **{name: (s, num_layers) for name in FIGURES}}
        for name, shape in expected.items():
            declared = npz_header(npz, name)[0]
            if declared != shape:
                raise ValueError(f"{name} has shape {declared}, not {shape}")
        arrays = {name: npz[name] for name in ("steps", *expected)}
    samples = arrays["steps"].shape[0] if arrays["steps"].ndim == 1 else -1
    if not 0 < samples <= MAX_SAMPLES_PER_CHUNK:
        raise ValueError("holds no samples")
    for name in ("epochs", "batches", "num_batches", "loss", "lr"):
        if arrays[name].shape != (samples,):
            raise ValueError(f"{name} has shape {arrays[name].shape}")
    for name in FIGURES:
        if arrays[name].shape != (samples, num_layers):
            raise ValueError(f"{name} has shape {arrays[name].shape}, not ({samples}, {num_layers})")
    if arrays["hist"].shape != (samples, num_layers, BINS) or arrays["hist"].dtype != np.uint8:
        raise ValueError("its histograms do not match the recorded layers")
    if arrays["steps"].dtype.kind not in "iu" or np.any(np.diff(arrays["steps"]) <= 0):
        raise ValueError("its steps are not in order")
    return arrays


def read_dynamics(run_dir: str | Path) -> DynamicsRecord | None:
    """Everything recorded for the run, or None when it recorded nothing. Damaged chunks are
    skipped and named in `problems`; a sample repeated by two chunks is kept once."""
    layers = read_layers(run_dir, strict=True)
    if layers is None:
        return None
    n = len(layers)
    parts, problems = [], []
    for _first, _last, path in _chunks(run_dir):
        try:
            parts.append(_load_chunk(path, n))
        except Exception as exc:  # noqa: BLE001 - a damaged chunk is skipped, whatever it holds
            problems.append(f"{readable(path.name)} was skipped: {exc}")
    if not parts:
        empty = np.zeros((0, n), dtype=np.float32)
        return DynamicsRecord(layers, np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32),
                              np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.float32), {f: empty for f in FIGURES},
                              np.zeros((0, n, BINS), np.uint8), problems)
    merged = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    steps, keep = np.unique(merged["steps"], return_index=True)  # sorted, one sample per step
    return DynamicsRecord(
        layers, steps, merged["epochs"][keep], merged["batches"][keep], merged["num_batches"][keep],
        merged["loss"][keep].astype(np.float32),
        merged["lr"][keep].astype(np.float32), {f: merged[f][keep].astype(np.float32) for f in FIGURES},
        merged["hist"][keep], problems,
    )


def drop_after(run_dir: str | Path, step: int) -> None:
    """Remove the samples after global step `step` (a resume trains them again): whole chunks
    after it go, the one that straddles it is rewritten with its earlier samples. Only files
    named like this store's chunks, inside the run's own dynamics folder, are touched."""
    layers = read_layers(run_dir)
    for first, last, path in _chunks(run_dir):
        if last <= step:
            continue
        if first > step or layers is None:
            path.unlink(missing_ok=True)
            continue
        try:
            arrays = _load_chunk(path, len(layers))
        except Exception:  # noqa: BLE001 - damaged: nothing in it to keep
            path.unlink(missing_ok=True)
            continue
        keep = arrays["steps"] <= step
        kept = {name: value[keep] for name, value in arrays.items()}
        data = _npz_bytes(kept, {"layers": len(layers)})
        new = path.with_name(chunk_name(int(kept["steps"][0]), int(kept["steps"][-1])))
        atomic_write(new, lambda handle: handle.write(data), size_estimate=len(data), durable=False)
        if new != path:
            path.unlink(missing_ok=True)


def clean_temp_files(run_dir: str | Path) -> None:
    """Temp files a kill left in the dynamics folder (never a finished chunk; never through a link)."""
    if dynamics_dir(run_dir).is_symlink():
        return
    try:
        entries = list(os.scandir(dynamics_dir(run_dir)))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)


def remove_dynamics(run_dir: str | Path) -> None:
    """Remove this store's own files (chunks, layers.json, temp files) from the run's dynamics
    folder, and the folder when that empties it (a start undone, a run begun again from nothing)."""
    remove_own_files(dynamics_dir(run_dir), lambda name: bool(_NAME.match(name)) or name == LAYERS_FILE
                     or (name.startswith(".") and name.endswith(".tmp")))
