"""The settings that are one of a few names, as string enums: the one list of each choice.

A member *is* its string (`Optimizer.SGD == "sgd"`), so configs stay plain JSON and old
run folders read as before, while code compares against members instead of bare strings,
the command line's `choices=` and the window's combo boxes are built from the enums, and
each choice's title for people lives beside it. Torch-free: the window fills its panel
from here before torch has loaded.
"""

from __future__ import annotations

import re
from enum import Enum

__all__ = ["Choice", "DeviceKind", "Finetune", "ImageParam", "Init", "Optimizer", "Schedule", "TestTime",
           "device_option", "parse_device"]


class Choice(str, Enum):
    """A `str` enum whose members print as their value (`f"{Optimizer.SGD}"` is "sgd")."""

    __str__ = str.__str__
    __format__ = str.__format__

    @property
    def title(self) -> str:
        """The name a person reads in a list (the value when the enum gives none)."""
        return _TITLES.get(self, self.value)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """Every member's string, in declaration order (for `argparse` `choices=`)."""
        return tuple(member.value for member in cls)


class Optimizer(Choice):
    """Which `torch.optim` optimizer trains the run."""

    SGD = "sgd"
    ADAM = "adam"
    ADAMW = "adamw"


class Schedule(Choice):
    """How the learning rate changes over the epochs."""

    CONSTANT = "constant"
    STEP = "step"
    COSINE = "cosine"
    PLATEAU = "plateau"


class Init(Choice):
    """Weight initialisation; DEFAULT keeps each architecture's own, NORMAL is the papers' N(0, 0.01)."""

    DEFAULT = "default"
    NORMAL = "normal"
    KAIMING = "kaiming"
    XAVIER = "xavier"


class Finetune(Choice):
    """What trains when a run starts from pretrained weights (training/finetune.py)."""

    ALL = "all"  # every layer at the LR
    HEAD = "head"  # only the new last layer; the rest frozen
    LOWER = "lower"  # the pretrained layers at a tenth of the LR


class DeviceKind(Choice):
    """The kind of device a run trains on; AUTO picks CUDA, then MPS, then the CPU."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


class TestTime(Choice):
    """Test-time augmentation: the views of each image whose softmax is averaged (inspect/evaluate.py)."""

    NONE = "none"  # one centre view
    FLIP = "flip"  # and its mirror image
    TENCROP = "tencrop"  # AlexNet's: four corners and the centre, and their mirrors
    MULTISCALE = "multiscale"  # VGG's dense evaluation at three scales
    MULTISCALE_TENCROP = "multiscale+tencrop"


class ImageParam(Choice):
    """How activation maximisation parameterises its image (inspect/dream.py)."""

    AUTO = "auto"  # pixels below 64 px, where a spectrum has too few frequencies; Fourier from there
    PIXEL = "pixel"
    FOURIER = "fourier"  # Lucid's 1/f-scaled spectrum (decorrelated colour for RGB)


_TITLES: dict[Choice, str] = {
    Optimizer.SGD: "SGD",
    Optimizer.ADAM: "Adam",
    Optimizer.ADAMW: "AdamW",
    Schedule.CONSTANT: "Constant",
    Schedule.STEP: "Step (×γ every N epochs)",
    Schedule.COSINE: "Cosine",
    Schedule.PLATEAU: "÷10 on plateau",
    Init.DEFAULT: "Architecture default",
    Init.NORMAL: "N(0, 0.01) — the papers'",
    Init.KAIMING: "Kaiming",
    Init.XAVIER: "Xavier",
    Finetune.ALL: "Train every layer",
    Finetune.HEAD: "Train the new head only",
    Finetune.LOWER: "Pretrained layers at ×0.1 LR",
    DeviceKind.AUTO: "Automatic",
    DeviceKind.CPU: "CPU",
    DeviceKind.CUDA: "CUDA GPU",
    DeviceKind.MPS: "Apple GPU (MPS)",
    TestTime.NONE: "none (one centre view)",
    TestTime.FLIP: "horizontal flip",
    TestTime.TENCROP: "ten crops (AlexNet)",
    TestTime.MULTISCALE: "three scales (VGG)",
    TestTime.MULTISCALE_TENCROP: "three scales × ten crops",
    ImageParam.AUTO: "automatic (pixels below 64 px, else Fourier)",
    ImageParam.PIXEL: "pixels",
    ImageParam.FOURIER: "Fourier (1/f spectrum)",
}

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


def parse_device(text: object) -> tuple[DeviceKind, int | None]:
    """("cuda", 1) for "cuda:1"; ValueError naming the valid forms for anything else.

    Only CUDA takes an index ("cuda" alone is the current GPU).
    """
    match = _DEVICE_RE.match(text) if isinstance(text, str) else None
    if match is None or (match.group(2) is not None and match.group(1) != DeviceKind.CUDA):
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps; got {text!r}")
    return DeviceKind(match.group(1)), int(match.group(2)) if match.group(2) is not None else None


def device_option(text: str) -> str:
    """`type=` of every verb's `--device` (train, sweep, evaluate, explain, neighbours, dream):
    the text itself when `parse_device` reads it, else argparse's one-line usage error."""
    import argparse

    try:
        parse_device(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text
