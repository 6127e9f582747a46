"""Torch-free metadata for the built-in datasets: what the CLI and the app list.

Importing this module never imports torch, so the dataset list can be shown before the
heavy imports finish. An image folder is not in the catalog: `loaders.load_dataset`
accepts a folder path wherever a dataset name is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnstudio.errors import UnknownNameError

__all__ = ["DEFAULT_DATASET", "DatasetInfo", "get_info", "list_datasets"]

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
        title="MNIST sample (5,000 digits, offline)",
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
