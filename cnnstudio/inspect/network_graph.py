"""The network as a graph to read before training: every leaf layer a node, edges for the data
flow, laid out the way the papers draw it.

Built on the model's layer graph (`models/graph.py`, traced on the `meta` device: shapes,
parameters, MACs, kernel/stride/padding, receptive fields). These networks are
series-parallel, so no general graph-layout library is needed: a container stacks its
children top to bottom; an Inception or multi-scale block puts its four branches side by side
between its input and a concatenation node; an auxiliary head hangs to the right of the trunk
from the layer it reads; a grouped convolution (AlexNet's two towers) is one node drawn as two
columns. The engine computes every position; the SVG writer here and the window's Graph view
only draw them. Torch is needed only to trace the model.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from cnnstudio.inspect.palette import KIND_COLOURS, ramp
from cnnstudio.models.graph import LayerGraph, LayerNode

__all__ = ["Diagram", "DiagramEdge", "DiagramGroup", "DiagramNode", "arch_diagram", "diagram_of", "to_json",
           "to_png_array", "to_svg"]

NODE_W, NODE_H = 190, 46
GAP_Y, GAP_X, PAD = 18, 16, 14
HEAD_GAP = 60


@dataclass(frozen=True)
class DiagramNode:
    id: str  # the layer's qualified name ("input", or "<block>.concat" for a concatenation)
    name: str  # short label
    kind: str
    type: str
    x: float
    y: float
    w: float
    h: float
    shape: tuple[int, ...] | None = None
    params: int = 0
    macs: int | None = None
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] | None = None
    receptive_field: int | None = None
    towers: int = 1  # a grouped convolution's groups, drawn as that many columns
    block: str | None = None  # the innermost block the node belongs to
    in_head: bool = False

    def facts(self) -> list[str]:
        """The lines a tooltip shows."""
        lines = [f"{self.id} · {self.type}"]
        if self.shape:
            lines.append("output " + "×".join(map(str, self.shape)))
        if self.kernel:
            lines.append(f"kernel {self.kernel[0]}×{self.kernel[1]}, stride {self.stride[0] if self.stride else 1}, "
                         f"padding {self.padding[0] if self.padding else 0}")
        if self.towers > 1:
            lines.append(f"{self.towers} towers (grouped convolution: each half sees half the channels)")
        if self.receptive_field:
            lines.append(f"receptive field {self.receptive_field} px")
        if self.params:
            lines.append(f"{self.params:,} parameters")
        if self.macs:
            lines.append(f"{self.macs:,} MACs per image")
        if self.in_head:
            lines.append("auxiliary head: trained, dropped at test time")
        return lines


@dataclass(frozen=True)
class DiagramEdge:
    source: str
    target: str


@dataclass(frozen=True)
class DiagramGroup:
    """A block (or a collapsed one) drawn as a named frame around its branches."""

    id: str
    name: str
    x: float
    y: float
    w: float
    h: float
    collapsed: bool = False


@dataclass
class Diagram:
    nodes: list[DiagramNode]
    edges: list[DiagramEdge]
    groups: list[DiagramGroup]
    width: float
    height: float
    title: str = ""
    index: dict[str, DiagramNode] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {node.id: node for node in self.nodes}


@dataclass
class _Fragment:
    nodes: dict[str, tuple[float, float, float, float]]
    edges: list[tuple[str, str]]
    groups: dict[str, tuple[float, float, float, float]]
    width: float
    height: float
    inputs: list[str]
    outputs: list[str]

    def moved(self, dx: float, dy: float) -> _Fragment:
        return _Fragment({k: (x + dx, y + dy, w, h) for k, (x, y, w, h) in self.nodes.items()}, list(self.edges),
                         {k: (x + dx, y + dy, w, h) for k, (x, y, w, h) in self.groups.items()},
                         self.width, self.height, self.inputs, self.outputs)


def _drawn(node: LayerNode) -> bool:
    return node.type_name != "Identity"


def _leaf(name: str) -> _Fragment:
    return _Fragment({name: (0.0, 0.0, NODE_W, NODE_H)}, [], {}, NODE_W, NODE_H, [name], [name])


def _stack(parts: list[_Fragment]) -> _Fragment | None:
    parts = [p for p in parts if p is not None and p.nodes]
    if not parts:
        return None
    width = max(p.width for p in parts)
    out = _Fragment({}, [], {}, width, 0.0, parts[0].inputs, parts[-1].outputs)
    y = 0.0
    previous: list[str] = []
    for part in parts:
        placed = part.moved((width - part.width) / 2, y)
        out.nodes.update(placed.nodes)
        out.groups.update(placed.groups)
        out.edges += placed.edges + [(a, b) for a in previous for b in placed.inputs]
        previous = placed.outputs
        y += part.height + GAP_Y
    out.height = y - GAP_Y
    return out


def _fragment(graph: LayerGraph, name: str, collapsed: frozenset[str]) -> _Fragment | None:
    node = graph[name]
    if node.kind == "head" and name:
        return None  # hung beside the trunk afterwards
    if node.is_leaf:
        return _leaf(name) if _drawn(node) else None
    if node.kind == "block":
        if name in collapsed:
            fragment = _leaf(name)
            fragment.groups[name] = (0.0, 0.0, NODE_W, NODE_H)
            return fragment
        branches = [b for b in (_fragment(graph, branch, collapsed) for branch in node.branches) if b is not None]
        width = sum(b.width for b in branches) + GAP_X * (len(branches) - 1) + 2 * PAD
        top = PAD + 16  # room for the block's name
        out = _Fragment({}, [], {}, width, 0.0, [], [])
        x = PAD
        height = max(b.height for b in branches)
        concat = f"{name}.concat"
        for branch in branches:
            placed = branch.moved(x, top)
            out.nodes.update(placed.nodes)
            out.groups.update(placed.groups)
            out.edges += placed.edges + [(o, concat) for o in placed.outputs]
            out.inputs += placed.inputs
            x += branch.width + GAP_X
        concat_y = top + height + GAP_Y
        out.nodes[concat] = ((width - NODE_W) / 2, concat_y, NODE_W, NODE_H * 0.6)
        out.height = concat_y + NODE_H * 0.6 + PAD
        out.outputs = [concat]
        out.groups[name] = (0.0, 0.0, width, out.height)
        return out
    return _stack([_fragment(graph, child, collapsed) for child in node.children])


def diagram_of(graph: LayerGraph, *, collapsed: set[str] | frozenset[str] = frozenset(), title: str = "") -> Diagram:
    """The diagram of a traced layer graph; blocks named in `collapsed` are drawn as one box."""
    collapsed = frozenset(collapsed)
    trunk = _stack([_leaf("input"), _fragment(graph, "", collapsed)])
    assert trunk is not None
    placed = trunk.moved(PAD, PAD)
    nodes, edges, groups = dict(placed.nodes), list(placed.edges), dict(placed.groups)
    width, height = placed.width + 2 * PAD, placed.height + 2 * PAD
    right = placed.width + PAD + HEAD_GAP
    for head in graph.heads():
        fragment = _fragment_head(graph, head.name, collapsed)
        if fragment is None:
            continue
        source = _output_node(graph, head.attached_to, collapsed, nodes) if head.attached_to else None
        y = nodes[source][1] if source in nodes else PAD
        moved = fragment.moved(right, y)
        nodes.update(moved.nodes)
        groups.update(moved.groups)
        edges += moved.edges + ([(source, i) for i in moved.inputs] if source else [])
        right += fragment.width + HEAD_GAP
        width = max(width, right)
        height = max(height, y + fragment.height + PAD)
    return Diagram(
        nodes=[_node(graph, nid, x, y, w, h, graph.input_shape) for nid, (x, y, w, h) in nodes.items()],
        edges=[DiagramEdge(a, b) for a, b in edges],
        groups=[DiagramGroup(gid, gid.rsplit(".", 1)[-1], x, y, w, h, gid in collapsed)
                for gid, (x, y, w, h) in groups.items()],
        width=width, height=height, title=title,
    )


def _fragment_head(graph: LayerGraph, name: str, collapsed: frozenset[str]) -> _Fragment | None:
    node = graph[name]
    fragment = _stack([_fragment(graph, child, collapsed) for child in node.children])
    if fragment is None:
        return None
    framed = fragment.moved(PAD, PAD + 16)
    framed.width += 2 * PAD
    framed.height += 2 * PAD + 16
    framed.groups[name] = (0.0, 0.0, framed.width, framed.height)
    return framed


def _output_node(graph: LayerGraph, name: str, collapsed: frozenset[str], placed: dict[str, Any]) -> str | None:
    """The drawn node whose output is `name`'s: a leaf itself, a block its concatenation (or its box)."""
    if name in placed:
        return name
    concat = f"{name}.concat"
    if concat in placed:
        return concat
    leaves = [n.name for n in graph.leaves() if n.name.startswith(name + ".") and n.name in placed]
    return leaves[-1] if leaves else None


