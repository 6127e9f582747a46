"""The network as a graph: structure of the paper nets, a valid SVG, the JSON of the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
import torch

from cnnstudio.inspect.network_graph import arch_diagram, to_json, to_svg
from cnnstudio.models.graph import layer_graph
from cnnstudio.models.registry import build_model


def test_googlenet_is_nine_blocks_of_four_paths_with_two_side_heads() -> None:
    diagram = arch_diagram("googlenet")
    blocks = [g for g in diagram.groups if g.name.startswith("inception")]
    assert [g.name for g in blocks] == ["inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
                                        "inception4d", "inception4e", "inception5a", "inception5b"]
    incoming = Counter(e.target for e in diagram.edges)
    outgoing: dict[str, list[str]] = {}
    for e in diagram.edges:
        outgoing.setdefault(e.source, []).append(e.target)
    for block in blocks:
        concat = f"{block.id}.concat"
        assert incoming[concat] == 4  # four branches end in one concatenation
        # One node feeds the block: it has four edges, one into each branch.
        feeders = [src for src, targets in outgoing.items()
                   if sum(t.startswith(block.id + ".branch") for t in targets) == 4]
        assert len(feeders) == 1
    heads = [g for g in diagram.groups if g.name in ("aux1", "aux2")]
    assert len(heads) == 2
    for head, tap in zip(heads, ("inception4a", "inception4d")):
        first = min((n for n in diagram.nodes if n.id.startswith(head.id + ".")), key=lambda n: n.y)
        sources = [e.source for e in diagram.edges if e.target == first.id]
        assert sources == [f"features.{tap}.concat"]
        assert first.x > max(b.x + b.w for b in blocks)  # beside the trunk


def test_every_leaf_layer_is_a_node() -> None:
    with torch.device("meta"):
        model = build_model("googlenet", in_channels=3, num_classes=1000)
    leaves = {n.name for n in layer_graph(model).leaves() if n.type_name != "Identity"}
    diagram = arch_diagram("googlenet")
    assert leaves <= set(diagram.index)


def test_alexnets_two_towers_are_drawn_where_the_paper_splits_them() -> None:
    diagram = arch_diagram("alexnet-2gpu")
    assert [n.name for n in diagram.nodes if n.towers == 2] == ["conv2", "conv4", "conv5"]
    assert all(n.towers == 1 for n in arch_diagram("alexnet").nodes)


def test_the_svg_is_valid_and_names_the_blocks() -> None:
    svg = to_svg(arch_diagram("googlenet"))
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    texts = [el.text for el in root.iter() if el.tag.endswith("text")]
    assert "inception3a" in texts and "aux1" in texts


def test_a_collapsed_block_is_one_box() -> None:
    full = arch_diagram("googlenet")
    collapsed = arch_diagram("googlenet", collapsed={"features.inception3a"})
    assert "features.inception3a" in collapsed.index
    assert not any(n.startswith("features.inception3a.") for n in collapsed.index)
    assert len(collapsed.nodes) < len(full.nodes)


@pytest.mark.slow
def test_cli_graph_writes_svg_and_json(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-m", "cnnstudio", "graph", "lenet5", "--dataset", "mnist-sample",
                          "-o", str(tmp_path / "net.svg"), "--json", str(tmp_path / "g.json")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ET.parse(tmp_path / "net.svg")
    data = json.loads((tmp_path / "g.json").read_text())
    ids = [n["id"] for n in data["nodes"]]
    assert "features.c3" in ids
    c3 = next(n for n in data["nodes"] if n["id"] == "features.c3")
    assert c3["shape"] == [16, 10, 10] and c3["receptive_field"] == 14 and c3["kind"] == "conv"
    assert {"from": "features.c1", "to": "features.act1"} in data["edges"]
    assert to_json(arch_diagram("lenet5", in_channels=1, num_classes=10, input_size=32))["nodes"][1]["id"] == "features.c1"
