"""The LR range test (issue 20, part 2): the curve, the suggestion, and nothing left changed."""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnstudio.errors import Cancelled, CnnStudioError
from cnnstudio.training.fit.lr_find import find_lr, smooth_losses, steepest_lr
from tests.helpers.training import Recorder, make_bundle, tiny_config

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def bundle():
    return make_bundle(per_class=24)


@pytest.fixture(scope="module")
def curve(bundle):
    return find_lr(tiny_config(batch_size=8), bundle, steps=100)


def test_the_loss_falls_then_diverges_and_the_test_stops(curve) -> None:
    assert curve.stopped_early == "diverged" and len(curve.lrs) < 100
    lowest = int(np.argmin(curve.losses))
    assert curve.losses[lowest] < curve.losses[0] - 0.03  # it fell ...
    assert curve.losses[-1] > 4 * curve.losses[lowest]  # ... then passed 4× the best
    ratios = np.diff(np.log(curve.lrs))  # exponential growth from 1e-7 towards 10 over 100 steps
    assert curve.lrs[0] == pytest.approx(1e-7) and np.allclose(ratios, math.log(1e8) / 99)
    assert len(curve.losses) == len(curve.raw_losses) == len(curve.lrs)


def test_the_suggestion_is_the_steepest_descent_inside_the_range(curve) -> None:
    assert curve.lrs[0] < curve.suggested_lr < curve.lrs[-1]
    assert curve.suggested_lr == steepest_lr(curve.lrs, curve.losses)
    assert curve.min_lr_div10 == pytest.approx(curve.lrs[int(np.argmin(curve.losses))] / 10)
    assert "suggested LR" in curve.sentence and "diverged" in curve.sentence


def test_smoothing_is_fastai_s_debiased_average() -> None:
    assert smooth_losses([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # debiased: no pull towards 0
    assert smooth_losses([1.0, 3.0]) == pytest.approx([1.0, (0.98 * 0.02 + 0.02 * 3) / (1 - 0.98**2)])
    lrs = [1e-3, 1e-2, 1e-1, 1.0]
    assert steepest_lr(lrs, [2.0, 1.9, 1.0, 0.9]) == 1e-2  # the drop from 1e-2 to 1e-1 is the steepest


def test_the_fresh_model_is_the_trainer_s_own(bundle, tmp_path: Path) -> None:
    from cnnstudio.training.fit.trainer import Trainer

    config = tiny_config(batch_size=8, epochs=1)
    recorder = Recorder()
    Trainer(config, callbacks=[recorder], run_dir=tmp_path / "run", bundle=bundle).fit()
    first_batch = recorder.of("batch")[0]
    assert first_batch.batch == 1
    # The same seed, build, init and first batch: the finder's first loss is the fit's.
    assert find_lr(config, bundle, steps=2).raw_losses[0] == pytest.approx(first_batch.loss, rel=1e-5)


def test_a_given_model_optimizer_and_every_rng_are_left_exactly_as_they_were(bundle) -> None:
    from cnnstudio.models.registry import build_model
    from cnnstudio.training.fit.optim import make_optimizer

    config = tiny_config(batch_size=8, optimizer="sgd", momentum=0.9)
    model = build_model("lenet5", in_channels=1, num_classes=6, activation="relu", pool="max")
    optimizer = make_optimizer(config, model)
    loss = model(torch.randn(4, 1, 16, 16)).sum()
    loss.backward()
    optimizer.step()  # momentum buffers now exist
    model.eval()
    weights, state = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    torch.manual_seed(123), np.random.seed(7), random.seed(9)
    torch_rng, np_rng, py_rng = torch.get_rng_state(), np.random.get_state(), random.getstate()

    result = find_lr(config, bundle, steps=12, model=model, optimizer=optimizer)

    assert len(result.lrs) == 12
    assert not model.training  # its mode too
    for name, value in model.state_dict().items():
        assert torch.equal(value, weights[name]), name
    after = optimizer.state_dict()
    assert after["param_groups"] == state["param_groups"]  # the LR was not left at the range's end
    for key, buffers in state["state"].items():
        assert torch.equal(after["state"][key]["momentum_buffer"], buffers["momentum_buffer"])
    assert torch.equal(torch.get_rng_state(), torch_rng)
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), np_rng))
    assert random.getstate() == py_rng


def test_a_fresh_test_leaves_the_rngs_too_and_repeats_itself(bundle) -> None:
    torch.manual_seed(5)
    before = torch.get_rng_state()
    first = find_lr(tiny_config(), bundle, steps=6)
    assert torch.equal(torch.get_rng_state(), before)
    assert find_lr(tiny_config(), bundle, steps=6).raw_losses == first.raw_losses


def test_json_shape(curve) -> None:
    data = json.loads(json.dumps(curve.to_json(), allow_nan=False))
    assert {"lr", "loss", "suggested_lr"} <= set(data)
    assert len(data["lr"]) == len(data["loss"]) and data["suggested_lr"] == curve.suggested_lr
    assert data["stopped_early"] == "diverged" and data["min_lr_div10"] == pytest.approx(curve.min_lr_div10)


def test_progress_cancel_and_a_bad_range(bundle) -> None:
    seen: list[tuple[int, int]] = []
    find_lr(tiny_config(), bundle, steps=4, progress=lambda done, total, _message: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with pytest.raises(Cancelled):
        find_lr(tiny_config(), bundle, steps=50, progress=lambda done, total, _message: None, cancel=lambda: True)
    with pytest.raises(CnnStudioError, match="LR range"):
        find_lr(tiny_config(), bundle, start_lr=1.0, end_lr=0.1)
