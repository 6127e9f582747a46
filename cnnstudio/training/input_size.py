"""The one rule for the side of the square image a network is given.

A network runs at the **dataset's** size unless the paper's is asked for: the dataset's
native size, raised to the architecture's minimum (VGG on 28×28 MNIST → 32, AlexNet → 63;
LeNet-5 → 32, the size its design needs, as the paper padded MNIST) and never above the
paper's size (a folder of 4,000-pixel photos still trains at 224).
Upscaling 28×28 digits to VGG's 224 adds no information but costs 49 times the compute
and memory of 32×32 — 14 GB and minutes per batch on a laptop's CPU — so the paper's
size (`paper_size=True`, the CLI's `--paper-size`) or any size (`input_size=`) is a
choice the user makes, not the default.

`cnnstudio train`, `cnnstudio summary --dataset`, the trainer, `load_training_data` and
the app all ask `choose_input_size`. It imports no torch for a built-in dataset and the
default options; a folder's images are peeked at (headers only), and options that change
the minimum (GoogLeNet without its auxiliary heads) build the model on the `meta` device.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cnnstudio.errors import CnnStudioError

__all__ = ["InputSizeChoice", "choose_input_size", "config_input_size", "dataset_native_size"]


@dataclass(frozen=True)
class InputSizeChoice:
    """The side chosen, why, and the three sizes the rule weighed (all in pixels)."""

    size: int
    source: str  # "requested", "paper", "dataset", "minimum" (the dataset's size raised) or "paper cap"
    native: int | None  # the dataset's own size; None when unknown (no dataset, an unreadable folder)
    minimum: int  # the smallest side the rule picks: the architecture's minimum, or its design size
    paper: int  # the paper's input side
    arch: str = ""
    dataset: str | None = None
    designed: bool = False  # `minimum` is the size the design needs (LeNet-5's 32), above what it accepts

    @property
    def sentence(self) -> str:
        """Why this size, in words: "32×32: mnist-sample's 28×28 raised to vgg16's minimum"."""
        side = f"{self.size}×{self.size}"
        where = _short(self.dataset) if self.dataset else "the dataset"
        if self.source == "requested":
            return f"{side}: the size asked for"
        if self.source == "paper":
            if self.native is None:
                return f"{side}: the paper's input size"
            return f"{side}: the paper's input size ({where}'s images are {self.native}×{self.native})"
        if self.source == "minimum":
            if self.designed:
                return f"{side}: {where}'s {self.native}×{self.native} raised to the size {self.arch} is designed for"
            return f"{side}: {where}'s {self.native}×{self.native} raised to {self.arch}'s minimum"
        if self.source == "paper cap":
            return f"{side}: the paper's size; {where}'s images are larger (about {self.native} px)"
        return f"{side}: {where}'s own size"


def _short(dataset: str) -> str:
    """A folder's last part, a catalog name as it is."""
    return (Path(dataset).name or dataset) if (os.sep in dataset or "/" in dataset) else dataset


def dataset_native_size(dataset: str | os.PathLike[str] | None) -> int | None:
    """The side of a dataset's images: the catalog's for a built-in set, the typical
    shorter side of a folder's images (headers of a few files), None when unknown."""
    if dataset is None:
        return None
    from cnnstudio.data.catalog import get_info as dataset_info
    from cnnstudio.errors import UnknownNameError

    text = os.fspath(dataset)
    try:
        return dataset_info(text).native_size
    except UnknownNameError:
        pass
    if Path(text).expanduser().is_dir():
        from cnnstudio.data.folders import typical_image_size

        return typical_image_size(Path(text).expanduser())
    return None


def _minimum(arch: str, options: Mapping[str, object] | None) -> tuple[int, bool]:
    """(the smallest side the rule picks, whether that is a design size above the hard minimum)."""
    from cnnstudio.models.catalog import get_info

    info = get_info(arch)
    # Only options that change the design can change its minimum; defaults need no model
    # built (and so no torch: the window's form asks this before torch has loaded).
    options = {k: v for k, v in (options or {}).items() if v != info.option(k).default}
    if not options:
        hard = info.min_size
    else:
        from cnnstudio.models.registry import min_input_size

        hard = min_input_size(arch, **options)
    return max(hard, info.design_min_size), info.design_min_size > hard


def choose_input_size(arch: str, dataset: str | os.PathLike[str] | None = None, *, input_size: int | None = None,
                      paper_size: bool = False, arch_options: Mapping[str, object] | None = None,
                      native_size: int | None = None) -> InputSizeChoice:
    """The input side for `arch` on `dataset` (see the module docstring for the rule).

    `input_size` is the user's own choice and wins (it is not checked here: the trainer
    and `check_input_size` refuse a too-small one in words); `paper_size` asks for the
    paper's size; `native_size` gives the dataset's size when the caller knows it better
    (a loaded bundle of a dataset outside the catalog). With no dataset and no native size
    the paper's size is used: that is the paper's own network.
    """
    from cnnstudio.models.catalog import get_info

    info = get_info(arch)  # an unknown name fails first, listing the valid ones
    if input_size is not None and paper_size:
        raise CnnStudioError(f"give an input size or ask for the paper's ({info.default_size}), not both")
    minimum, designed = _minimum(arch, arch_options)
    paper = max(info.default_size, minimum)
    native = native_size if native_size is not None else dataset_native_size(dataset)
    name = os.fspath(dataset) if dataset is not None else None
    common = dict(native=native, minimum=minimum, paper=paper, arch=arch, dataset=name, designed=designed)
    if input_size is not None:
        return InputSizeChoice(int(input_size), "requested", **common)
    if paper_size or native is None:
        return InputSizeChoice(paper, "paper", **common)
    if native < minimum:
        return InputSizeChoice(minimum, "minimum", **common)
    if native > paper:
        return InputSizeChoice(paper, "paper cap", **common)
    return InputSizeChoice(native, "dataset", **common)


def config_input_size(config: object, *, fallback_native: int | None = None) -> InputSizeChoice:
    """`choose_input_size` for a `TrainConfig` (its arch, options, dataset and input_size).

    `fallback_native` is the dataset's size when its name says nothing (a loaded bundle
    of a dataset outside the catalog: `bundle.spec.native_size`).
    """
    native = dataset_native_size(config.dataset)  # type: ignore[attr-defined]
    return choose_input_size(config.arch, config.dataset, input_size=config.input_size,  # type: ignore[attr-defined]
                             arch_options=config.arch_options or None,  # type: ignore[attr-defined]
                             native_size=native if native is not None else fallback_native)
