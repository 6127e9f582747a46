"""Inputs far from the training data are classified, and say so (issue 11, item 13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cnnstudio.data.spec import DatasetSpec
from cnnstudio.inspect.classify import Predictor
from cnnstudio.models.registry import build_model

MNIST_LIKE = DatasetSpec(name="digits", classes=tuple(str(i) for i in range(10)), channels=1,
                         mean=(0.1307,), std=(0.3081,), native_size=28)
COLOUR = DatasetSpec(name="photos", classes=tuple(str(i) for i in range(10)), channels=3,
                     mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26), native_size=32)


@pytest.fixture(scope="module")
def grey_predictor() -> Predictor:
    torch.manual_seed(0)
    return Predictor(build_model("lenet5", in_channels=1, num_classes=10), MNIST_LIKE, input_size=28, in_channels=1)


@pytest.fixture(scope="module")
def colour_predictor() -> Predictor:
    torch.manual_seed(0)
    return Predictor(build_model("lenet5", in_channels=3, num_classes=10), COLOUR, input_size=32, in_channels=3)


def _save(tmp_path: Path, name: str, image: Image.Image) -> Path:
    path = tmp_path / name
    image.save(path)
    return path


def _digit(tmp_path: Path) -> Path:
    img = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(img).line((14, 4, 14, 24), fill=255, width=3)
    return _save(tmp_path, "one.png", img)


def _photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = np.linspace(0, 1, 96)
    rgb = np.stack([np.outer(x, x) * 255, np.outer(1 - x, x) * 200, np.full((96, 96), 90.0)], axis=2)
    rgb = np.clip(rgb + rng.integers(0, 40, rgb.shape), 0, 255).astype(np.uint8)
    return _save(tmp_path, "photo.jpg", Image.fromarray(rgb))


def test_an_mnist_like_digit_has_no_warning(grey_predictor: Predictor, tmp_path: Path) -> None:
    result = grey_predictor.predict_files([_digit(tmp_path)])[0]
    assert result.warnings == () and not result.low_confidence and result.note is None


def test_a_blank_rgba_square_is_classified_but_flagged(grey_predictor: Predictor, tmp_path: Path) -> None:
    blank = _save(tmp_path, "blank.png", Image.new("RGBA", (64, 64), (255, 255, 255, 0)))
    result = grey_predictor.predict_files([blank])[0]
    assert len(result.topk) == 5  # never refused
    assert result.low_confidence and any("blank" in w for w in result.warnings)
    assert "blank" in result.note


def test_a_colour_photo_on_a_grey_model_says_so(grey_predictor: Predictor, tmp_path: Path) -> None:
    result = grey_predictor.predict_files([_photo(tmp_path)])[0]
    assert result.low_confidence and any("colour image" in w for w in result.warnings)


def test_a_one_pixel_image_is_accepted_with_a_note(grey_predictor: Predictor, tmp_path: Path) -> None:
    dot = _save(tmp_path, "dot.png", Image.new("L", (1, 1), 200))
    result = grey_predictor.predict_files([dot])[0]
    assert result.topk and result.seen.shape == (1, 28, 28)
    assert result.warnings == ("a 1×1 image is far too small to show what the network learnt from 28×28 images",)


def test_a_small_image_is_enlarged_with_a_note(grey_predictor: Predictor, tmp_path: Path) -> None:
    img = Image.new("L", (12, 12), 0)
    ImageDraw.Draw(img).line((6, 1, 6, 10), fill=255, width=2)
    result = grey_predictor.predict_files([_save(tmp_path, "small.png", img)])[0]
    assert any("enlarged to 28×28" in w for w in result.warnings)


def test_a_light_ground_kept_by_no_invert_is_not_like_the_training_images(tmp_path: Path) -> None:
    torch.manual_seed(0)
    predictor = Predictor(build_model("lenet5", in_channels=1, num_classes=10), MNIST_LIKE, input_size=28,
                          in_channels=1, auto_invert=False)
    img = Image.new("L", (28, 28), 255)
    ImageDraw.Draw(img).line((14, 4, 14, 24), fill=0, width=3)
    result = predictor.predict_files([_save(tmp_path, "drawn.png", img)])[0]
    assert any("not the dark ground" in w for w in result.warnings)


def test_colour_models_flag_grey_and_very_dark_inputs(colour_predictor: Predictor, tmp_path: Path) -> None:
    grey = colour_predictor.predict_files([_digit(tmp_path)])[0]
    assert any("grey image" in w for w in grey.warnings)
    rng = np.random.default_rng(1)
    dark = np.clip(rng.normal(8, 4, (32, 32, 3)), 0, 255).astype(np.uint8)
    dark[..., 0] += 6  # a little colour: a dark photo, not grey
    result = colour_predictor.predict_files([_save(tmp_path, "night.png", Image.fromarray(dark))])[0]
    assert any("much darker" in w for w in result.warnings)
    assert not colour_predictor.predict_files([_photo(tmp_path)])[0].warnings  # an ordinary photo
