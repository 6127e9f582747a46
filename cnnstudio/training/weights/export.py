"""Export a trained model to ONNX or a `torch.export` program (.pt2), checked before it counts.

- ONNX through `torch.onnx.export(..., dynamo=True)`: the legacy TorchScript exporter
  fails on LRN before adaptive pooling and on adaptive pooling whose sizes do not divide,
  which AlexNet, VGG and GoogLeNet all have; the dynamo exporter handles both.
- `.pt2` through `torch.export.export` + `torch.export.save` (TorchScript is deprecated upstream).

Both have a dynamic batch dimension. Every export is verified before it is reported done:
the saved file is loaded again (ONNX Runtime, or `torch.export.load`) and run on two batch
sizes other than the traced one, and its outputs must match the PyTorch model's within
`allclose(rtol=1e-4, atol=1e-5)`; a file that fails is deleted and the failure raised as
`ExportError` — never a silent bad file. The file takes its name only after the check
(temporary name, then `os.replace`), and a JSON sidecar (`<file>.json`) says what the
model expects: class names, input size, channels, mean/std.

ONNX needs the optional extra (`pip install 'cnnstudio[export]'`: onnx, onnxscript,
onnxruntime); `.pt2` needs nothing beyond torch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio import __version__
from cnnstudio.errors import Cancelled, ExportError
from cnnstudio.files import readable, replace_together, temp_beside
from cnnstudio.progress import CancelFn, ProgressFn

if TYPE_CHECKING:
    from torch import nn

    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.training.store.runs import RunInfo

__all__ = ["ATOL", "FORMATS", "RTOL", "VERIFY_BATCHES", "ExportReport", "export_model", "export_run",
           "missing_export_packages"]

FORMATS = ("onnx", "pt2")
RTOL, ATOL = 1e-4, 1e-5
TRACE_BATCH = 2
VERIFY_BATCHES = (1, 5)  # neither is the traced batch: the batch dimension must really be dynamic
EXTRA_HINT = "pip install 'cnnstudio[export]'"
_ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")


@dataclass(frozen=True)
class ExportReport:
    """A finished, verified export: where it is and how closely it matched the PyTorch model."""

    path: str
    sidecar: str
    format: str
    arch: str
    input_size: int
    channels: int
    num_classes: int
    batch_sizes: tuple[int, ...]  # the batch sizes the saved file was run on
    max_abs_diff: float  # largest |exported − PyTorch| over those runs
    size_bytes: int
    seconds: float


def missing_export_packages(format: str) -> list[str]:
    """The packages `format` needs that are not installed (ONNX: onnx, onnxscript, onnxruntime)."""
    if format != "onnx":
        return []
    return [name for name in _ONNX_PACKAGES if importlib.util.find_spec(name) is None]


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose onnx or pt2")
    missing = missing_export_packages(format)
    if missing:
        raise ExportError(f"ONNX export needs {', '.join(missing)}: install the export extra ({EXTRA_HINT})")


def export_run(run: RunInfo | str | Path, format: str, path: str | Path, *, which: str = "best",
               progress: ProgressFn | None = None, cancel: CancelFn | None = None) -> ExportReport:
    """Export a run's trained model (its `which` checkpoint) to `path` as `format` ("onnx" or "pt2")."""
    from cnnstudio.training.store.runs import load_model, open_run

    _check_format(format)
    info = run if not isinstance(run, (str, Path)) else open_run(run)
    model, spec, config = load_model(info, which=which)
    from cnnstudio.training.input_size import config_input_size

    # The size it trained at: stored in the run; the one rule for a config that left it open.
    input_size = config_input_size(config).size
    return export_model(model, spec, arch=config.arch, arch_options=config.arch_options, input_size=input_size,
                        format=format, path=path, progress=progress, cancel=cancel,
                        extra={"run": str(info.path), "checkpoint": which})


