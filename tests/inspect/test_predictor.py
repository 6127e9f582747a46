"""Predictor: what a dropped image becomes before the network sees it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cnnstudio.data.spec import DatasetSpec
from cnnstudio.inspect.classify import INVERTED_NOTE, Predictor, border_brightness, dark_ground
from cnnstudio.models.registry import build_model

MNIST_LIKE = DatasetSpec(name="digits", classes=tuple(str(i) for i in range(10)), channels=1,
                         mean=(0.1307,), std=(0.3081,), native_size=28)
PAPER_LIKE = DatasetSpec(name="scans", classes=tuple(str(i) for i in range(10)), channels=1,
                         mean=(0.9,), std=(0.2,), native_size=64)
COLOUR = DatasetSpec(name="photos", classes=tuple(str(i) for i in range(10)), channels=3,
                     mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26), native_size=32)


def _digit(folder: Path, name: str, *, ink: int, paper: int) -> Path:
    """A hand-drawn-looking "3" in `ink` on `paper` (0 black, 255 white), 200×200."""
    img = Image.new("L", (200, 200), paper)
    draw = ImageDraw.Draw(img)
    draw.arc((40, 20, 160, 100), start=200, end=90, fill=ink, width=16)
    draw.arc((40, 95, 160, 180), start=270, end=160, fill=ink, width=16)
    path = folder / name
    img.save(path)
    return path


@pytest.fixture
def lenet():
    torch.manual_seed(0)
    return build_model("lenet5", in_channels=1, num_classes=10)


def test_dark_ground_follows_the_grey_datasets_mean():
    assert dark_ground(MNIST_LIKE) is True and dark_ground(PAPER_LIKE) is False
    assert dark_ground(COLOUR) is None  # photos: no rule
    image = torch.zeros(1, 8, 8, dtype=torch.uint8)
    image[:, 2:6, 2:6] = 255  # a bright centre does not count: the ground is the border
    assert border_brightness(image) == 0.0


def test_a_digit_drawn_black_on_white_is_inverted_for_an_mnist_model(lenet, tmp_path):
    predictor = Predictor(lenet, MNIST_LIKE, input_size=32, in_channels=1)
    drawn = _digit(tmp_path, "paint.png", ink=0, paper=255)
    mnist_style = _digit(tmp_path, "mnist.png", ink=255, paper=0)
    first, second = predictor.predict_files([drawn, mnist_style])
    assert first.inverted and INVERTED_NOTE in first.note
    assert not second.inverted and second.note is None
    # Inverted, the drawing is exactly the MNIST-style file: same input, same answer.
    assert torch.equal(first.seen, second.seen)
    assert first.topk == second.topk
    assert first.seen.shape == (1, 32, 32) and first.seen.dtype == torch.uint8
    assert border_brightness(first.seen) < 0.1  # the network saw a dark ground


def test_no_inversion_when_asked_or_when_the_dataset_gives_no_rule(lenet, tmp_path):
    drawn = _digit(tmp_path, "paint.png", ink=0, paper=255)
    kept = Predictor(lenet, MNIST_LIKE, input_size=32, in_channels=1, auto_invert=False).predict_files([drawn])[0]
    assert not kept.inverted and border_brightness(kept.seen) > 0.9
    # Scanned pages are dark on light already: a black-on-white drawing stays as it is...
    paper = Predictor(lenet, PAPER_LIKE, input_size=32, in_channels=1)
    assert not paper.predict_files([drawn])[0].inverted
    # ...and a white-on-black one is turned to match them.
    assert paper.predict_files([_digit(tmp_path, "neg.png", ink=255, paper=0)])[0].inverted
    torch.manual_seed(0)
    colour_net = build_model("lenet5", in_channels=3, num_classes=10)
    photo = Predictor(colour_net, COLOUR, input_size=32, in_channels=3).predict_files([drawn])[0]
    assert not photo.inverted and photo.seen.shape == (3, 32, 32)


def test_the_network_input_is_the_resized_centre_crop_as_pixels(lenet, tmp_path):
    # A 64×32 image, left half black, right half white: the centre crop of its 32×32
    # resize is what the network sees, back as the original pixel values.
    array = np.zeros((32, 64), dtype=np.uint8)
    array[:, 32:] = 255
    path = tmp_path / "halves.png"
    Image.fromarray(array).save(path)
    seen = Predictor(lenet, MNIST_LIKE, input_size=16, in_channels=1, auto_invert=False).predict_files([path])[0].seen
    assert seen.shape == (1, 16, 16)
    assert int(seen[0, :, 0].max()) == 0 and int(seen[0, :, -1].min()) == 255


def test_a_mid_grey_ground_is_left_alone(lenet, tmp_path):
    # Noise or a photo has no clear ground: flipping a coin on it would be worse than nothing.
    rng = np.random.default_rng(0)
    path = tmp_path / "noise.png"
    Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8)).save(path)
    for spec in (MNIST_LIKE, PAPER_LIKE):
        assert not Predictor(lenet, spec, input_size=32, in_channels=1).predict_files([path])[0].inverted
