"""Torch-free metadata for the built-in datasets and the augmentations: what the CLI and the app list.

Importing this module never imports torch, so the dataset list can be shown before the
heavy imports finish. An image folder is not in the catalog: `loaders.load_dataset`
accepts a folder path wherever a dataset name is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from cnnstudio.errors import UnknownNameError

__all__ = ["AUGMENTATIONS", "Augmentation", "DEFAULT_DATASET", "DatasetInfo", "check_augmentations", "get_info",
           "list_datasets"]

DEFAULT_DATASET = "mnist-sample"


@dataclass(frozen=True)
class DatasetInfo:
    """Key facts about a built-in dataset (mean/std are per channel, pixels in 0..1)."""

    name: str
    title: str
    channels: int
    num_classes: int
    native_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    downloadable: bool
    description: str


# Mean/std are the published statistics of each training set; `load_dataset` recomputes
# them from the training split it actually loads and stores those with the run.
_DATASETS: tuple[DatasetInfo, ...] = (
    DatasetInfo(
        name="mnist-sample",
        title="MNIST sample (5,000 digits)",
        channels=1,
        num_classes=10,
        native_size=28,
        mean=(0.1307,),
        std=(0.3081,),
        downloadable=False,
        description="500 handwritten digits per class shipped with cnnstudio; works with no network.",
    ),
    DatasetInfo(
        name="mnist",
        title="MNIST",
        channels=1,
        num_classes=10,
        native_size=28,
        mean=(0.1307,),
        std=(0.3081,),
        downloadable=True,
        description="LeCun's handwritten digits: 60,000 training and 10,000 test images (LeNet-5's dataset).",
    ),
    DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST",
        channels=1,
        num_classes=10,
        native_size=28,
        mean=(0.2860,),
        std=(0.3530,),
        downloadable=True,
        description="Zalando's clothing images in MNIST's format: 60,000 training and 10,000 test images.",
    ),
    DatasetInfo(
        name="cifar10",
        title="CIFAR-10",
        channels=3,
        num_classes=10,
        native_size=32,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        downloadable=True,
        description="32×32 colour photos of 10 classes: 50,000 training and 10,000 test images.",
    ),
    DatasetInfo(
        name="cifar100",
        title="CIFAR-100",
        channels=3,
        num_classes=100,
        native_size=32,
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        downloadable=True,
        description="32×32 colour photos of 100 fine classes: 50,000 training and 10,000 test images.",
    ),
)

_BY_NAME = {info.name: info for info in _DATASETS}


def list_datasets() -> list[DatasetInfo]:
    """All built-in datasets, the default first."""
    return list(_DATASETS)


def get_info(name: str) -> DatasetInfo:
    """The catalog entry for `name`; an unknown name lists the valid ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        valid = ", ".join(_BY_NAME)
        raise UnknownNameError(
            f"unknown dataset {name!r}: choose one of {valid}, or a path to an image folder"
        ) from None


# The train-time augmentations `data.transforms.train_input` applies, by name.
class Augmentation(NamedTuple):
    """A train-time augmentation: its name (for configs/CLI) and a one-line description."""

    name: str
    description: str


AUGMENTATIONS: tuple[Augmentation, ...] = (
    Augmentation("crop", "random crops: pad-and-crop below 64 px, else random crops of a 256/224 upscale (AlexNet)"),
    Augmentation("flip", "horizontal flip of a random half of each batch (AlexNet)"),
    Augmentation("pca", "fancy-PCA colour jitter along the dataset's RGB principal components, σ=0.1 (AlexNet)"),
    Augmentation("scale", "scale jittering: resize to a random S in [256, 512]·size/224 per batch, then crop (VGG)"),
)
_NAMES = tuple(a.name for a in AUGMENTATIONS)


def check_augmentations(names: Iterable[str]) -> tuple[str, ...]:
    """The augmentation names, validated and de-duplicated in order; unknown ones refused."""
    result: list[str] = []
    for name in names:
        if name not in _NAMES:
            raise UnknownNameError(f"unknown augmentation {name!r}: choose from {', '.join(_NAMES)}")
        if name not in result:
            result.append(name)
    return tuple(result)
