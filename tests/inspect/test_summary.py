"""Layer tables: paper parameter counts, shapes, MACs, and no side effects on the model."""

from __future__ import annotations

import pytest
import torch

from cnnstudio.errors import InputTooSmallError
from cnnstudio.inspect.summary import format_summary, summarize, summarize_arch
from cnnstudio.models.registry import build_model


def test_vgg16_at_224_has_the_papers_parameter_count_and_output() -> None:
    summary = summarize_arch("vgg16", in_channels=3, num_classes=1000, input_size=224)
    assert summary.total_params == 138_357_544
    assert summary.trainable_params == 138_357_544
    assert sum(layer.params for layer in summary.layers) == summary.total_params
    assert summary.output_shape == (1000,)
    first = summary.layers[0]
    assert (first.type, first.output_shape) == ("Conv2d", (64, 224, 224))
    # torchinfo counts the bias as one MAC per output element: 64·224·224·(3·3·3 + 1)
    assert first.macs == 64 * 224 * 224 * 28
    assert 15.0e9 < summary.total_macs < 16.0e9  # VGG-16 is the well-known ~15.5 GMACs


def test_summary_follows_the_input_size_and_channels() -> None:
    small = summarize_arch("vgg16", in_channels=1, num_classes=10, input_size=32)
    assert small.input_shape == (1, 32, 32)
    assert small.layers[0].output_shape == (64, 32, 32)
    assert small.output_shape == (10,)


def test_googlenet_table_shows_the_auxiliary_heads() -> None:
    summary = summarize_arch("googlenet", in_channels=3, num_classes=1000, input_size=224)
    assert any("aux" in layer.name for layer in summary.layers)
    assert summary.total_params == 6_998_552 + 6_379_728


def test_too_small_input_names_the_minimum() -> None:
    with pytest.raises(InputTooSmallError, match="at least"):
        summarize_arch("vgg16", in_channels=3, num_classes=10, input_size=16)


def test_summarize_leaves_the_model_as_it_was() -> None:
    model = build_model("lenet5", in_channels=1, num_classes=10)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    summary = summarize(model, (1, 32, 32))
    assert model.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert summary.output_shape == (10,)


def test_text_table_ends_with_the_total() -> None:
    text = format_summary(summarize_arch("lenet5", in_channels=1, num_classes=10, input_size=32))
    lines = text.splitlines()
    assert lines[-1].startswith("Total params: ")
    assert lines[-2].startswith("Trainable params: ")
    assert any("Conv2d" in line for line in lines)
