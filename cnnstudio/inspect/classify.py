"""Top-k predictions for image files, seen exactly as the validation images are."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import nn
from torchvision.transforms.v2 import functional as F

from cnnstudio.data.images import image_to_tensor, load_image_checked
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.data.transforms import crop_source_size, from_model_input, to_model_input
from cnnstudio.errors import CnnStudioError, ImageError

if TYPE_CHECKING:
    from cnnstudio.training.weights.pretrained import PretrainedModel

__all__ = ["Prediction", "Predictor", "border_brightness", "dark_ground", "input_warnings"]


# A grey dataset whose mean pixel is under this is light strokes on a dark ground (MNIST's
# mean is 0.13, Fashion-MNIST's 0.29); over 1 − this, dark on light.
DARK_DATASET_MEAN = 0.35
UNCLEAR_GROUND = 0.4  # a border between this and 1 − this (0–1 brightness) is not inverted
INVERTED_NOTE = "colours inverted to match the training images: light on dark"
INVERTED_TO_LIGHT_NOTE = "colours inverted to match the training images: dark on light"

# How far an input may be from the training images before a prediction says so. A
# network's softmax is confident on anything (a blank square scores 99 % for some digit),
# so these look at the input itself, never at the scores. `input_warnings` compares, and
# nothing else does:
#   - size as stored: the file's shorter side against the training files' (`spec.stored_size`,
#     not the network's input size: 8×8 digits trained at 32 px are not "enlarged" inputs);
#   - grey/colour: a colour photo for a grey network, a grey one for a colour network;
#   - background polarity: for grey sets of strokes on a plain ground (MNIST), the border's
#     brightness against that ground, and whether the image has such a ground at all;
#   - intensity statistics: the pixels' mean and spread against the training set's mean/std.
TINY_SIDE = 8  # pixels: under this an image holds too little to recognise anything
COLOURFUL = 0.06  # mean (max − min) over R, G, B in 0–1: above this a photo is in colour
BLANK_STD = 2 / 255  # pixel standard deviation under this: one colour all over
FAR_MEAN = 1.5  # |image mean − dataset mean| in dataset standard deviations
LOW_CONTRAST = 0.25  # image std / dataset std under this: a washed-out, near-flat image
NEAR_GROUND = 0.25  # 0–1 brightness: a pixel this close to a stroke set's ground is ground
PLAIN_GROUND = 0.2  # share of ground pixels under this: not strokes on a plain ground (a photo)


@dataclass(frozen=True)
class Prediction:
    """One image's top-k classes, most likely first, with an optional note ("first frame used").

    `seen` is the image as the network got it: uint8 C×S×S at the model's input size, after
    the channel conversion, resize, centre crop and any inversion (the centre crop of the
    ten), before normalisation.
    """

    path: str
    topk: tuple[tuple[str, float], ...]
    note: str | None = None
    seen: torch.Tensor | None = None
    inverted: bool = False
    # How the input differs from the training images (also in `note`); never a refusal.
    warnings: tuple[str, ...] = ()

    @property
    def top1(self) -> tuple[str, float]:
        return self.topk[0]

    @property
    def low_confidence(self) -> bool:
        """True when the input is far from the training data: the scores say little about it."""
        return bool(self.warnings)


def dark_ground(spec: DatasetSpec) -> bool | None:
    """True for grey datasets of light strokes on a dark ground (MNIST), False for dark on
    light, None when the dataset gives no rule (colour photos, mid-grey means)."""
    if len(spec.mean) != 1:
        return None
    if spec.mean[0] < DARK_DATASET_MEAN:
        return True
    if spec.mean[0] > 1 - DARK_DATASET_MEAN:
        return False
    return None


def border_brightness(image: torch.Tensor) -> float:
    """Mean of a uint8 C×H×W image's outermost ring of pixels, 0–1: its background."""
    top, bottom = image[:, 0, :], image[:, -1, :]
    left, right = image[:, 1:-1, 0], image[:, 1:-1, -1]
    ring = torch.cat([top.flatten(), bottom.flatten(), left.flatten(), right.flatten()])
    return float(ring.float().mean()) / 255.0


def _colourful(img: object) -> bool:
    """Whether a decoded "L"/"RGB" PIL image has real colour (not grey stored as RGB)."""
    if getattr(img, "mode", "L") != "RGB":
        return False
    import numpy as np

    small = np.asarray(img.resize((64, 64)) if max(img.size) > 64 else img, dtype=np.int16)  # type: ignore[attr-defined]
    return float((small.max(axis=2) - small.min(axis=2)).mean()) / 255.0 > COLOURFUL


