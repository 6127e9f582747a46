"""Torch-free metadata for the built-in datasets and the augmentations: what the CLI and the app list.

Importing this module never imports torch, so the dataset list can be shown before the
heavy imports finish. An image folder is not in the catalog: `loaders.load_dataset`
accepts a folder path wherever a dataset name is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from cnnstudio.errors import DatasetError, UnknownNameError

__all__ = ["AUGMENTATIONS", "Augmentation", "DEFAULT_DATASET", "DatasetInfo", "augmentation_warnings",
           "check_augmentations", "check_augmentations_fit", "get_info", "list_datasets", "mirroring_tta_warning"]

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


# Where an augmentation cannot apply or changes what an image means: one home for the
# words the command line and the window both show where it is chosen.
PCA_NEEDS_COLOUR = "fancy-PCA colour jitter (pca) needs colour images"
MIRROR_NOTE = ("a mirrored digit or letter is another sign or none (a flipped 2, 7 or S): on MNIST-like sets "
               "it lowers accuracy")
MIRRORING_TTA = frozenset({"flip", "tencrop", "multiscale+tencrop"})  # views that include mirror images


def check_augmentations_fit(names: Iterable[str], *, channels: int, dataset: str) -> None:
    """Refuse an augmentation the data cannot take (`DatasetError`, one line): pca on grey images."""
    if "pca" in tuple(names) and channels == 1:
        raise DatasetError(f"{PCA_NEEDS_COLOUR}, and {dataset} is grey (one channel): leave out pca")


def augmentation_warnings(names: Iterable[str], *, channels: int) -> tuple[str, ...]:
    """What to tell someone who chose `names` for data of `channels` (empty: nothing to say)."""
    if "flip" in tuple(names) and channels == 1:
        return (f"flip mirrors every other image, and {MIRROR_NOTE}; keep it for photos and objects",)
    return ()


def mirroring_tta_warning(tta: str, *, channels: int) -> str | None:
    """A sentence when test-time views `tta` include mirror images and the data are grey (digits?)."""
    if tta in MIRRORING_TTA and channels == 1:
        return (f"test-time {tta} averages in mirror images, and {MIRROR_NOTE} (LeNet-5 on MNIST: 96.2 % with "
                "one view, 93.0 % with flip, 83.4 % with ten crops, as measured)")
    return None
