"""A config's training data, loaded the one way every face loads it (the trainer, the CLI, the app)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnstudio.progress import CancelFn, ProgressFn
from cnnstudio.training.config import TrainConfig
from cnnstudio.training.fit import preflight

if TYPE_CHECKING:
    from cnnstudio.data.loaders import DatasetBundle

__all__ = ["load_training_data", "training_data_key"]


def load_training_data(config: TrainConfig, *, progress: ProgressFn | None = None,
                       cancel: CancelFn | None = None, download: bool = True) -> DatasetBundle:
    """The dataset of `config`, loaded as every face loads it (the trainer, the CLI, the app).

    The split follows the config's seed and validation fraction, so a resumed run sees the
    same validation images (and so does anything that inspects a run's validation split).
    Folder images are stored at the input size, or 256/224 of it when a crop or scale
    augmentation needs the margin (AlexNet's 224 crops of 256). `download=False` refuses
    to fetch a torchvision dataset that is not on disk.
    """
    from cnnstudio.data.loaders import load_dataset
    from cnnstudio.data.transforms import store_size_for
    from cnnstudio.training.input_size import config_input_size

    preflight.check_input_fits(config)  # before a dataset is downloaded or scanned for nothing
    input_size = config_input_size(config).size
    store_size = store_size_for(input_size, config.augment)
    return load_dataset(config.dataset, root=config.data_root, val_fraction=config.val_fraction, seed=config.seed,
                        progress=progress, cancel=cancel, store_size=store_size, download=download)


def training_data_key(config: TrainConfig) -> str:
    """Everything `load_training_data(config)` depends on, as one string: two configs with the
    same key load the same images and the same split (the window caches loaded data by it)."""
    import json

    return json.dumps([config.dataset, config.data_root, config.val_fraction, config.seed, config.arch,
                       config.input_size, sorted(config.augment)])
