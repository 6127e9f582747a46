"""The drawing pad's pipeline (`inspect.drawing`): MNIST's way of making a digit, and the same
top-5 as `classify` of the same pixels saved to a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cnnstudio.cli import main
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.inspect.classify import Predictor
from cnnstudio.inspect.drawing import classify_drawing, mnist_like, mnist_style, prepare_drawing
from cnnstudio.inspect.pictures import save_png
from cnnstudio.models.registry import build_model

DIGITS = DatasetSpec(name="digits", classes=tuple(str(i) for i in range(10)), channels=1,
                     mean=(0.1307,), std=(0.3081,), native_size=28)
PAPER = DatasetSpec(name="scans", classes=tuple(str(i) for i in range(10)), channels=1,
                    mean=(0.9,), std=(0.2,), native_size=32)
COLOUR = DatasetSpec(name="photos", classes=tuple(f"c{i}" for i in range(10)), channels=3,
                     mean=(0.49, 0.48, 0.45), std=(0.25, 0.24, 0.26), native_size=32)


def _pad(*, colour: bool = False) -> np.ndarray:
    """A "7" drawn in black on a white 280×280 pad, off-centre and small, as a person would."""
    img = Image.new("RGB" if colour else "L", (280, 280), "white")
    draw = ImageDraw.Draw(img)
    draw.line((40, 30, 140, 30), fill="black", width=14)
    draw.line((140, 30, 80, 170), fill="black", width=14)
    return np.asarray(img)


def test_mnist_style_crops_scales_and_centres_by_mass() -> None:
    drawn = prepare_drawing(_pad(), DIGITS)
    image = drawn.image
    assert drawn.mnist_like and not drawn.empty
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert image[0].max() == 0 and image[:, 0].max() == 0  # white on black: the ground is black
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in (20, 21)  # the 20 px box (LANCZOS may bleed one)
    ys, xs = np.indices(image.shape)
    mass = image.astype(float)
    centre = ((ys * mass).sum() / mass.sum() + 0.5, (xs * mass).sum() / mass.sum() + 0.5)
    assert abs(centre[0] - 14) <= 0.75 and abs(centre[1] - 14) <= 0.75


def test_light_ink_on_black_is_not_inverted_and_no_ink_is_empty() -> None:
    ink = 255 - _pad()
    assert np.array_equal(prepare_drawing(ink, DIGITS).image, prepare_drawing(_pad(), DIGITS).image)
    blank = prepare_drawing(np.full((100, 100), 255, np.uint8), DIGITS)
    assert blank.empty and not blank.image.any()
    assert mnist_style(np.zeros((5, 5))).shape == (28, 28)


def test_other_runs_get_the_drawing_as_it_is() -> None:
    assert not mnist_like(PAPER) and not mnist_like(COLOUR) and mnist_like(DIGITS)
    pad = _pad(colour=True)
    drawn = prepare_drawing(pad, COLOUR)
    assert not drawn.mnist_like and np.array_equal(drawn.image, pad)
    assert prepare_drawing(pad[..., 0], PAPER).image.shape == (280, 280)


@pytest.mark.parametrize("spec", [DIGITS, PAPER, COLOUR], ids=["mnist-like", "dark-on-light", "colour"])
def test_pad_top5_equals_classify_of_the_same_pixels_saved(spec: DatasetSpec, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("lenet5", in_channels=spec.channels, num_classes=10, activation="relu")
    predictor = Predictor(model, spec, input_size=32, in_channels=spec.channels)
    drawn, prediction = classify_drawing(predictor, _pad(colour=spec.channels == 3))
    path = tmp_path / "drawing.png"
    save_png(path, drawn.image)  # what the pad's Save writes
    from_file = predictor.predict_files([path])[0]
    assert [name for name, _ in from_file.topk] == [name for name, _ in prediction.topk]
    assert np.allclose([p for _, p in from_file.topk], [p for _, p in prediction.topk], atol=1e-6)
    assert torch.equal(from_file.seen, prediction.seen)
    assert len(prediction.topk) == 5


def test_cli_classify_of_a_saved_drawing_prints_the_pads_top1(tmp_path: Path, capsys) -> None:
    """The saved drawing is an ordinary file: `cnnstudio classify` reads it like any other."""
    from tests.helpers.training import make_bundle, tiny_config

    from cnnstudio.training.fit.trainer import Trainer

    run = tmp_path / "run"
    Trainer(tiny_config(epochs=1), run_dir=run, bundle=make_bundle(per_class=8)).fit()
    predictor = Predictor.from_run(run)
    drawn, prediction = classify_drawing(predictor, _pad())
    path = tmp_path / "seven.png"
    save_png(path, drawn.image)
    assert main(["classify", str(run), str(path)]) == 0
    assert prediction.topk[0][0] in capsys.readouterr().out