def _node(graph: LayerGraph, nid: str, x: float, y: float, w: float, h: float,
          input_shape: tuple[int, ...] | None) -> DiagramNode:
    if nid == "input":
        return DiagramNode("input", "input", "input", "Input", x, y, w, h, shape=input_shape)
    if nid.endswith(".concat") and nid not in graph:
        block = graph[nid[: -len(".concat")]]
        return DiagramNode(nid, f"concat {block.short_name}", "concat", "torch.cat", x, y, w, h,
                           shape=block.output_shape, receptive_field=block.receptive_field, block=block.name,
                           in_head=block.in_head)
    node = graph[nid]
    enclosing = graph.block_of(nid)
    kind = "block" if node.kind == "block" else node.kind
    # A Sequential's unnamed child ("branch4.0") is named by what it is.
    label = node.type_name.lower() if node.short_name.isdigit() else node.short_name
    return DiagramNode(
        nid, label, kind, node.type_name, x, y, w, h, shape=node.output_shape, params=node.params,
        macs=node.macs, kernel=node.kernel, stride=node.stride, padding=node.padding,
        receptive_field=node.receptive_field, towers=node.groups if node.kind == "conv" else 1,
        block=node.name if node.kind == "block" else (enclosing.name if enclosing else None), in_head=node.in_head,
    )


