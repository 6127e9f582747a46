"""The architectures are the papers' (and the notes'): parameter counts, LRN, aux heads, tricks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnstudio.models.googlenet import GoogLeNetOutputs
from cnnstudio.models.layers import LocalResponseNorm
from cnnstudio.models.registry import build_model


def _params(name: str, *, in_channels: int = 3, num_classes: int = 1000, **options: object) -> int:
    with torch.device("meta"):  # no memory, no initialisation: counting only
        model = build_model(name, in_channels=in_channels, num_classes=num_classes, **options)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("alexnet", {}, 62_378_344),
        ("alexnet-2gpu", {}, 60_965_224),
        ("vgg11", {}, 132_863_336),
        ("vgg11-lrn", {}, 132_863_336),
        ("vgg13", {}, 133_047_848),
        ("vgg16-1x1", {}, 133_638_952),
        ("vgg16", {}, 138_357_544),
        ("vgg19", {}, 143_667_240),
        ("googlenet", {"aux_logits": False}, 6_998_552),
        ("googlenet", {}, 6_998_552 + 6_379_728),
        # torchvision's variants: the num_params its weights' metadata states.
        ("alexnet-torchvision", {}, 61_100_840),
        ("googlenet-torchvision", {"aux_logits": False}, 6_624_904),
    ],
)
def test_parameter_counts_at_1000_classes_equal_the_papers(name, options, expected):
    assert _params(name, **options) == expected


def test_lenet5_has_the_classic_parameter_count_on_grey_digits():
    # C1 156 + C3 2,416 + F5 48,120 + F6 10,164 + output 850.
    assert _params("lenet5", in_channels=1, num_classes=10) == 61_706


def test_two_towers_group_exactly_conv2_conv4_conv5():
    with torch.device("meta"):
        model = build_model("alexnet-2gpu")
    groups = {name: m.groups for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    assert groups == {"features.conv1": 1, "features.conv2": 2, "features.conv3": 1, "features.conv4": 2,
                      "features.conv5": 2}


def test_lrn_is_the_papers_formula_not_torchs_alpha_over_n():
    torch.manual_seed(0)
    a = torch.randn(1, 7, 3, 3) * 30  # large enough that the normaliser matters
    k, n, alpha, beta = 2.0, 5, 1e-4, 0.75
    squares = F.pad(a.pow(2), (0, 0, 0, 0, n // 2, n // 2))  # zero channels beyond the edges
    window_sums = torch.stack([squares[:, c:c + n].sum(dim=1) for c in range(a.shape[1])], dim=1)
    expected = a / (k + alpha * window_sums).pow(beta)
    torch.testing.assert_close(LocalResponseNorm()(a), expected)


@pytest.mark.slow
def test_googlenet_aux_heads_answer_in_training_only():
    torch.manual_seed(0)
    model = build_model("googlenet", num_classes=7)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        out = model.train()(x)
        assert isinstance(out, GoogLeNetOutputs)
        assert [t.shape for t in out] == [(2, 7)] * 3
        assert not torch.equal(out.aux1, out.aux2)
        logits = model.eval()(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 7)
    without = build_model("googlenet", num_classes=7, aux_logits=False).train()
    assert isinstance(without(x), torch.Tensor)


def test_googlenet_has_a_real_5x5_in_every_5x5_branch_and_lrn_twice():
    with torch.device("meta"):
        model = build_model("googlenet", aux_logits=False)
    fives = [m for name, m in model.named_modules() if name.endswith("branch3.1.conv")]
    assert len(fives) == 9 and all(m.kernel_size == (5, 5) for m in fives)
    assert [name for name, m in model.named_modules() if isinstance(m, LocalResponseNorm)] == \
        ["features.lrn1", "features.lrn2"]
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.4]


def test_vgg_a_lrn_normalises_once_after_the_first_conv():
    with torch.device("meta"):
        model = build_model("vgg11-lrn")
    layers = list(model.features)
    assert [i for i, m in enumerate(layers) if isinstance(m, LocalResponseNorm)] == [2]
    assert isinstance(layers[0], nn.Conv2d) and isinstance(layers[3], nn.MaxPool2d)


def test_vgg16_keeps_torchvisions_layout_so_its_weights_load():
    from torchvision.models import vgg16, vgg16_bn

    for ours, theirs in ((dict(), vgg16), (dict(batch_norm=True), vgg16_bn)):
        with torch.device("meta"):
            model, reference = build_model("vgg16", **ours), theirs()
        assert {k: v.shape for k, v in model.state_dict().items()} == \
            {k: v.shape for k, v in reference.state_dict().items()}


def _layer_types(**options: object) -> list[str]:
    with torch.device("meta"):
        model = build_model("tricks", num_classes=16, **options)
    return [type(m).__name__ for m in model.features.children()]


def test_tricks_baseline_is_six_5x5_sigmoid_convs_and_two_fc_layers():
    with torch.device("meta"):
        model = build_model("tricks", num_classes=16)
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size) for m in convs] == [(c, (5, 5)) for c in (64, 128, 256, 512, 1024, 1024)]
    assert _layer_types().count("MaxPool2d") == 5 and "BatchNorm2d" not in _layer_types()
    assert {type(m).__name__ for m in model.modules()} >= {"Sigmoid"}
    assert [m.in_features for m in model.classifier if isinstance(m, nn.Linear)] == [1024 * 7 * 7, 1024]


def test_each_trick_switch_changes_what_the_notes_changed():
    assert _layer_types(batch_norm=True).count("BatchNorm2d") == 6
    assert _layer_types(small_kernels=True).count("Conv2d") == 12
    assert _layer_types(small_kernels=True, batch_norm=True).count("BatchNorm2d") == 12
    assert _layer_types(multiscale=True).count("ConcatConv") == 1
    with torch.device("meta"):
        gap = build_model("tricks", num_classes=16, gap=True, dropout=0.5)
        leaky = build_model("tricks", num_classes=16, activation="leaky_relu")
    assert [type(m).__name__ for m in gap.classifier] == ["Dropout", "Linear"]
    assert gap.classifier[0].p == 0.5 and gap.classifier[1].in_features == 1024
    assert not any(isinstance(m, nn.Sigmoid) for m in leaky.modules())


def test_all_tricks_is_the_notes_combined_model():
    with torch.device("meta"):
        model = build_model("tricks", num_classes=16, all_tricks=True)
    # CNN_AllTricks: four 3×3 convs (64-128-256-512) and two concat blocks, BN after each,
    # Leaky ReLU throughout, global average pooling, dropout 0.5, one FC; 8,392,464 parameters.
    assert _layer_types(all_tricks=True) == (
        ["Conv2d", "LeakyReLU", "BatchNorm2d", "MaxPool2d"] * 4
        + ["ConcatConv", "BatchNorm2d", "MaxPool2d", "ConcatConv", "BatchNorm2d"]
    )
    assert {m.kernel_size for name, m in model.features.named_children() if isinstance(m, nn.Conv2d)} == {(3, 3)}
    assert not any(isinstance(m, nn.Sigmoid) for m in model.modules())
    assert [type(m).__name__ for m in model.classifier] == ["Dropout", "Linear"]
    assert sum(p.numel() for p in model.parameters()) == 8_392_464
