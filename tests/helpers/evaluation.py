"""A tiny image folder and a LeNet-5 run trained on it, for the evaluation and explanation tests.

Imported as `from tests.helpers.evaluation import ...` (see tests/helpers/__init__.py).
The folder is real PNG files, so a run's validation split is rebuilt the way the trainer
loads it (`load_training_data`), not handed over as tensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cnnstudio.training.config import TrainConfig

CLASSES = ("a-top-left", "b-top-right", "c-bottom-left", "d-bottom-right", "e-centre")
SIZE = 16


def write_blocks_folder(root: Path, *, per_class: int = 14, seed: int = 0, classes=CLASSES) -> Path:
    """Grey noise with one bright 6×6 block whose position is the class, as PNG files per class folder."""
    rng = np.random.default_rng(seed)
    corners = {0: (1, 1), 1: (1, 9), 2: (9, 1), 3: (9, 9), 4: (5, 5)}
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        row, col = corners[c % 5]
        for i in range(per_class):
            img = rng.integers(0, 70, (SIZE, SIZE), dtype=np.uint8)
            dr, dc = rng.integers(-1, 2, 2)
            img[row + dr:row + dr + 6, col + dc:col + dc + 6] = 240
            Image.fromarray(img, mode="L").save(folder / f"{i:03d}.png")
    return root


def tiny_config(dataset: Path, **changes: object) -> TrainConfig:
    """LeNet-5 (ReLU, max-pool) at 16×16 on the blocks folder: an epoch takes milliseconds."""
    base = TrainConfig(arch="lenet5", arch_options={"activation": "relu", "pool": "max"}, dataset=str(dataset),
                       input_size=SIZE, epochs=2, batch_size=8, optimizer="sgd", lr=0.05, weight_decay=0.0,
                       val_fraction=0.25, device="cpu", progress_interval=0.0, num_threads=1)
    return base.replace(**changes)


def train_run(run_dir: Path, dataset: Path, **changes: object) -> Path:
    """Train a tiny run into `run_dir`; returns the folder."""
    from cnnstudio.training.fit.trainer import Trainer

    Trainer(tiny_config(dataset, **changes), run_dir=run_dir).fit()
    return run_dir