def input_warnings(image: torch.Tensor, seen: torch.Tensor, spec: DatasetSpec, *, input_size: int,
                   colourful: bool, grey_source: bool) -> tuple[str, ...]:
    """How an input differs from the training images, in words (empty when it looks like them).

    `image` is the decoded uint8 C×H×W image at the dataset's channels (after any
    inversion), `seen` what the network got (C×S×S); `colourful`/`grey_source` describe
    the file before its channels were converted.
    """
    notes: list[str] = []
    height, width = (int(v) for v in image.shape[1:])
    stored = spec.stored_size  # the training files' own size, not the network's input size
    trained = f"{stored}×{stored}"
    side = min(height, width)
    tiny = side < TINY_SIDE and side < stored
    if tiny:
        notes.append(f"a {width}×{height} image is far too small to show what the network learnt from "
                     f"{trained} images")
    elif 2 * side < stored:
        notes.append(f"a small image ({width}×{height}) for a network trained on {trained} images: enlarged to "
                     f"{input_size}×{input_size}, blurrier than they were")
    if spec.channels == 1 and colourful:
        notes.append("a colour image for a network trained on grey images: it sees the brightness only")
    elif spec.channels == 3 and grey_source:
        notes.append("a grey image for a network trained on colour images")
    pixels = seen.float().flatten(1) / 255.0  # C × S·S
    if float(pixels.std()) < BLANK_STD:
        if not tiny:
            notes.append("a blank image (one colour all over): there is nothing to recognise")
        return tuple(notes)
    dark = dark_ground(spec)
    if dark is not None:
        border = border_brightness(image)
        if (border > UNCLEAR_GROUND) if dark else (border < 1 - UNCLEAR_GROUND):
            ground = "dark" if dark else "light"
            notes.append(f"its background ({border:.0%} bright) is not the {ground} ground of the training images")
        else:
            distance = pixels[0] if dark else 1 - pixels[0]
            plain = float((distance < NEAR_GROUND).float().mean())
            if plain < PLAIN_GROUND:
                notes.append(f"not strokes on a plain {'dark' if dark else 'light'} ground like the training "
                             f"images (only {plain:.0%} of it is ground): a photo?")
    mean = torch.tensor(spec.mean)
    std = torch.tensor(spec.std).clamp_min(1e-3)
    image_mean = pixels.mean(dim=1)
    far = ((image_mean - mean) / std).abs()
    worst = int(far.argmax())
    if float(far[worst]) > FAR_MEAN:
        side = "darker" if float(image_mean[worst]) < float(mean[worst]) else "brighter"
        notes.append(f"much {side} than the training images (mean brightness {float(image_mean.mean()):.2f}, "
                     f"theirs {float(mean.mean()):.2f})")
    if float((pixels.std(dim=1) / std).mean()) < LOW_CONTRAST:
        notes.append("much lower contrast than the training images")
    return tuple(notes)


