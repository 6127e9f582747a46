"""The tricks CNN at any width (issue 20, part 3): channels × width, the notes' net at 1.0."""

from __future__ import annotations

import pytest
import torch

from cnnstudio.errors import CnnStudioError
from cnnstudio.models.catalog import get_info
from cnnstudio.models.registry import build_model


def _channels(model: torch.nn.Module) -> list[int]:
    return [m.out_channels for m in model.features if hasattr(m, "out_channels")]


def test_width_multiplies_every_stage_and_the_fc_layer() -> None:
    with torch.device("meta"):
        quarter = build_model("tricks", in_channels=1, num_classes=10, width=0.25)
        notes = build_model("tricks", in_channels=1, num_classes=10)
    assert _channels(quarter) == [16, 32, 64, 128, 256, 256]
    assert _channels(notes) == [64, 128, 256, 512, 1024, 1024]
    assert quarter.classifier.fc1.in_features == 256 * 7 * 7 and quarter.classifier.fc1.out_features == 256
    assert sum(p.numel() for p in notes.parameters()) == 95_018_506  # the notes' net, unchanged at 1.0


@pytest.mark.parametrize("options", [{"multiscale": True, "batch_norm": True}, {"all_tricks": True},
                                     {"gap": True}, {"small_kernels": True}])
def test_every_variant_runs_at_a_quarter_width(options: dict) -> None:
    model = build_model("tricks", in_channels=1, num_classes=10, width=0.25, **options)
    assert _channels(model)[-1] == 256  # a multi-scale block's branches add up to the stage's width
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


def test_width_is_a_catalog_option_so_the_form_and_the_command_line_get_it() -> None:
    spec = get_info("tricks").option("width")
    assert (spec.kind, spec.default) == ("float", 1.0) and spec.minimum > 0
    with pytest.raises(CnnStudioError, match="width must be between"):
        build_model("tricks", in_channels=1, num_classes=10, width=0.0)