def arch_diagram(arch: str, *, in_channels: int = 3, num_classes: int = 1000, input_size: int | None = None,
                 collapsed: set[str] | frozenset[str] = frozenset(), **options: Any) -> Diagram:
    """The diagram of a registry architecture at an input size, before any weight exists (the
    network is built and traced on the `meta` device)."""
    import torch

    from cnnstudio.models.graph import traced_graph
    from cnnstudio.models.registry import build_model, check_input_size
    from cnnstudio.training.input_size import choose_input_size

    size = choose_input_size(arch, input_size=input_size, arch_options=options or None).size
    check_input_size(arch, size, **options)
    with torch.device("meta"):
        model = build_model(arch, in_channels=in_channels, num_classes=num_classes, **options)
    graph = traced_graph(model, (in_channels, size, size))
    return diagram_of(graph, collapsed=_blocks_named(graph, arch, collapsed),
                      title=f"{arch} · {in_channels}×{size}×{size}")


def _blocks_named(graph: LayerGraph, arch: str, names: set[str] | frozenset[str]) -> frozenset[str]:
    """The blocks `names` means (a full name, or its last parts: "inception3a"); CnnStudioError otherwise."""
    from cnnstudio.errors import CnnStudioError

    blocks = [b.name for b in graph.blocks()]
    found = set()
    for name in names:
        resolved = graph.resolve(name)
        if resolved not in blocks:
            shown = ", ".join(b.rsplit(".", 1)[-1] for b in blocks) or "none"
            raise CnnStudioError(f"{arch} has no block {name!r} to fold; its blocks: {shown}")
        found.add(resolved)
    return frozenset(found)


