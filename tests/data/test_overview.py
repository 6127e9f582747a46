"""The dataset overview (`data.overview`): counts as the run splits them, sizes, unreadable files, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnstudio.data.overview import ImageSizes, augmented_examples, dataset_overview
from cnnstudio.training.config import TrainConfig
from cnnstudio.training.fit.training_data import load_training_data


def _uneven_folder(root: Path) -> Path:
    """Three classes of 5, 9 and 13 images of assorted sizes, one broken file, one non-image."""
    sizes = [(20, 16), (16, 16), (24, 18)]
    for label, (name, count) in enumerate((("ant", 5), ("bee", 9), ("cat", 13))):
        (root / name).mkdir(parents=True)
        for i in range(count):
            w, h = sizes[i % 3] if label else (16, 16)
            mode = "RGB" if (label == 2 and i == 0) else "L"
            Image.new(mode, (w, h), 30 + 10 * i).save(root / name / f"{i}.png")
    (root / "bee" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "cat" / "notes.txt").write_text("not an image")
    return root


def _counts(labels: torch.Tensor, n: int) -> list[int]:
    return torch.bincount(labels, minlength=n).tolist()


@pytest.mark.parametrize("seed", [0, 7])
def test_folder_counts_are_the_runs_own_split(tmp_path: Path, seed: int) -> None:
    folder = _uneven_folder(tmp_path / "bugs")
    config = TrainConfig(arch="lenet5", dataset=str(folder), input_size=16, val_fraction=0.3, seed=seed,
                         augment=("flip",))
    bundle = load_training_data(config)
    overview = dataset_overview(folder, val_fraction=0.3, seed=seed, input_size=16, augment=("flip",))
    assert overview.classes == bundle.spec.classes == ("ant", "bee", "cat")
    assert list(overview.train_counts) == _counts(bundle.train.labels, 3)
    assert list(overview.val_counts) == _counts(bundle.val.labels, 3)
    assert sum(overview.train_counts) + sum(overview.val_counts) == 27
    assert overview.spec.mean == bundle.spec.mean and overview.spec.std == bundle.spec.std  # what normalises
    assert overview.validation == "split"


def test_sample_counts_follow_seed_and_fraction() -> None:
    config = TrainConfig(arch="lenet5", dataset="mnist-sample", val_fraction=0.2, seed=3)
    bundle = load_training_data(config)
    overview = dataset_overview("mnist-sample", val_fraction=0.2, seed=3, per_class=2)
    assert list(overview.train_counts) == _counts(bundle.train.labels, 10) == [400] * 10
    assert list(overview.val_counts) == _counts(bundle.val.labels, 10)
    assert overview.spec.mean == bundle.spec.mean
    # The examples are training images of their labelled class.
    assert overview.examples.shape == (20, 1, 28, 28) and overview.example_labels == tuple(np.repeat(range(10), 2))
    train = bundle.train.images.numpy()
    first = overview.examples[0]
    assert any(np.array_equal(first, train[i]) for i in torch.nonzero(bundle.train.labels == 0).flatten().tolist())
    assert overview.mean_image.shape == (28, 28, 1)
    assert abs(float(overview.mean_image.mean()) - bundle.spec.mean[0]) < 1e-4
    assert overview.sizes.sentence() == "5000 images, all 28×28 (L 5000)"


def test_folder_sizes_and_unreadable_files(tmp_path: Path) -> None:
    folder = _uneven_folder(tmp_path / "bugs")
    overview = dataset_overview(folder, seed=1, input_size=16)
    sizes = overview.sizes
    assert sizes.count == 27  # the broken file's header is unreadable too; the text file is no image
    assert sizes.smallest == (16, 16) and sizes.largest == (24, 18)
    assert sizes.typical == (16, 16) and dict(sizes.modes) == {"L": 26, "RGB": 1}
    assert overview.unreadable_count == 2
    reasons = dict(overview.unreadable)
    assert set(reasons) == {str(Path("bee/broken.png")), str(Path("cat/notes.txt"))}
    assert overview.folder == str(folder.resolve())


def test_json_carries_classes_and_counts(tmp_path: Path) -> None:
    folder = _uneven_folder(tmp_path / "bugs")
    overview = dataset_overview(folder, seed=2, input_size=16)
    data = json.loads(json.dumps(overview.to_dict()))
    assert data["classes"] == ["ant", "bee", "cat"]
    assert set(data["counts"]) == {"train", "val"}
    assert [a + b for a, b in zip(data["counts"]["train"], data["counts"]["val"])] == [5, 9, 13]
    assert len(data["mean"]) == len(data["std"]) == data["channels"]
    assert data["unreadable_count"] == 2 and {"path", "reason"} <= set(data["unreadable"][0])
    assert data["image_sizes"]["largest"] == [24, 18]


def test_augmented_examples_are_the_trainers_transform() -> None:
    from cnnstudio.data.transforms import from_model_input, to_model_input

    overview = dataset_overview("mnist-sample", per_class=1)
    plain = augmented_examples(overview, (), input_size=32)
    expected = from_model_input(to_model_input(torch.from_numpy(overview.examples), overview.spec, input_size=32,
                                               in_channels=1), overview.spec, in_channels=1).numpy()
    assert np.array_equal(plain, expected)
    jittered = augmented_examples(overview, ("crop", "flip", "pca"), input_size=32, seed=4)
    assert jittered.shape == plain.shape == (10, 1, 32, 32)
    assert not np.array_equal(jittered, plain)
    assert np.array_equal(jittered, augmented_examples(overview, ("crop", "flip", "pca"), input_size=32, seed=4))


def test_image_sizes_of_nothing_say_so() -> None:
    assert ImageSizes.from_sizes([], []).sentence() == "no readable image"
