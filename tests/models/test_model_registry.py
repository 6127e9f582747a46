"""Every architecture builds, runs at its minimum and default sizes, and refuses smaller inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnstudio.errors import CnnStudioError, InputTooSmallError, UnknownNameError
from cnnstudio.models.catalog import get_info, list_models
from cnnstudio.models.registry import OptionValueError, build_model, check_input_size, resolve_options

NAMES = [info.name for info in list_models()]


def _lanes(names: list[str], *, fast: set[str]) -> list:
    """`names`, those not in `fast` marked slow (a forward of a 224 px net takes seconds on a CPU)."""
    return [name if name in fast else pytest.param(name, marks=pytest.mark.slow) for name in names]


def _meta_model(name: str, **options: object) -> nn.Module:
    with torch.device("meta"):
        return build_model(name, num_classes=10, **options)


@pytest.mark.parametrize("name", _lanes(NAMES, fast={"lenet5"}))
def test_forward_at_min_and_default_size_gives_one_logit_per_class(name):
    info = get_info(name)
    torch.manual_seed(0)
    model = build_model(name, in_channels=3, num_classes=10)
    assert model.min_size == info.min_size  # the model's own guard agrees with the catalog
    with torch.no_grad():
        model.train()  # training is where GoogLeNet's auxiliary heads run and need the most room
        out = model(torch.randn(2, 3, info.min_size, info.min_size))
        logits = out[0] if isinstance(out, tuple) else out
        assert logits.shape == (2, 10)
        model.eval()
        out = model(torch.randn(2, 3, info.default_size, info.default_size))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", _lanes(NAMES, fast=set(NAMES) - {"googlenet", "googlenet-torchvision"}))
def test_one_channel_images_work(name):
    info = get_info(name)
    # Built without the (slow, here irrelevant) random initialisation: only shapes are checked.
    with torch.device("meta"):
        model = build_model(name, in_channels=1, num_classes=3)
    model = model.to_empty(device="cpu").eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, info.min_size + 1, info.min_size + 1)).shape == (2, 3)


@pytest.mark.parametrize("name", NAMES)
def test_one_pixel_below_the_minimum_is_refused_with_the_minimum_named(name):
    info = get_info(name)
    model = _meta_model(name).train()
    small = torch.zeros(2, 3, info.min_size - 1, info.min_size - 1, device="meta")
    expected = f"{name} needs inputs of at least {info.min_size}×{info.min_size} pixels; got {info.min_size - 1}×"
    with pytest.raises(InputTooSmallError, match=expected):
        model(small)
    with pytest.raises(InputTooSmallError, match=expected):
        check_input_size(name, info.min_size - 1)
    check_input_size(name, info.min_size)
    # The minimum is honest: without the guard, the network itself cannot take one pixel less.
    model.min_size = 1
    with pytest.raises(RuntimeError):
        model(small)


def test_non_square_input_is_judged_by_its_short_side():
    model = build_model("lenet5", in_channels=1, num_classes=10).eval()
    assert model(torch.zeros(2, 1, 16, 40)).shape == (2, 10)
    with pytest.raises(InputTooSmallError, match="got 15×40"):
        model(torch.zeros(2, 1, 15, 40))


def test_lenet_skips_its_adaptive_pool_only_where_it_is_an_identity():
    torch.manual_seed(0)
    model = build_model("lenet5", in_channels=1, num_classes=10).eval()

    def with_the_pool(x):
        return model.classifier(torch.flatten(model.avgpool(model.features(x)), 1))

    for side in (32, 28, 64):  # 32: the pool is skipped; 28 and 64 still need it to reach 5×5
        x = torch.randn(3, 1, side, side)
        torch.testing.assert_close(model(x), with_the_pool(x))


def test_wrong_channel_count_gets_a_plain_message():
    model = build_model("lenet5", in_channels=1, num_classes=10)
    with pytest.raises(CnnStudioError, match="built for 1-channel images; got 3 channels"):
        model(torch.zeros(2, 3, 32, 32))


@pytest.mark.slow
def test_googlenet_without_aux_heads_takes_smaller_inputs():
    with pytest.raises(InputTooSmallError, match="at least 79×79"):
        check_input_size("googlenet", 32)
    check_input_size("googlenet", 32, aux_logits=False)
    model = build_model("googlenet", num_classes=10, aux_logits=False).train()
    assert model(torch.randn(2, 3, 31, 31)).shape == (2, 10)
    with pytest.raises(InputTooSmallError, match="at least 31×31"):
        model(torch.randn(2, 3, 30, 30))


def test_unknown_architecture_and_option_names():
    with pytest.raises(UnknownNameError, match="unknown architecture 'resnet50'.*lenet5, alexnet"):
        build_model("resnet50")
    with pytest.raises(UnknownNameError, match="lenet5 has no option 'batch_norm'; valid options: activation, pool"):
        build_model("lenet5", batch_norm=True)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("lenet5", {"activation": "gelu"}, "lenet5 option activation must be one of: tanh, sigmoid, relu; got 'gelu'"),
        ("vgg16", {"batch_norm": "maybe"}, "vgg16 option batch_norm must be true or false; got 'maybe'"),
        ("vgg16", {"dropout": 1.5}, "vgg16 option dropout must be between 0.0 and 0.9; got 1.5"),
        ("alexnet", {"dropout": "lots"}, "alexnet option dropout must be a number; got 'lots'"),
        ("tricks", {"all_tricks": True, "activation": "relu"}, "all_tricks builds the notes' combined model"),
    ],
)
def test_bad_option_values_are_refused_with_a_clear_message(name, options, message):
    with pytest.raises(OptionValueError, match=message):
        _meta_model(name, **options)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_class_and_channel_counts_must_be_positive_whole_numbers(bad):
    with pytest.raises(OptionValueError, match="num_classes must be a positive whole number"):
        build_model("lenet5", num_classes=bad)
    with pytest.raises(OptionValueError, match="in_channels must be a positive whole number"):
        build_model("lenet5", in_channels=bad)


def test_options_from_a_command_line_are_coerced_and_defaults_filled():
    assert resolve_options("vgg16", {"batch_norm": "yes", "dropout": "0.25"}) == {"batch_norm": True, "dropout": 0.25}
    assert resolve_options("googlenet") == {"aux_logits": True, "batch_norm": False, "lrn": True, "dropout": 0.4}
    model = _meta_model("vgg16", batch_norm="true", dropout="0.25")
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.25, 0.25]


def test_built_model_is_named_after_its_registry_name():
    assert _meta_model("vgg16-1x1").arch_name == "vgg16-1x1"
    assert _meta_model("alexnet-2gpu").arch_name == "alexnet-2gpu"


def test_every_model_starts_with_a_conv_and_is_features_pool_classifier():
    for name in NAMES:
        model = _meta_model(name)
        assert isinstance(next(m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))), nn.Conv2d)
        assert {"features", "avgpool", "classifier"} <= {child for child, _ in model.named_children()}