def to_json(diagram: Diagram) -> dict[str, Any]:
    """`cnnstudio graph --json`: nodes (id, name, kind, shape, params, …, position) and edges (from, to)."""
    nodes = []
    for node in diagram.nodes:
        item = asdict(node)
        item["shape"] = list(node.shape) if node.shape else None
        for key in ("kernel", "stride", "padding"):
            item[key] = list(item[key]) if item[key] else None
        nodes.append(item)
    return {"title": diagram.title, "width": diagram.width, "height": diagram.height, "nodes": nodes,
            "edges": [{"from": e.source, "to": e.target} for e in diagram.edges],
            "groups": [asdict(g) for g in diagram.groups]}


def _label_lines(node: DiagramNode) -> tuple[str, str]:
    top = node.name
    if node.kernel:
        top += f"  {node.kernel[0]}×{node.kernel[1]}/{node.stride[0] if node.stride else 1}"
    bottom = "×".join(map(str, node.shape)) if node.shape else node.type
    if node.receptive_field and node.kind in ("conv", "pool", "concat"):
        bottom += f" · RF {node.receptive_field}"
    return top, bottom


def to_svg(diagram: Diagram, *, values: dict[str, float] | None = None, value_label: str = "") -> str:
    """The diagram as a standalone SVG (opens in a browser): nodes coloured by kind, or by
    `values` (a figure per node id, with a colour bar)."""
    esc = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{diagram.width + 40:.0f}" '
           f'height="{diagram.height + 60:.0f}" viewBox="0 0 {diagram.width + 40:.0f} {diagram.height + 60:.0f}" '
           'font-family="Helvetica, Arial, sans-serif">',
           '<rect width="100%" height="100%" fill="white"/>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#666"/></marker></defs>']
    if diagram.title:
        out.append(f'<text x="{PAD}" y="{diagram.height + 40:.0f}" font-size="13" fill="#333">{esc(diagram.title)}</text>')
    for group in diagram.groups:
        if group.collapsed:
            continue
        out.append(f'<rect x="{group.x:.1f}" y="{group.y:.1f}" width="{group.w:.1f}" height="{group.h:.1f}" rx="8" '
                   f'fill="#f3f7fb" stroke="#9db4cc"/>')
        out.append(f'<text x="{group.x + 8:.1f}" y="{group.y + 16:.1f}" font-size="12" font-weight="bold" '
                   f'fill="#35506b">{esc(group.name)}</text>')
    for edge in diagram.edges:
        a, b = diagram.index.get(edge.source), diagram.index.get(edge.target)
        if a is None or b is None:
            continue
        x1, y1 = a.x + a.w / 2, a.y + a.h
        x2, y2 = b.x + b.w / 2, b.y
        if b.in_head and not a.in_head:  # a side branch leaves from the node's right edge
            x1, y1, x2, y2 = a.x + a.w, a.y + a.h / 2, b.x, b.y + b.h / 2
        mid = (y1 + y2) / 2
        out.append(f'<path d="M {x1:.1f} {y1:.1f} C {x1:.1f} {mid:.1f} {x2:.1f} {mid:.1f} {x2:.1f} {y2:.1f}" '
                   'fill="none" stroke="#666" stroke-width="1.2" marker-end="url(#arrow)"/>')
    low = high = 0.0
    if values:
        finite = [v for v in values.values() if v == v]
        low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    for node in diagram.nodes:
        fill = KIND_COLOURS.get(node.kind, "#bab0ac")
        if values and node.id in values and values[node.id] == values[node.id]:
            fill = ramp((values[node.id] - low) / (high - low) if high > low else 0.5)
        columns = max(1, node.towers)
        cw = node.w / columns
        for c in range(columns):
            out.append(f'<rect x="{node.x + c * cw:.1f}" y="{node.y:.1f}" width="{cw - (2 if columns > 1 else 0):.1f}" '
                       f'height="{node.h:.1f}" rx="5" fill="{fill}" stroke="#333" stroke-width="0.8">'
                       f'<title>{esc(chr(10).join(node.facts()))}</title></rect>')
        top, bottom = _label_lines(node)
        text_fill = "#111" if node.kind in ("block", "concat") else "white"
        out.append(f'<text x="{node.x + node.w / 2:.1f}" y="{node.y + node.h * 0.42:.1f}" font-size="12" '
                   f'text-anchor="middle" fill="{text_fill}" font-weight="bold">{esc(top)}</text>')
        if node.h >= NODE_H * 0.9:
            out.append(f'<text x="{node.x + node.w / 2:.1f}" y="{node.y + node.h * 0.8:.1f}" font-size="10" '
                       f'text-anchor="middle" fill="{text_fill}">{esc(bottom)}</text>')
    if values:
        out.append(_colour_bar(diagram.width + 10, 20, low, high, value_label))
    out.append("</svg>")
    return "\n".join(out)


