"""Initialisation schemes and VGG's start from a trained configuration A."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cnnstudio.errors import CheckpointError, CnnStudioError, UnknownNameError
from cnnstudio.choices import Init
from cnnstudio.models.init import init_vgg_from_a, init_weights
from cnnstudio.models.registry import build_model


def _weighted(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_normal_is_the_papers_n_0_001_with_zero_bias():
    torch.manual_seed(0)
    model = build_model("googlenet", num_classes=10, batch_norm=True)
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        nn.init.constant_(bn.weight, 3.0)
    init_weights(model, "normal")
    weights = torch.cat([m.weight.flatten() for m in _weighted(model)])
    assert weights.std().item() == pytest.approx(0.01, rel=0.01)
    assert abs(weights.mean().item()) < 1e-4
    assert all(m.bias is None or not m.bias.any() for m in _weighted(model))
    assert all((m.weight == 1).all() for m in model.modules() if isinstance(m, nn.BatchNorm2d))


def test_kaiming_and_xavier_follow_their_formulas():
    torch.manual_seed(0)
    model = build_model("lenet5", in_channels=1, num_classes=10)
    init_weights(model, "kaiming")
    f5 = model.classifier.f5  # 400 inputs, 120 outputs
    assert f5.weight.std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.05)
    assert not f5.bias.any()
    init_weights(model, "xavier")
    bound = math.sqrt(6 / (400 + 120))
    assert f5.weight.abs().max().item() <= bound
    assert f5.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)


def test_default_leaves_pytorchs_weights_alone():
    model = build_model("lenet5", in_channels=1, num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    init_weights(model, "default")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_unknown_scheme_lists_the_known_ones():
    model = build_model("lenet5", in_channels=1, num_classes=10)
    expected = "unknown initialisation 'he'; choose one of: " + ", ".join(Init.values())
    with pytest.raises(UnknownNameError, match=expected):
        init_weights(model, "he")


@pytest.fixture(scope="module")
def trained_a() -> dict[str, torch.Tensor]:
    """A config-A state dict standing in for a trained one (values only need to be recognisable)."""
    torch.manual_seed(1)
    return build_model("vgg11", in_channels=1, num_classes=10).state_dict()


@pytest.mark.slow
def test_vgg_d_starts_from_a_first_four_convs_and_three_fc_layers(trained_a):
    torch.manual_seed(2)
    deeper = build_model("vgg16", in_channels=1, num_classes=10)
    before = {k: v.clone() for k, v in deeper.state_dict().items()}
    copied = init_vgg_from_a(deeper, trained_a)
    # A's convs are features.0/3/6/8 (stage 1, stage 2, stage 3 twice); in D the same places
    # are features.0 (64), features.5 (128), features.10 and features.12 (256).
    assert copied == ["features.0", "features.5", "features.10", "features.12",
                      "classifier.0", "classifier.3", "classifier.6"]
    after = deeper.state_dict()
    for ours, theirs in zip(copied, ["features.0", "features.3", "features.6", "features.8",
                                     "classifier.0", "classifier.3", "classifier.6"]):
        for key in ("weight", "bias"):
            assert torch.equal(after[f"{ours}.{key}"], trained_a[f"{theirs}.{key}"])
    untouched = [k for k in after if k.rsplit(".", 1)[0] not in copied]
    assert untouched and all(torch.equal(after[k], before[k]) for k in untouched)


@pytest.mark.slow
def test_batch_norm_nets_copy_the_batch_norm_that_follows_each_conv():
    torch.manual_seed(3)
    source = build_model("vgg11", in_channels=1, num_classes=10, batch_norm=True)
    with torch.no_grad():
        source.features[1].running_mean.fill_(0.5)
    deeper = build_model("vgg13", in_channels=1, num_classes=10, batch_norm=True)
    copied = init_vgg_from_a(deeper, {f"_orig_mod.{k}": v for k, v in source.state_dict().items()})
    assert copied[:2] == ["features.0", "features.1"] and len(copied) == 11
    assert (deeper.features[1].running_mean == 0.5).all()


@pytest.mark.slow
def test_shape_mismatch_is_refused_before_anything_changes(trained_a):
    deeper = build_model("vgg16", in_channels=1, num_classes=100)
    before = deeper.features[0].weight.clone()
    with pytest.raises(CnnStudioError, match=r"classifier\.6\.weight has shape \[10, 4096\].*\[100, 4096\]"):
        init_vgg_from_a(deeper, trained_a)
    assert torch.equal(deeper.features[0].weight, before)


def test_only_a_config_a_source_and_a_vgg_target_are_accepted(trained_a):
    with torch.device("meta"):
        b = build_model("vgg13", in_channels=1, num_classes=10)
        lenet = build_model("lenet5", in_channels=1, num_classes=10)
    with pytest.raises(CheckpointError, match="not a VGG config A"):
        init_vgg_from_a(b, b.state_dict())
    with pytest.raises(CheckpointError, match="not a VGG model"):
        init_vgg_from_a(b, lenet.state_dict())
    with pytest.raises(CnnStudioError, match="only a VGG model can start from config A; got LeNet5"):
        init_vgg_from_a(lenet, trained_a)
