"""The "far from the training images" rule never fires on a run's own kind of images and
fires on a photo for a digits run (issue 22, item 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnstudio.data.loaders import load_dataset
from cnnstudio.data.sample import load_mnist_sample
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.inspect.classify import Predictor
from cnnstudio.models.registry import build_model


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real MNIST digits stored as 8×8 files, one sub-folder per class (like sklearn's digits)."""
    root = tmp_path_factory.mktemp("digits8")
    images, labels = load_mnist_sample()
    for cls in range(3):
        (root / str(cls)).mkdir()
        picks = np.flatnonzero(labels.numpy() == cls)[:12]
        for i in picks:
            small = Image.fromarray(images[i, 0].numpy()).resize((8, 8), Image.Resampling.BOX)
            small.save(root / str(cls) / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def digits_predictor(digits_folder: Path) -> Predictor:
    spec = load_dataset(str(digits_folder), store_size=32).spec
    torch.manual_seed(0)
    model = build_model("lenet5", in_channels=1, num_classes=spec.num_classes)
    return Predictor(model, spec, input_size=32, in_channels=1)


def test_a_folder_spec_knows_the_size_its_files_are_stored_at(digits_predictor: Predictor) -> None:
    spec = digits_predictor.spec
    assert (spec.native_size, spec.source_size, spec.stored_size) == (32, 8, 8)
    assert DatasetSpec.from_dict(spec.to_dict()) == spec  # kept in the run's spec.json
    assert "source_size" not in load_dataset("mnist-sample").spec.to_dict()  # nothing new for built-in sets


def test_the_runs_own_images_get_no_warning(digits_predictor: Predictor, digits_folder: Path) -> None:
    files = sorted(digits_folder.rglob("*.png"))
    results = digits_predictor.predict_files(files)
    flagged = [(r.path, r.warnings) for r in results if r.warnings]
    assert len(results) == 36 and flagged == []


def test_a_grey_photo_is_flagged_for_a_digits_run(digits_predictor: Predictor, tmp_path: Path) -> None:
    # A mid-grey textured scene with a darkish border: no colour, no light ground, an
    # ordinary brightness and contrast, but no plain ground of strokes either.
    rng = np.random.default_rng(3)
    y, x = np.mgrid[-1:1:240j, -1:1:320j]
    scene = 0.42 - 0.05 * (x * x + y * y) + 0.06 * np.sin(9 * x) * np.cos(7 * y)
    grey = np.clip(scene * 255 + rng.normal(0, 16, scene.shape), 0, 255).astype(np.uint8)
    path = tmp_path / "photo.jpg"
    Image.fromarray(grey).save(path)
    result = digits_predictor.predict_files([path])[0]
    assert result.low_confidence
    assert any("plain dark ground" in w and "photo" in w for w in result.warnings), result.warnings
    assert "photo" in (result.note or "")  # the reason is shown with the prediction
