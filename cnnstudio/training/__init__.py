"""Training: the config, the loop, its callbacks and its checkpoints.

Importing this package stays cheap (no torch): `TrainConfig` and the callback records
are torch-free, and `Trainer` is imported from `trainer` on first use, so the app can
build and validate a config before torch has finished loading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnstudio.training.records import BatchStats, EpochStats, FitResult, FitStart
from cnnstudio.training.fit.callbacks import Callback, CallbackList
from cnnstudio.training.config import TrainConfig, paper_defaults

if TYPE_CHECKING:
    from cnnstudio.training.fit.trainer import Trainer

__all__ = ["BatchStats", "Callback", "CallbackList", "EpochStats", "FitResult", "FitStart", "TrainConfig",
           "Trainer", "paper_defaults"]


def __getattr__(name: str) -> object:
    if name == "Trainer":
        from cnnstudio.training.fit.trainer import Trainer

        return Trainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