class Predictor:
    """Classifies images with a trained model: decode, the validation transform, softmax, top-k.

    The model must be one nobody trains meanwhile (an opened run, or the trainer's snapshot).
    """

    def __init__(self, model: nn.Module, spec: DatasetSpec, *, input_size: int, in_channels: int,
                 device: str | torch.device = "cpu", auto_invert: bool = True, resize_size: int | None = None) -> None:
        """With `auto_invert`, a grey dataset's images that have the opposite ground to its
        training images (a digit drawn black on white, for MNIST) are inverted first.
        `resize_size` (ImageNet weights: 256) resizes the shorter side to it before the
        central `input_size` square is taken, as torchvision's evaluation transform does."""
        self.model = model.eval()
        self.spec = spec
        self.input_size = input_size
        self.in_channels = in_channels
        self.device = torch.device(device)
        self.auto_invert = auto_invert
        self.resize_size = resize_size

    @classmethod
    def from_pretrained(cls, pretrained: PretrainedModel, *, device: str = "cpu") -> Predictor:
        """A predictor for torchvision's ImageNet weights (`training.pretrained.load_pretrained`),
        seeing a photo exactly as torchvision's `weights.transforms()` would."""
        return cls(pretrained.model.to(device), pretrained.spec, input_size=pretrained.input_size, in_channels=3,
                   device=device, auto_invert=False, resize_size=pretrained.resize_size)

    @classmethod
    def from_run(cls, run_dir: str | Path, *, which: str = "best", device: str = "cpu",
                 auto_invert: bool = True) -> Predictor:
        """A predictor with the weights of a saved run (its `best` checkpoint by default)."""
        from cnnstudio.training.store.runs import load_model

        model, spec, config = load_model(run_dir, which=which, device=device)
        input_size = config.input_size
        if input_size is None:  # runs always store theirs; a hand-written config may not
            from cnnstudio.training.input_size import config_input_size

            input_size = config_input_size(config, fallback_native=spec.native_size).size
        return cls(model, spec, input_size=input_size, in_channels=spec.channels, device=device,
                   auto_invert=auto_invert)

    def should_invert(self, image: torch.Tensor) -> bool:
        """Whether `image` (uint8 C×H×W) has the opposite ground to the training images."""
        dark = dark_ground(self.spec) if self.auto_invert and image.shape[0] == 1 else None
        if dark is None:
            return False
        border = border_brightness(image)
        # Only a clearly opposite ground: a mid-grey border (a photo, noise) is left alone.
        return border > 1 - UNCLEAR_GROUND if dark else border < UNCLEAR_GROUND

    @torch.no_grad()
    def _run(self, image: torch.Tensor, *, tencrop: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(class probabilities, the uint8 C×S×S image the network saw) for one image."""
        if tencrop:
            # AlexNet's test-time augmentation: four corners + centre, and their mirrors,
            # from an image 256/224 times the input size; softmax averaged.
            side = crop_source_size(self.input_size)
            big = F.center_crop(F.resize(image, [side], antialias=True), [side, side])
            batch = torch.stack(F.ten_crop(big, [self.input_size, self.input_size]))
        elif self.resize_size is not None:
            # torchvision's ImageClassification on a uint8 tensor: resize, centre crop, then 0..1.
            resized = F.resize(image, [self.resize_size], interpolation=F.InterpolationMode.BILINEAR, antialias=True)
            batch = F.center_crop(resized, [self.input_size, self.input_size]).unsqueeze(0)
        else:
            batch = image.unsqueeze(0)  # to_model_input: shorter side, then the centre
        x = to_model_input(batch.to(self.device), self.spec, input_size=self.input_size,
                           in_channels=self.in_channels)
        logits = self.model(x)
        centre = x[4:5] if tencrop else x[:1]  # ten_crop: four corners, then the centre
        seen = from_model_input(centre, self.spec, in_channels=self.in_channels)[0].cpu()
        return torch.softmax(logits.float(), dim=1).mean(dim=0).cpu(), seen

    def topk(self, probs: torch.Tensor, k: int) -> tuple[tuple[str, float], ...]:
        values, indices = torch.topk(probs, min(k, probs.numel()))
        return tuple((self.spec.classes[i], float(v)) for v, i in zip(values.tolist(), indices.tolist()))

    def predict_files(self, paths: Sequence[str | Path], *, top_k: int = 5,
                      tencrop: bool = False) -> list[Prediction | ImageError]:
        """Top-k for each file; a file that cannot be used comes back as its `ImageError`.

        One bad file never stops the others from being classified. An image far from the
        training data (tiny, blank, the wrong colours or ground, odd brightness) is still
        classified; its `warnings` (also in `note`) say how it differs, `low_confidence`
        flags it.
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
            results.append(self.predict_image(img, name=str(path), note=note, top_k=top_k, tencrop=tencrop))
        return results

    def predict_image(self, img: Any, *, name: str = "", note: str | None = None, top_k: int = 5,
                      tencrop: bool = False) -> Prediction:
        """Top-k for a decoded Pillow image ("L" or "RGB"), exactly as `predict_files` treats a
        file once decoded (the drawing pad's pictures come this way); `name` is its `path`."""
        if top_k < 1:
            raise CnnStudioError(f"top-k must be at least 1; got {top_k}")
        image = image_to_tensor(img, self.spec.channels)
        inverted = self.should_invert(image)
        if inverted:
            image = 255 - image
            change = INVERTED_NOTE if dark_ground(self.spec) else INVERTED_TO_LIGHT_NOTE
            note = f"{note}; {change}" if note else change
        probs, seen = self._run(image, tencrop=tencrop)
        colourful = _colourful(img)
        warnings = input_warnings(image, seen, self.spec, input_size=self.input_size, colourful=colourful,
                                  grey_source=not colourful)
        note = "; ".join(part for part in (note, *warnings) if part) or None
        return Prediction(name, self.topk(probs, top_k), note, seen=seen, inverted=inverted, warnings=warnings)
