"""Checkpoints that survive a full disk and never run code: atomic save, safe load.

Saving writes a temporary file in the destination's folder, flushes and fsyncs it, then
`os.replace`s it over the old file, so a crash or a full disk leaves either the old
checkpoint or the new one, never half of one. Loading uses `torch.load(weights_only=True)`
and nothing else: a file that needs code to unpickle is refused, never retried unsafely.
Each way a file can be unusable gets its own one-line message.

torch is imported inside the functions: `training.runs` uses `atomic_write` to list and
write run folders, and listing runs must not wait for torch to import.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.errors import CheckpointError
from cnnstudio.files import NotRegularFileError, atomic_write, open_regular

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "CHECKPOINT_FORMAT",
    "atomic_write",
    "save_checkpoint",
    "load_checkpoint",
    "load_model_state",
    "check_finite_weights",
    "read_torch_file",
]

CHECKPOINT_FORMAT = "cnnstudio-checkpoint"
def _payload_bytes(value: Any) -> int:
    """Bytes the tensors in a payload will take on disk (for the free-space check)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, Mapping):
        return sum(_payload_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_payload_bytes(v) for v in value)
    return 64


def save_checkpoint(path: str | Path, payload: Mapping[str, Any]) -> None:
    """Save `payload` (weights_only-loadable values only) to `path` atomically; CheckpointError on failure."""
    import torch

    data = {"format": CHECKPOINT_FORMAT, **payload}
    atomic_write(path, lambda handle: torch.save(data, handle), size_estimate=_payload_bytes(data))


def read_torch_file(path: str | Path, *, map_location: Any = "cpu",
                    damaged_hint: str = "use the run's other checkpoint") -> Any:
    """Whatever a PyTorch file holds, loaded with weights_only=True; one clear CheckpointError per failure.

    Used for cnnstudio checkpoints and for other people's weights (torchvision's `.pth`);
    `damaged_hint` is what to do about a truncated or damaged file.
    """
    import torch

    path = Path(path)
    try:
        handle = open_regular(path)  # a FIFO or /dev/zero named as weights is refused, never read
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path} — check the path (a run has last.pt after its first epoch)") from None
    except NotRegularFileError as exc:
        raise CheckpointError(f"{path} is {exc.kind}, not a checkpoint file") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            head = handle.read(4)
            handle.seek(0)
        except OSError as exc:
            raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if not head:
            raise CheckpointError(f"{path} is empty (0 bytes) — its save or copy was interrupted; {damaged_hint}")
        is_zip = head.startswith(b"PK")
        if is_zip and not zipfile.is_zipfile(handle):
            raise CheckpointError(f"{path} is truncated (the file ends early) — its copy or save was interrupted; {damaged_hint}")
        handle.seek(0)
        if not is_zip and not head.startswith(b"\x80"):  # neither torch's zip format nor a pickle
            raise CheckpointError(f"{path} is not a checkpoint (it is not a PyTorch file)")
        try:
            with warnings.catch_warnings():
                # torch's note on plain pickles ("Detected pickle protocol 4") is noise next to our own message.
                warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
                data = torch.load(handle, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            text = str(exc)
            if "GLOBAL" in text or "Unsupported global" in text:  # the pickle imports a function or class
                raise CheckpointError(
                    f"refusing to load {path}: the file contains code, not just weights — "
                    "cnnstudio only opens checkpoints that need no code to read"
                ) from exc
            raise CheckpointError(f"{path} is not a checkpoint (it cannot be unpickled: {text.splitlines()[0]})") from exc
        except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            if is_zip or isinstance(exc, EOFError):
                raise CheckpointError(f"{path} is truncated or damaged ({first}) — {damaged_hint}") from exc
            raise CheckpointError(f"{path} is not a checkpoint ({first})") from exc
    return data


def load_checkpoint(path: str | Path, *, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a cnnstudio checkpoint safely (weights only); one clear CheckpointError per failure."""
    path = Path(path)
    data = read_torch_file(path, map_location=map_location)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT or "model" not in data:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a cnnstudio checkpoint (it has no model weights with run settings)"
        )
    return data


def load_model_state(model: nn.Module, checkpoint: Mapping[str, Any], *, arch: str, path: str | Path = "checkpoint") -> None:
    """Load the checkpoint's weights into `model`, refusing a different architecture or class count in words.

    `arch` is the name `model` was built as; the checkpoint's own name and the final layer's
    shape are compared before `load_state_dict`, so a mismatch is a sentence, not a tensor-size dump.
    """
    saved_arch = checkpoint.get("arch")
    if saved_arch != arch:
        raise CheckpointError(f"{path} holds a model of architecture {saved_arch}, not {arch} — open it as {saved_arch}")
    state = checkpoint["model"]
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise CheckpointError(
            f"{path} does not match this {arch}'s layers (e.g. {'missing' if missing else 'unexpected'} {example!r}) — "
            "it was trained with other architecture options"
        )
    classes_saved = checkpoint.get("num_classes")
    classes_model = _num_classes(model)
    if classes_saved is not None and classes_model is not None and classes_saved != classes_model:
        raise CheckpointError(
            f"{path} was trained for {classes_saved} classes; this model has {classes_model} — "
            "use the run's own dataset (its class names are stored with the run)"
        )
    for name, tensor in own.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{path} does not match this {arch}: layer {name} is {tuple(state[name].shape)} there, "
                f"{tuple(tensor.shape)} here — it was trained with other options or input channels"
            )
    check_finite_weights(state, path)
    model.load_state_dict(state)


def _num_classes(model: nn.Module) -> int | None:
    """The output width of the model's last Linear (or last conv, for all-conv classifiers)."""
    from torch import nn

    last = None
    # The classifier, not the whole model: GoogLeNet's auxiliary heads also end in Linears.
    for module in getattr(model, "classifier", model).modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            last = module
    if isinstance(last, nn.Linear):
        return last.out_features
    if isinstance(last, nn.Conv2d):
        return last.out_channels
    return None


def check_finite_weights(state: Mapping[str, Any], source: str | Path) -> None:
    """Refuse weights holding NaN or infinity in one line: a net with one would answer every image
    with a top-5 of nan. The one check for every weights file loaded (checkpoints, pretrained files)."""
    import torch

    from cnnstudio.files import readable

    for name, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and (tensor.is_floating_point() or tensor.is_complex()) \
                and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(f"{readable(str(source))} holds weights that are not finite numbers (NaN or "
                                  f"infinity in {readable(str(name))}) — the network they describe cannot answer; "
                                  "use other weights")