def _colour_bar(x: float, y: float, low: float, high: float, label: str) -> str:
    parts = [f'<g><text x="{x:.1f}" y="{y - 6:.1f}" font-size="10">{html.escape(label)}</text>']
    for i in range(20):
        parts.append(f'<rect x="{x:.1f}" y="{y + (19 - i) * 10:.1f}" width="14" height="10" fill="{ramp(i / 19)}"/>')
    parts.append(f'<text x="{x + 18:.1f}" y="{y + 8:.1f}" font-size="10">{high:.3g}</text>')
    parts.append(f'<text x="{x + 18:.1f}" y="{y + 200:.1f}" font-size="10">{low:.3g}</text></g>')
    return "".join(parts)


def dumps(diagram: Diagram) -> str:
    return json.dumps(to_json(diagram), indent=1)


def to_png_array(diagram: Diagram) -> Any:
    """The diagram as an RGB uint8 picture (Pillow), the same drawing as the SVG's."""
    import numpy as np
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (int(diagram.width + 40), int(diagram.height + 60)), "white")
    draw = ImageDraw.Draw(image)
    for group in diagram.groups:
        if not group.collapsed:
            draw.rounded_rectangle([group.x, group.y, group.x + group.w, group.y + group.h], radius=8,
                                   fill="#f3f7fb", outline="#9db4cc")
            draw.text((group.x + 8, group.y + 4), group.name, fill="#35506b")
    for edge in diagram.edges:
        a, b = diagram.index.get(edge.source), diagram.index.get(edge.target)
        if a is None or b is None:
            continue
        if b.in_head and not a.in_head:
            draw.line([a.x + a.w, a.y + a.h / 2, b.x, b.y + b.h / 2], fill="#666666", width=1)
        else:
            draw.line([a.x + a.w / 2, a.y + a.h, b.x + b.w / 2, b.y], fill="#666666", width=1)
    for node in diagram.nodes:
        fill = KIND_COLOURS.get(node.kind, "#bab0ac")
        columns = max(1, node.towers)
        cw = node.w / columns
        for c in range(columns):
            draw.rounded_rectangle([node.x + c * cw, node.y, node.x + (c + 1) * cw - (2 if columns > 1 else 0),
                                    node.y + node.h], radius=5, fill=fill, outline="#333333")
        top, bottom = (line.replace("×", "x") for line in _label_lines(node))  # Pillow's font has no ×
        colour = "#111111" if node.kind in ("block", "concat") else "white"
        draw.text((node.x + 6, node.y + 4), top, fill=colour)
        if node.h >= NODE_H * 0.9:
            draw.text((node.x + 6, node.y + node.h / 2 + 2), bottom, fill=colour)
    if diagram.title:
        draw.text((PAD, diagram.height + 30), diagram.title, fill="#333333")
    return np.asarray(image)
