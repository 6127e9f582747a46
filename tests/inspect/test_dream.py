"""Activation maximisation: LeNet-5's class images are what it calls them, channels rise, the model stays as it was."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnstudio.data.spec import DatasetSpec
from cnnstudio.errors import Cancelled, CnnStudioError, UnknownNameError
from cnnstudio.inspect.dream import (dream_channels, dream_classes, dream_grid, dream_layers, robustness_for)
from cnnstudio.inspect.inputs import TrainedModel
from cnnstudio.models.registry import build_model
from cnnstudio.training.config import default_config
from cnnstudio.training.fit.trainer import Trainer


@pytest.fixture(scope="module")
def lenet_on_digits(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """LeNet-5 as `cnnstudio train --arch lenet5 --dataset mnist-sample` makes it (tanh, average pooling),
    two epochs instead of ten (≈ 93 % validation accuracy, a few seconds)."""
    torch.set_num_threads(1)
    config = default_config("lenet5").replace(dataset="mnist-sample", epochs=2, device="cpu", num_threads=1)
    run_dir = tmp_path_factory.mktemp("dream") / "lenet"
    Trainer(config, run_dir=run_dir).fit()
    return TrainedModel.from_run(run_dir)


@pytest.fixture
def tiny(tiny_run: Path) -> TrainedModel:
    return TrainedModel.from_run(tiny_run)


@pytest.mark.slow
def test_each_lenet_class_image_is_that_class_for_the_net_and_the_ten_differ(lenet_on_digits, one_thread):
    result = dream_classes(lenet_on_digits)  # the defaults a user gets: 256 steps, every class
    assert result.kind == "class" and result.targets == tuple(range(10)) and result.names == tuple("0123456789")
    assert result.images.shape == (10, 32, 32, 1) and result.images.dtype == np.uint8
    p = result.target_probs()
    assert (p >= 0.9).all(), p
    assert [result.predicted(i)[0] for i in range(10)] == list("0123456789")
    # No collapse to one pattern: every pair of images differs by over 10 grey levels on average.
    images = result.images.astype(np.float32)
    gaps = [np.abs(images[i] - images[j]).mean() for i, j in itertools.combinations(range(10), 2)]
    assert min(gaps) > 10, min(gaps)
    # The network's own verdict, recomputed from the uint8 pictures as a user's file would be seen.
    x = lenet_on_digits.to_input(torch.from_numpy(result.images).permute(0, 3, 1, 2))
    with torch.no_grad():
        probs = torch.softmax(lenet_on_digits.model(x), dim=1)
    assert (probs.argmax(dim=1) == torch.arange(10)).all()
    assert (result.objective > result.start).all()


def test_channels_of_a_layer_rise_from_the_random_start_in_one_batch(tiny, one_thread):
    result = dream_channels(tiny, "c3", [0, 3, 5], steps=24, param="pixel")
    assert result.layer == "features.c3" and result.targets == (0, 3, 5)  # the short name found it
    assert result.images.shape == (3, 16, 16, 1)
    assert (result.objective > result.start + 0.1).all(), (result.start, result.objective)
    assert len(result.captions()) == 3 and "channel 3" in result.captions()[1]


def test_the_model_is_left_exactly_as_it_was(tiny, one_thread):
    model = tiny.model
    model.train()
    frozen = next(model.parameters())
    frozen.requires_grad_(False)  # one flag off, the others on: each restored as it was
    flags = [p.requires_grad for p in model.parameters()]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    dream_channels(tiny, "features.c1", steps=3)
    dream_classes(tiny, steps=3, param="fourier", tv=0.1)
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model._forward_hooks and not model.features.c1._forward_hooks


def test_small_work_runs_on_one_thread_and_the_count_is_restored(tiny, monkeypatch):
    import cnnstudio.inspect.dream as dream_module
    from cnnstudio.threads import SMALL_WORK_MACS, threads_for_work

    assert threads_for_work(SMALL_WORK_MACS / 2) == 1 and threads_for_work(SMALL_WORK_MACS * 2) is None
    used = []
    real = dream_module.use_torch_threads
    monkeypatch.setattr(dream_module, "use_torch_threads", lambda n=None: used.append(n) or real(n))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        dream_classes(tiny, steps=2)
        assert used == [1]  # a 16-px LeNet's steps are far too small to share
        assert torch.get_num_threads() == 2  # the caller's count, as it was
    finally:
        torch.set_num_threads(before)


def test_same_seed_same_images_another_seed_others(tiny, one_thread):
    a = dream_classes(tiny, [0, 1], steps=6, seed=3)
    b = dream_classes(tiny, [0, 1], steps=6, seed=3)
    c = dream_classes(tiny, [0, 1], steps=6, seed=4)
    assert np.array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)


def test_bad_layer_class_or_channel_is_refused_naming_the_valid_ones(tiny):
    with pytest.raises(UnknownNameError, match=r"no conv layer 'conv9'.*features\.c1 \(6 channels\)"):
        dream_channels(tiny, "conv9")
    with pytest.raises(UnknownNameError, match=r"features\.c3 has 16 channels \(0\.\.15\); no channel 16"):
        dream_channels(tiny, "c3", [2, 16])
    with pytest.raises(UnknownNameError, match=r"no class 'zebra'.*a-top-left"):
        dream_classes(tiny, ["zebra"])
    with pytest.raises(UnknownNameError, match=r"outside 0\.\.4"):
        dream_classes(tiny, [5])
    with pytest.raises(UnknownNameError, match="parameterisation"):
        dream_classes(tiny, steps=2, param="wavelet")
    with pytest.raises(CnnStudioError, match="at least 1"):
        dream_classes(tiny, steps=0)


def test_cancel_stops_between_steps_and_restores_the_model(tiny, one_thread):
    seen: list[int] = []
    tiny.model.eval()
    with pytest.raises(Cancelled):
        dream_classes(tiny, steps=100, progress=lambda done, total, _message: seen.append(done), cancel=lambda: len(seen) >= 3)
    assert seen == [1, 2, 3]
    assert not tiny.model.training and all(p.requires_grad for p in tiny.model.parameters())


def test_colour_models_take_fourier_images_and_the_grid_has_a_tile_each(one_thread):
    torch.manual_seed(0)
    model = build_model("lenet5", in_channels=3, num_classes=4).eval()
    spec = DatasetSpec(name="colour", channels=3, classes=("w", "x", "y", "z"), mean=(0.5, 0.4, 0.3),
                       std=(0.25, 0.25, 0.25), native_size=32)
    trained = TrainedModel(model, spec, input_size=32, in_channels=3)
    assert [layer.name for layer in dream_layers(trained)] == ["features.c1", "features.c3"]
    result = dream_channels(trained, "features.c3", range(16), steps=3, param="fourier")
    assert result.images.shape == (16, 32, 32, 3) and result.param == "fourier"
    assert result.images.std(axis=(1, 2)).max() > 0  # not a flat colour
    grid = dream_grid(result, tile=40)
    assert grid.dtype == np.uint8 and grid.shape[2] == 3
    assert grid.shape[1] == 4 * (40 + 8) + 8  # a 4×4 page for 16 channels


def test_robustness_transforms_scale_with_the_input():
    small, large = robustness_for(32), robustness_for(224)
    assert (small.pad, small.jitter, small.late_jitter, small.scale, small.rotate) == (2, 2, 1, 0.05, 5)
    assert (large.pad, large.jitter, large.late_jitter, large.scale, large.rotate) == (12, 8, 4, 0.1, 10)
    middle = robustness_for(128)
    assert small.pad < middle.pad < large.pad and small.rotate < middle.rotate < large.rotate
    assert robustness_for(16).pad == 1 and robustness_for(512) == large
