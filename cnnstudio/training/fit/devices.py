"""The training devices of this machine, and the one name people read for each.

The window's device list, its status bar and the Training tab's summary all name a device
the same way ("CPU", "GPU 0: NVIDIA H100"), whatever torch calls it ("cpu", "cuda:0").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnstudio.choices import DeviceKind, parse_device
from cnnstudio.errors import TrainingError

if TYPE_CHECKING:
    import torch

__all__ = ["available_kinds", "device_title", "list_devices", "resolve_device"]


def available_kinds() -> list[DeviceKind]:
    """The kinds of device this machine can train on, in the one order "auto" prefers them:
    CUDA, then MPS, then the CPU (always there). `list_devices` and `resolve_device` both read it."""
    import torch

    kinds = [DeviceKind.CUDA] if torch.cuda.is_available() else []
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        kinds.append(DeviceKind.MPS)
    return [*kinds, DeviceKind.CPU]


def list_devices() -> list[tuple[str, str]]:
    """(title, device string) of every device this machine can train on, in `available_kinds` order."""
    import torch

    devices = []
    for kind in available_kinds():
        if kind == DeviceKind.CUDA:
            devices += [(f"GPU {i}: {torch.cuda.get_device_name(i)}", f"cuda:{i}")
                        for i in range(torch.cuda.device_count())]
        else:
            devices.append((kind.title, kind.value))
    return devices


def device_title(device: str) -> str:
    """How people know `device`: "auto" is what it picks here; "cuda" is GPU 0; a trainer's
    "cuda:0 (NVIDIA H100)" is "GPU 0: NVIDIA H100". An unknown device is named as given."""
    name = device.split(" (", 1)[0]
    try:
        kind, index = parse_device(name)
    except ValueError:
        return device
    devices = list_devices()
    if kind == DeviceKind.AUTO:
        return devices[0][0]
    if kind == DeviceKind.CUDA:
        name = f"cuda:{index or 0}"
    return next((title for title, value in devices if value == name), device)


def resolve_device(name: str) -> torch.device:
    """The torch device for a config's device name; "auto" is the first of `available_kinds`
    (cuda, then mps, then cpu: the one order every view and `list_devices` follow)."""
    import torch

    try:
        parse_device(name)  # the one reading of a device name: "bogus" or "meta" is one line, not torch's error
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    if name == DeviceKind.AUTO:
        return torch.device(available_kinds()[0].value)
    device = torch.device(name)
    if device.type == DeviceKind.CUDA:
        if not torch.cuda.is_available():
            raise TrainingError(f"device {name} is not available: no CUDA GPU was found — use --device cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TrainingError(
                f"device {name} does not exist: this machine has {torch.cuda.device_count()} CUDA GPU(s)"
            )
    if device.type == DeviceKind.MPS and not torch.backends.mps.is_available():
        raise TrainingError(f"device {name} is not available on this machine — use --device cpu or auto")
    return device
