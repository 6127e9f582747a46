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


def test_batchnorm_and_other_elementwise_layers_count_no_macs() -> None:
    # torchinfo's formula gives BatchNorm "batch × weights" = one MAC per channel (128):
    # a figure that measures nothing. Only convolutions and FC layers multiply-accumulate.
    summary = summarize_arch("vgg11", in_channels=3, num_classes=10, input_size=32, batch_norm=True)
    kinds = {layer.type for layer in summary.layers if layer.macs}
    assert kinds == {"Conv2d", "Linear"}
    assert all(layer.macs == 0 for layer in summary.layers if layer.type in ("BatchNorm2d", "ReLU", "MaxPool2d"))
    assert summary.total_macs == sum(layer.macs for layer in summary.layers)
    rows = [line for line in format_summary(summary).splitlines() if "BatchNorm2d" in line]
    assert rows and all(line.rstrip().endswith("–") for line in rows)


def test_googlenet_totals_are_main_network_plus_aux_heads() -> None:
    summary = summarize_arch("googlenet", in_channels=3, num_classes=1000, input_size=224)
    assert (summary.main_params, summary.aux_params) == (6_998_552, 6_379_728)
    assert summary.main_macs + summary.aux_macs == summary.total_macs and summary.aux_macs > 0
    lines = format_summary(summary).splitlines()
    assert lines[-1] == "Total params: 6,998,552 main network + 6,379,728 aux heads = 13,378,280"
    assert "main network" in next(line for line in lines if line.startswith("Total MACs"))
    plain = summarize_arch("googlenet", in_channels=3, num_classes=1000, input_size=224, aux_logits=False)
    assert (plain.total_params, plain.aux_params) == (6_998_552, 0)
    assert format_summary(plain).splitlines()[-1] == "Total params: 6,998,552"


def test_googlenet_without_aux_heads_takes_its_own_smaller_minimum() -> None:
    assert summarize_arch("googlenet", in_channels=3, num_classes=10, input_size=31, aux_logits=False).input_shape \
        == (3, 31, 31)
