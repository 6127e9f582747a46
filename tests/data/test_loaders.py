"""catalog, mnist-sample, DatasetSpec, DeviceLoader and the batch transforms."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from cnnstudio.data.catalog import get_info, list_datasets
from cnnstudio.data.loaders import ImageSet, load_dataset, make_loader, stratified_split
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.data.catalog import AUGMENTATIONS, check_augmentations
from cnnstudio.data.transforms import to_model_input, train_input
from cnnstudio.errors import DatasetError, UnknownNameError


@pytest.fixture(scope="module")
def sample():
    return load_dataset("mnist-sample", seed=0)


def test_catalog_lists_the_datasets_without_importing_torch() -> None:
    names = [info.name for info in list_datasets()]
    assert names == ["mnist-sample", "mnist", "fashion-mnist", "cifar10", "cifar100"]
    assert get_info("cifar100").num_classes == 100 and get_info("mnist-sample").downloadable is False
    with pytest.raises(UnknownNameError, match="cifar10.*path to an image folder"):
        get_info("imagenet")
    code = "import sys, cnnstudio.data, cnnstudio.data.catalog; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_mnist_sample_loads_with_a_stratified_deterministic_split(sample) -> None:
    assert len(sample.train) + len(sample.val) == 5000
    assert len(sample.val) == 500
    assert torch.bincount(sample.val.labels, minlength=10).tolist() == [50] * 10
    assert sample.train.images.shape[1:] == (1, 28, 28) and sample.train.images.dtype == torch.uint8
    assert sample.spec.classes == tuple("0123456789") and sample.spec.channels == 1
    assert 0.10 < sample.spec.mean[0] < 0.16 and 0.28 < sample.spec.std[0] < 0.34
    again = load_dataset("mnist-sample", seed=0)
    other = load_dataset("mnist-sample", seed=1)
    assert torch.equal(again.val.images, sample.val.images)
    assert not torch.equal(other.val.images, sample.val.images)


def test_stratified_split_rejects_bad_fractions() -> None:
    with pytest.raises(DatasetError):
        stratified_split(torch.arange(10) % 2, 1.0, 0)


def test_spec_round_trips_through_json(sample) -> None:
    data = json.loads(json.dumps(sample.spec.to_dict()))
    assert DatasetSpec.from_dict(data) == sample.spec
    with pytest.raises(DatasetError):
        DatasetSpec.from_dict({"name": "x"})


def test_device_loader_batches_are_normalised_and_shaped(sample) -> None:
    loader = make_loader(sample.train, sample.spec, batch_size=512, input_size=32, in_channels=1, train=True,
                         device="cpu", seed=0)
    assert len(loader) == -(-4500 // 512)
    batches = list(loader)
    assert len(batches) == len(loader)
    x, y = batches[0]
    assert x.shape == (512, 1, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert batches[-1][0].shape[0] == 4500 - 512 * 8
    allx = torch.cat([b[0] for b in batches])
    assert abs(float(allx.mean())) < 0.05 and abs(float(allx.std()) - 1.0) < 0.1
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == sorted(sample.train.labels.tolist())
    dropped = make_loader(sample.train, sample.spec, batch_size=512, input_size=28, in_channels=1, train=True,
                          device="cpu", seed=0, drop_last=True)
    assert len(dropped) == 8 and all(b[0].shape[0] == 512 for b in dropped)


def test_same_seed_same_batches_and_epochs_differ(sample) -> None:
    def first_epochs(seed):
        loader = make_loader(sample.train, sample.spec, batch_size=256, input_size=32, in_channels=1, train=True,
                             augment=("crop", "flip"), device="cpu", seed=seed)  # pca: colour only
        e1 = next(iter(loader))
        e2 = next(iter(loader))
        return e1, e2

    (a1, a2), (b1, b2), (c1, _) = first_epochs(5), first_epochs(5), first_epochs(6)
    assert torch.equal(a1[0], b1[0]) and torch.equal(a1[1], b1[1]) and torch.equal(a2[0], b2[0])
    assert not torch.equal(a1[1], a2[1])  # a new permutation each epoch
    assert not torch.equal(a1[1], c1[1])


def test_validation_order_is_stable_and_matches_to_model_input(sample) -> None:
    loader = make_loader(sample.val, sample.spec, batch_size=100, input_size=32, in_channels=3, train=False,
                         device="cpu", seed=0, augment=("flip",))
    x, y = next(iter(loader))
    assert torch.equal(y, sample.val.labels[:100])
    expected = to_model_input(sample.val.images[:100], sample.spec, input_size=32, in_channels=3)
    assert torch.equal(x, expected) and x.shape == (100, 3, 32, 32)


def test_to_model_input_grey_and_colour_conversion() -> None:
    grey_spec = DatasetSpec("g", 1, ("a", "b"), (0.5,), (0.25,), 4)
    grey = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)
    rgb = to_model_input(grey, grey_spec, input_size=4, in_channels=3)
    assert rgb.shape == (2, 3, 4, 4) and torch.allclose(rgb, torch.full_like(rgb, 2.0))
    colour_spec = DatasetSpec("c", 3, ("a", "b"), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 4)
    red = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    red[:, 0] = 255
    luma = to_model_input(red, colour_spec, input_size=4, in_channels=1)
    assert luma.shape == (1, 1, 4, 4) and torch.allclose(luma, torch.full_like(luma, 0.2989), atol=1e-3)
    single = to_model_input(red[0], colour_spec, input_size=8, in_channels=3)
    assert single.shape == (1, 3, 8, 8)
    wide = torch.zeros(1, 3, 10, 40, dtype=torch.uint8)
    assert to_model_input(wide, colour_spec, input_size=6, in_channels=3).shape == (1, 3, 6, 6)


def test_augmentations_are_listed_and_validated() -> None:
    assert [a.name for a in AUGMENTATIONS] == ["crop", "flip", "pca", "scale"]
    assert all(a.description for a in AUGMENTATIONS)
    assert check_augmentations(["flip", "crop", "flip"]) == ("flip", "crop")
    with pytest.raises(UnknownNameError, match="crop, flip, pca, scale"):
        check_augmentations(["rotate"])


@pytest.mark.parametrize("name", ["crop", "flip", "pca", "scale"])
@pytest.mark.parametrize("input_size", [32, 96])
def test_each_augmentation_changes_the_batch_but_keeps_its_shape(name: str, input_size: int) -> None:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 40, 40), generator=gen, dtype=torch.uint8)
    spec = DatasetSpec("r", 3, ("a", "b"), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 40)
    pca = ImageSet(torch.zeros(16, dtype=torch.int64), images).color_pca()
    plain = train_input(images, spec, input_size=input_size, in_channels=3, augment=(), generator=gen)
    out = train_input(images, spec, input_size=input_size, in_channels=3, augment=(name,), generator=gen, pca=pca)
    assert out.shape == plain.shape == (16, 3, input_size, input_size) and out.dtype == torch.float32
    assert not torch.allclose(out, plain)
    if name == "flip":
        flipped = [torch.equal(o, p.flip(-1)) for o, p in zip(out, plain)]
        kept = [torch.equal(o, p) for o, p in zip(out, plain)]
        assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    if name == "pca":  # a per-image colour shift, constant over the pixels
        diff = out - plain
        assert torch.allclose(diff, diff[:, :, :1, :1].expand_as(diff), atol=1e-4)


def test_pad_crop_offsets_differ_per_sample() -> None:
    image = torch.randint(0, 256, (1, 1, 32, 32), dtype=torch.uint8).expand(64, 1, 32, 32)
    spec = DatasetSpec("r", 1, ("a", "b"), (0.5,), (0.25,), 32)
    out = train_input(image, spec, input_size=32, in_channels=1, augment=("crop",),
                      generator=torch.Generator().manual_seed(1))
    distinct = {out[i].numpy().tobytes() for i in range(64)}
    assert len(distinct) > 10


@pytest.mark.parametrize(("train", "augment", "cached"), [(False, (), True), (True, (), True), (True, ("flip",), True),
                                                          (True, ("crop", "flip"), False)])
@pytest.mark.slow
def test_converting_the_set_once_gives_the_same_batches(sample, monkeypatch, train, augment, cached) -> None:
    import cnnstudio.data.loaders as loaders

    def two_epochs():
        loader = make_loader(sample.train, sample.spec, batch_size=300, input_size=32, in_channels=3, train=train,
                             augment=augment, device="cpu", seed=3)
        return loader, [list(loader) for _ in range(2)]

    fast, fast_epochs = two_epochs()
    assert (fast.converted is not None) == cached
    monkeypatch.setattr(loaders, "CONVERTED_BUDGET", 0)  # too small: every batch converted on its own
    slow, slow_epochs = two_epochs()
    assert slow.converted is None
    for fast_batches, slow_batches in zip(fast_epochs, slow_epochs, strict=True):
        assert len(fast_batches) == len(slow_batches) == len(fast)
        for (fx, fy), (sx, sy) in zip(fast_batches, slow_batches):
            assert torch.equal(fy, sy) and torch.equal(fx, sx)
    if "flip" in augment:  # the flips really happened, and differently per epoch
        plain = make_loader(sample.train, sample.spec, batch_size=300, input_size=32, in_channels=3, train=True,
                            device="cpu", seed=3)
        assert not torch.equal(next(iter(plain))[0], fast_epochs[0][0][0])
        assert not torch.equal(fast_epochs[0][0][0], fast_epochs[1][0][0])
