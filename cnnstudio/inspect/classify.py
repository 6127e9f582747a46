"""Top-k predictions for image files, seen exactly as the validation images are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torchvision.transforms.v2 import functional as F

from cnnstudio.data.images import image_to_tensor, load_image_checked
from cnnstudio.data.loaders import DatasetSpec
from cnnstudio.data.transforms import crop_source_size, to_model_input
from cnnstudio.errors import CnnStudioError, ImageError

__all__ = ["Prediction", "Predictor"]


@dataclass(frozen=True)
class Prediction:
    """One image's top-k classes, most likely first, with an optional note ("first frame used")."""

    path: str
    topk: tuple[tuple[str, float], ...]
    note: str | None = None

    @property
    def top1(self) -> tuple[str, float]:
        return self.topk[0]


class Predictor:
    """Classifies images with a trained model: decode, the validation transform, softmax, top-k.

    The model must be one nobody trains meanwhile (an opened run, or the trainer's snapshot).
    """

    def __init__(self, model: nn.Module, spec: DatasetSpec, *, input_size: int, in_channels: int,
                 device: str | torch.device = "cpu") -> None:
        self.model = model.eval()
        self.spec = spec
        self.input_size = input_size
        self.in_channels = in_channels
        self.device = torch.device(device)

    @classmethod
    def from_run(cls, run_dir: str | Path, *, which: str = "best", device: str = "cpu") -> Predictor:
        """A predictor with the weights of a saved run (its `best` checkpoint by default)."""
        from cnnstudio.runs import load_model

        model, spec, config = load_model(run_dir, which=which, device=device)
        input_size = config.input_size
        if input_size is None:
            from cnnstudio.models.catalog import get_info

            input_size = get_info(config.arch).default_size
        return cls(model, spec, input_size=input_size, in_channels=spec.channels, device=device)

    @torch.no_grad()
    def probabilities(self, image: torch.Tensor, *, tencrop: bool = False) -> torch.Tensor:
        """Class probabilities for one uint8 C×H×W image (dataset channels)."""
        if tencrop:
            # AlexNet's test-time augmentation: four corners + centre, and their mirrors,
            # from an image 256/224 times the input size; softmax averaged.
            side = crop_source_size(self.input_size)
            big = F.center_crop(F.resize(image, [side], antialias=True), [side, side])
            batch = torch.stack(F.ten_crop(big, [self.input_size, self.input_size]))
        else:
            batch = image.unsqueeze(0)  # to_model_input: shorter side, then the centre
        x = to_model_input(batch.to(self.device), self.spec, input_size=self.input_size,
                           in_channels=self.in_channels)
        logits = self.model(x)
        return torch.softmax(logits.float(), dim=1).mean(dim=0).cpu()

    def topk(self, probs: torch.Tensor, k: int) -> tuple[tuple[str, float], ...]:
        values, indices = torch.topk(probs, min(k, probs.numel()))
        return tuple((self.spec.classes[i], float(v)) for v, i in zip(values.tolist(), indices.tolist()))

    def predict_files(self, paths: Sequence[str | Path], *, top_k: int = 5,
                      tencrop: bool = False) -> list[Prediction | ImageError]:
        """Top-k for each file; a file that cannot be used comes back as its `ImageError`.

        One bad file never stops the others from being classified.
        """
        if top_k < 1:
            raise CnnStudioError(f"top-k must be at least 1; got {top_k}")
        results: list[Prediction | ImageError] = []
        for path in paths:
            try:
                img, note = load_image_checked(path)
            except ImageError as err:
                results.append(err)
                continue
            image = image_to_tensor(img, self.spec.channels)
            probs = self.probabilities(image, tencrop=tencrop)
            results.append(Prediction(str(path), self.topk(probs, top_k), note))
        return results