def export_model(model: nn.Module, spec: DatasetSpec, *, arch: str, input_size: int, format: str,
                 path: str | Path, arch_options: dict[str, Any] | None = None,
                 progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                 extra: dict[str, Any] | None = None) -> ExportReport:
    """Export `model` (a trained net for `spec`'s images at `input_size`) and verify the file.

    `progress(done, total, message)` is told each step; `cancel()` → True stops between
    steps with `Cancelled` and leaves nothing behind.
    """
    import torch

    _check_format(format)
    path = Path(path).expanduser()
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the file to write, e.g. {path / ('model.' + format)}")
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the folder {path.parent} does not exist")
    started = time.monotonic()
    steps = 2 + len(VERIFY_BATCHES)

    def step(done: int, message: str) -> None:
        if cancel is not None and cancel():
            raise Cancelled("export cancelled")
        if progress is not None:
            progress(done, steps, message)

    channels = int(getattr(model, "in_channels", spec.channels))
    model = model.eval().cpu()
    sidecar = path.with_name(path.name + ".json")
    _check_space(path, model)
    generator = torch.Generator().manual_seed(0)
    example = torch.randn(TRACE_BATCH, channels, input_size, input_size, generator=generator)
    # mkstemp temps (never a planted link, never a name another export uses), both written in full
    # before either replaces anything: the model and its sidecar appear together or not at all.
    try:
        tmp = temp_beside(path, suffix=f".partial{path.suffix or '.' + format}")
    except OSError as exc:
        raise ExportError(f"cannot write {readable(str(path))}: {exc.strerror or exc}") from None
    try:
        side_tmp = temp_beside(sidecar, suffix=".partial.json")
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {readable(str(sidecar))}: {exc.strerror or exc}") from None
    try:
        step(0, f"exporting {arch} to {format}")
        try:
            with torch.no_grad():
                if format == "onnx":
                    _export_onnx(model, example, tmp)
                else:
                    _export_pt2(model, example, tmp)
        except (Cancelled, ExportError):
            raise
        except Exception as exc:  # the exporters raise many kinds; the first line is what the user needs
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExportError(f"{format} export of {arch} failed: {first}") from exc
        step(1, "loading the exported file back")
        run = _onnx_runner(tmp) if format == "onnx" else _pt2_runner(tmp)
        worst = 0.0
        for i, batch in enumerate(VERIFY_BATCHES):
            step(2 + i, f"checking the exported file on a batch of {batch}")
            x = torch.randn(batch, channels, input_size, input_size, generator=generator)
            with torch.no_grad():
                expected = model(x).float()
            try:
                with torch.no_grad():
                    got = run(x)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ExportError(f"the exported {arch} does not run on a batch of {batch}: {first}") from exc
            if got.shape != expected.shape:
                raise ExportError(f"the exported {arch} gives outputs of shape {tuple(got.shape)} on a batch of "
                                  f"{batch}; PyTorch gives {tuple(expected.shape)} — the file was not kept")
            diff = float((got - expected).abs().max())
            worst = max(worst, diff)
            if not torch.allclose(got, expected, rtol=RTOL, atol=ATOL):
                raise ExportError(f"the exported {arch} differs from PyTorch by up to {diff:.2e} on a batch of "
                                  f"{batch} (allowed: rtol {RTOL:g}, atol {ATOL:g}) — the file was not kept")
        _write_sidecar(side_tmp, {
            "format": format,
            "file": path.name,
            "arch": arch,
            "arch_options": dict(arch_options or {}),
            "classes": list(spec.classes),
            "input_size": input_size,
            "channels": channels,
            "mean": list(spec.mean),
            "std": list(spec.std),
            "input": {"name": "input", "shape": ["batch", channels, input_size, input_size], "dtype": "float32"},
            "output": {"name": "logits", "shape": ["batch", len(spec.classes)], "dtype": "float32"},
            "preprocess": (f"pixels in 0..1 ({'grey' if channels == 1 else 'RGB'}), shorter side resized to "
                           f"{input_size}, the central {input_size}×{input_size}, minus mean, divided by std; "
                           "softmax of the logits gives class probabilities"),
            "verified": {"batch_sizes": list(VERIFY_BATCHES), "max_abs_diff": worst, "rtol": RTOL, "atol": ATOL},
            "cnnstudio": __version__,
            **(extra or {}),
        })
        _sync(tmp)
        try:
            replace_together([(tmp, path), (side_tmp, sidecar)])
        except OSError as exc:
            raise ExportError(f"could not save {readable(str(path))}: {exc.strerror or exc} — nothing was "
                              "replaced") from None
    finally:
        tmp.unlink(missing_ok=True)
        side_tmp.unlink(missing_ok=True)
    if progress is not None:
        progress(steps, steps, f"exported {path.name}")
    return ExportReport(path=str(path), sidecar=str(sidecar), format=format, arch=arch, input_size=input_size,
                        channels=channels, num_classes=len(spec.classes), batch_sizes=VERIFY_BATCHES,
                        max_abs_diff=worst, size_bytes=path.stat().st_size, seconds=time.monotonic() - started)


def _batch_dim() -> Any:
    import torch

    return torch.export.Dim("batch", min=1, max=65536)


def _export_onnx(model: nn.Module, example: Any, dest: Path) -> None:
    import torch

    program = torch.onnx.export(model, (example,), dynamo=True, verbose=False, input_names=["input"],
                                output_names=["logits"], dynamic_shapes=({0: _batch_dim()},))
    program.save(str(dest))


def _export_pt2(model: nn.Module, example: Any, dest: Path) -> None:
    import torch

    program = torch.export.export(model, (example,), dynamic_shapes=({0: _batch_dim()},))
    torch.export.save(program, str(dest))


def _onnx_runner(path: Path) -> Callable[[Any], Any]:
    import onnxruntime
    import torch

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: torch.from_numpy(session.run(None, {name: x.numpy()})[0]).float()


def _pt2_runner(path: Path) -> Callable[[Any], Any]:
    import torch

    module = torch.export.load(str(path)).module()
    return lambda x: module(x).float()


def _write_sidecar(tmp: Path, data: dict[str, Any]) -> None:
    """Fill the sidecar's temp file in full and sync it (a full disk fails here, before any rename)."""
    payload = (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8", "backslashreplace")
    try:
        with open(tmp, "r+b") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise ExportError(f"could not save the sidecar in {readable(str(tmp.parent))}: {exc.strerror or exc} — "
                          "nothing was replaced") from None


def _sync(path: Path) -> None:
    """The exported file on disk before it takes its name (the exporters do not sync)."""
    try:
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    except OSError as exc:
        raise ExportError(f"could not save {readable(str(path))}: {exc.strerror or exc}") from None


def _check_space(path: Path, model: nn.Module) -> None:
    """Refuse before exporting when the folder cannot hold the model and its sidecar (the
    weights in fp32, a little more for the graph), so neither old file is touched."""
    import shutil

    needed = sum(p.numel() * 4 for p in model.parameters()) + sum(b.numel() * b.element_size() for b in model.buffers())
    needed = int(needed * 1.05) + 256 * 1024
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return  # the write itself will say what is wrong
    if free < needed:
        kept = "; the previous files are intact" if path.exists() else ""
        raise ExportError(f"not enough free disk space to export {readable(str(path))} and its sidecar: about "
                          f"{_size(needed)} needed, {_size(free)} free — free some space{kept}")


def _size(n: int) -> str:
    return f"{n / 1024**2:,.1f} MB" if n >= 1024**2 else f"{max(1, round(n / 1024)):,} KB"
