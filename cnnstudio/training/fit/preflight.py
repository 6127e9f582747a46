"""Checks that refuse a start before anything is loaded or created: what cannot work is said first.

`check_input_fits(config)` refuses an input size whose largest activation, for one batch,
cannot fit in the training device's memory at all (`--input-size 100000` would otherwise
try to allocate terabytes after creating an empty "failed" run). It is called by
`load_training_data` and again by the trainer, so every face gets it before a dataset is
scanned or a run folder made. Finer estimates (time per epoch, peak memory) are another job.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cnnstudio.errors import CnnStudioError

if TYPE_CHECKING:
    import torch

    from cnnstudio.training.config import TrainConfig

__all__ = ["InputTooLargeError", "device_memory", "check_input_fits"]

_GB = 1e9


class InputTooLargeError(CnnStudioError, ValueError):
    """An input size whose activations cannot fit in the device's memory."""


def device_memory(device: torch.device) -> int | None:
    """Total bytes of memory of `device` (the machine's RAM for the CPU), or None when unknown."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device.index or 0).total_memory)
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_input_fits(config: TrainConfig, *, device: torch.device | None = None, channels: int | None = None) -> None:
    """Refuse `config`'s input size if one batch's largest activation alone exceeds the device's memory."""
    from cnnstudio.models.catalog import get_info
    from cnnstudio.models.memory import largest_activation

    info = get_info(config.arch)
    from cnnstudio.training.input_size import config_input_size

    # The size it trained at: stored in the run; the one rule for a config that left it open.
    size = config_input_size(config).size
    if device is None:
        from cnnstudio.training.fit.devices import resolve_device

        device = resolve_device(config.device)
    total = device_memory(device)
    if total is None:
        return
    if channels is None:
        try:
            from cnnstudio.data.catalog import get_info as dataset_info

            channels = dataset_info(config.dataset).channels
        except CnnStudioError:
            from cnnstudio.data.layout import ASSUMED_FOLDER_CHANNELS

            channels = ASSUMED_FOLDER_CHANNELS  # an image folder not scanned yet
    largest = largest_activation(config.arch, in_channels=channels, input_size=size, **config.arch_options)
    needed = largest.elements * 4 * config.batch_size  # float32
    if needed > total:
        shape = "×".join(str(d) for d in largest.shape)
        raise InputTooLargeError(
            f"input size {size} is too large for {config.arch}: one batch of {config.batch_size} needs "
            f"{needed / _GB:,.0f} GB for its largest activation alone ({largest.layer}, {shape} per image), and "
            f"{device} has {total / _GB:,.0f} GB — use a smaller input size ({config.arch}'s default is "
            f"{info.default_size}) or batch size"
        )
