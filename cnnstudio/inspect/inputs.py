"""What evaluation and explanation work on: a trained model with its data facts, and images made ready for it.

`TrainedModel` is the one shape every inspection call takes, so the same call serves a saved
run (`TrainedModel.from_run`) and the live weights of a fit in progress (built from the
trainer's `snapshot_model()` and its spec). `prepare_image` turns an image file into the
network's input exactly as `Predictor` does (validation transform, grey inversion rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from cnnstudio.data.images import image_to_tensor, load_image_checked
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.data.transforms import from_model_input, to_model_input

if TYPE_CHECKING:
    from cnnstudio.training.config import TrainConfig
    from cnnstudio.training.store.runs import RunInfo

__all__ = ["PreparedImage", "TrainedModel", "prepare_image"]


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A model with what it takes to feed it: its dataset spec (classes, mean/std) and input size.

    `model` must be one nobody trains meanwhile (an opened run, or `Trainer.snapshot_model()`);
    inspection calls never change it. `name` labels it in tables; `run_dir`, `checkpoint` and
    `config` are set for a saved run (`checkpoint` is the file the weights came from).
    """

    model: nn.Module
    spec: DatasetSpec
    input_size: int
    in_channels: int
    name: str = ""
    run_dir: Path | None = None
    checkpoint: Path | None = None
    config: TrainConfig | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    @property
    def device(self) -> torch.device:
        first = next(self.model.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    @classmethod
    def from_run(cls, run: RunInfo | str | Path, *, which: str = "best", device: str = "cpu") -> TrainedModel:
        """The weights of a saved run (`best` or `last` checkpoint), eval mode, on `device`."""
        from cnnstudio.training.store.runs import RunInfo, load_model, open_run

        info = run if isinstance(run, RunInfo) else open_run(run)
        model, spec, config = load_model(info, which=which, device=device)
        from cnnstudio.training.input_size import config_input_size

        # The size it trained at: stored in the run; the one rule for a config that left it open.
        input_size = config_input_size(config).size
        return cls(model, spec, input_size=input_size, in_channels=spec.channels, name=info.name,
                   run_dir=info.path, checkpoint=info.checkpoint_path(which), config=config)

    def to_input(self, images: torch.Tensor, *, input_size: int | None = None) -> torch.Tensor:
        """uint8 (N×)C×H×W images → the normalised float batch this model takes, on its device."""
        return to_model_input(images.to(self.device), self.spec, input_size=input_size or self.input_size,
                              in_channels=self.in_channels)


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """An image file made ready for a model: `x` (1×C×S×S normalised), `seen` (uint8 C×S×S), a note."""

    path: str
    x: torch.Tensor
    seen: torch.Tensor
    note: str | None = None
    inverted: bool = False


def prepare_image(path: str | Path, trained: TrainedModel, *, auto_invert: bool = True) -> PreparedImage:
    """Decode `path` and apply the validation transform, as `Predictor` classifies it.

    Raises `ImageError` for a file that cannot be used. With `auto_invert`, a grey image with
    the opposite ground to the training images is inverted first (see `Predictor`).
    """
    from cnnstudio.inspect.classify import (INVERTED_NOTE, INVERTED_TO_LIGHT_NOTE, UNCLEAR_GROUND,
                                            border_brightness, dark_ground)

    img, note = load_image_checked(path)
    image = image_to_tensor(img, trained.spec.channels)
    dark = dark_ground(trained.spec) if auto_invert and image.shape[0] == 1 else None
    inverted = False
    if dark is not None:  # Predictor.should_invert's rule: only a clearly opposite ground
        border = border_brightness(image)
        inverted = border > 1 - UNCLEAR_GROUND if dark else border < UNCLEAR_GROUND
    if inverted:
        image = 255 - image
        change = INVERTED_NOTE if dark_ground(trained.spec) else INVERTED_TO_LIGHT_NOTE
        note = f"{note}; {change}" if note else change
    x = trained.to_input(image)
    seen = from_model_input(x, trained.spec, in_channels=trained.in_channels)[0].cpu()
    return PreparedImage(str(path), x, seen, note, inverted)
