"""The layer graph: one answer to "which modules are the layers", checked on the paper nets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from cnnstudio.models.graph import layer_graph, traced_graph
from cnnstudio.models.registry import build_model


def _meta(arch: str, **options: object):
    with torch.device("meta"):
        return build_model(arch, in_channels=3, num_classes=10, **options)


def _by_short_name(graph, short: str):
    matches = [n for n in graph.nodes.values() if n.short_name == short]
    assert len(matches) == 1, [n.name for n in matches]
    return matches[0]


@pytest.mark.parametrize(("arch", "size", "layer", "expected"), [
    ("vgg16", 224, "features.28", 196),  # conv5_3, by the recurrence r += (k-1)·j, j *= s
    ("vgg16", 224, "features.30", 212),  # pool5
    ("alexnet", 224, "features.conv5", 163),
    ("lenet5", 32, "features.c3", 14),
    ("lenet5", 32, "features.c1", 5),
])
@pytest.mark.slow
def test_receptive_fields_of_the_paper_nets(arch: str, size: int, layer: str, expected: int) -> None:
    graph = traced_graph(_meta(arch), (3, size, size))
    assert graph[layer].receptive_field == expected


@pytest.mark.slow
def test_googlenet_has_nine_inception_blocks_of_four_branches_and_two_side_heads() -> None:
    for arch in ("googlenet", "googlenet-torchvision"):
        graph = traced_graph(_meta(arch), (3, 224, 224))
        blocks = graph.blocks()
        assert [b.short_name for b in blocks] == ["inception3a", "inception3b", "inception4a", "inception4b",
                                                   "inception4c", "inception4d", "inception4e", "inception5a",
                                                   "inception5b"]
        assert all(len(b.branches) == 4 for b in blocks)
        heads = graph.heads()
        assert [h.short_name for h in heads] == ["aux1", "aux2"]
        # Each head reads the output of the block the paper taps: 4a and 4d.
        assert [graph[h.attached_to].short_name for h in heads] == ["inception4a", "inception4d"]
        assert all(n.in_head for h in heads for n in graph.leaves() if n.name.startswith(h.name + "."))


def test_a_branch_sees_from_the_blocks_input_and_the_block_as_far_as_its_widest_branch() -> None:
    graph = traced_graph(_meta("googlenet"), (3, 224, 224))
    block = _by_short_name(graph, "inception3a")
    before = graph["features.pool2"].receptive_field
    jump = graph["features.pool2"].jump
    five = graph[f"{block.name}.branch3.1.conv"]
    assert five.kernel == (5, 5)
    assert five.receptive_field == before + 4 * jump  # the 1×1 reduce adds nothing
    assert block.receptive_field == max(graph[b].receptive_field for b in block.branches)


def test_alexnets_two_towers_are_its_grouped_convolutions() -> None:
    towers = layer_graph(_meta("alexnet-2gpu"))
    single = layer_graph(_meta("alexnet"))
    assert [n.short_name for n in towers.leaves("conv") if n.groups == 2] == ["conv2", "conv4", "conv5"]
    assert all(n.groups == 1 for n in single.leaves("conv"))


def test_the_graph_leaves_the_model_as_it_was() -> None:
    model = build_model("lenet5", in_channels=1, num_classes=10)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hooks_before = sum(len(m._forward_hooks) for m in model.modules())
    traced_graph(model, (1, 32, 32))
    assert not model.training
    assert sum(len(m._forward_hooks) for m in model.modules()) == hooks_before
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.slow
def test_summary_counts_torchvisions_googlenet_heads_apart() -> None:
    from cnnstudio.inspect.summary import summarize_arch

    summary = summarize_arch("googlenet-torchvision", in_channels=3, num_classes=1000, input_size=224)
    assert summary.main_params == 6_624_904  # torchvision's own count of its network
    assert summary.aux_params > 0


@pytest.mark.slow
def test_summary_json_lists_kernel_stride_padding_and_receptive_field(tmp_path) -> None:
    out = tmp_path / "s.json"
    subprocess.run([sys.executable, "-m", "cnnstudio", "summary", "lenet5", "--json", str(out)], check=True,
                   capture_output=True)
    layers = {layer["name"]: layer for layer in json.loads(out.read_text())["layers"]}
    assert layers["features.c3"]["kernel"] == [5, 5]
    assert layers["features.c3"]["stride"] == [1, 1]
    assert layers["features.c3"]["padding"] == [0, 0]
    assert layers["features.c3"]["receptive_field"] == 14
