"""The layer graph of a model: the one answer to "which modules are the layers".

In the spirit of torchinfo's `LayerInfo` tree: every module of the model is a `LayerNode`
with its kind, its parent and children, and — for a leaf — its kernel, stride, padding,
groups and channels. Blocks whose branches run side by side on one input and are
concatenated (GoogLeNet's Inception, the notes' multi-scale block) are `ParallelBlock`s and
keep their branches in order; auxiliary classifiers (GoogLeNet's, the paper's and
torchvision's alike) are `AuxHead`s. Both are types the models declare
(`models/layers.py`): never a class-name string, never an attribute one family sets.

The summary, Grad-CAM's layer list, the feature maps, the history, the dynamics recorder and
the graph view all read this. `layer_graph(model)` looks at the module tree only (cheap, no
forward pass); `traced_graph(model, input_shape)` also runs one forward pass on the `meta`
device (no memory, no arithmetic) for each leaf's output shape, where each auxiliary head
branches off the trunk, and the receptive field of every layer in input pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from torch import nn

from cnnstudio.models.layers import AuxHead, LocalResponseNorm, ParallelBlock

__all__ = ["KINDS", "LayerGraph", "LayerNode", "first_conv", "layer_graph", "traced_graph"]

#: Every kind a node can have.
KINDS = ("conv", "pool", "norm", "activation", "linear", "dropout", "block", "head", "container", "other")

_POOLS = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
_NORMS = (nn.BatchNorm2d, nn.BatchNorm1d, nn.LocalResponseNorm, LocalResponseNorm, nn.GroupNorm, nn.LayerNorm)
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.GELU, nn.SiLU, nn.PReLU, nn.ReLU6,
                nn.Hardtanh, nn.Softplus)
#: Activations whose outputs lie in a bounded range (saturation is measured on them) vs those that are zero below 0.
BOUNDED_ACTIVATIONS = (nn.Sigmoid, nn.Tanh, nn.Hardtanh)
RECTIFIERS = (nn.ReLU, nn.ReLU6)


def _kind(module: nn.Module) -> str:
    if isinstance(module, ParallelBlock):
        return "block"
    if isinstance(module, AuxHead):
        return "head"
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, _POOLS):
        return "pool"
    if isinstance(module, _NORMS):
        return "norm"
    if isinstance(module, _ACTIVATIONS):
        return "activation"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, nn.Dropout):
        return "dropout"
    if next(module.children(), None) is not None:
        return "container"
    return "other"  # Identity, Flatten: nothing a student needs to see as a layer


def _pair(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    return None


@dataclass(frozen=True)
class LayerNode:
    """One module of the model, as the views show it."""

    name: str  # qualified name ("features.conv1", "features.inception4a.branch3.1.conv"); "" is the model
    kind: str  # one of KINDS
    type_name: str  # the module's class ("Conv2d", "Inception")
    parent: str | None
    children: tuple[str, ...]
    depth: int  # 0 for the model, 1 for its direct children …
    in_head: bool  # inside an auxiliary head (trained, not part of the network at test time)
    params: int  # parameters of the module and everything under it
    branches: tuple[str, ...] = ()  # a block's branches, left to right
    kernel: tuple[int, int] | None = None  # conv and pool leaves
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] | None = None
    dilation: tuple[int, int] | None = None
    groups: int = 1  # AlexNet's two towers: its grouped convolutions have groups=2
    in_channels: int | None = None
    out_channels: int | None = None
    # Known after `traced_graph` only:
    output_shape: tuple[int, ...] | None = None  # per image (C, H, W) or (features,)
    receptive_field: int | None = None  # the side of the input square one output unit sees, in pixels
    jump: int | None = None  # input pixels between two neighbouring output units
    macs: int | None = None  # multiply-accumulates per image (weights × output positions)
    attached_to: str | None = None  # a head: the trunk layer whose output it reads

    @property
    def is_leaf(self) -> bool:
        return not self.children

    @property
    def short_name(self) -> str:
        """The last part of the name ("conv1"), or the model's class for the root."""
        return self.name.rsplit(".", 1)[-1] if self.name else self.type_name


@dataclass(frozen=True)
class LayerGraph:
    """A model's modules as a tree, in the order the input meets them."""

    nodes: dict[str, LayerNode] = field(default_factory=dict)
    traced: bool = False
    input_shape: tuple[int, int, int] | None = None

    def __getitem__(self, name: str) -> LayerNode:
        return self.nodes[name]

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def leaves(self, *kinds: str, heads: bool = True) -> list[LayerNode]:
        """Leaf layers (of `kinds`, all when none named), in order; `heads=False` leaves the aux heads out."""
        return [n for n in self.nodes.values() if n.is_leaf and (not kinds or n.kind in kinds)
                and (heads or not n.in_head)]

    def names(self, *kinds: str, heads: bool = True) -> list[str]:
        return [n.name for n in self.leaves(*kinds, heads=heads)]

    def convs(self) -> list[str]:
        """Every convolution, in the order the input meets them (the heads' too)."""
        return self.names("conv")

    def first_conv(self) -> str | None:
        """"The first layer" of the kernel views and the history: the first convolution."""
        convs = self.convs()
        return convs[0] if convs else None

    def blocks(self) -> list[LayerNode]:
        """The parallel blocks (Inception, multi-scale), in order."""
        return [n for n in self.nodes.values() if n.kind == "block"]

    def heads(self) -> list[LayerNode]:
        """The auxiliary heads."""
        return [n for n in self.nodes.values() if n.kind == "head"]

    def block_of(self, name: str) -> LayerNode | None:
        """The innermost block that holds `name` (None on the trunk)."""
        parent = self.nodes[name].parent
        while parent is not None:
            if self.nodes[parent].kind == "block":
                return self.nodes[parent]
            parent = self.nodes[parent].parent
        return None

    def resolve(self, name: str) -> str | None:
        """A layer named in full, or by the last parts of its name when that is unique ("c3",
        "inception4a.branch3"); None when it is unknown or ambiguous."""
        if name in self.nodes:
            return name
        matches = [n for n in self.nodes if n.endswith("." + name)]
        return matches[0] if len(matches) == 1 else None

    def head_params(self) -> int:
        return sum(n.params for n in self.heads())

    def recorded_layers(self) -> list[LayerNode]:
        """The layers whose training dynamics are worth a line each: what has weights (conv,
        linear, BatchNorm), the activations, and every block and head output."""
        out = []
        for n in self.nodes.values():
            if n.kind in ("block", "head"):
                out.append(n)
            elif n.is_leaf and n.kind in ("conv", "linear", "activation"):
                out.append(n)
            elif n.is_leaf and n.kind == "norm" and n.params:
                out.append(n)
        return out


def layer_graph(model: nn.Module) -> LayerGraph:
    """The model's layer tree, from its modules alone (no forward pass)."""
    nodes: dict[str, LayerNode] = {}
    heads = {name for name, m in model.named_modules() if isinstance(m, AuxHead)}

    def in_head(name: str) -> bool:
        return any(name == h or name.startswith(h + ".") for h in heads)

    for name, module in model.named_modules():
        children = tuple(f"{name}.{child}" if name else child for child, _ in module.named_children())
        parent = None if name == "" else name.rpartition(".")[0]
        kind = _kind(module)
        facts: dict[str, object] = {}
        if isinstance(module, nn.Conv2d):
            facts = dict(kernel=_pair(module.kernel_size), stride=_pair(module.stride), padding=_pair(module.padding),
                         dilation=_pair(module.dilation), groups=int(module.groups),
                         in_channels=int(module.in_channels), out_channels=int(module.out_channels))
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            facts = dict(kernel=_pair(module.kernel_size), stride=_pair(module.stride or module.kernel_size),
                         padding=_pair(module.padding), dilation=_pair(getattr(module, "dilation", 1)))
        elif isinstance(module, nn.Linear):
            facts = dict(in_channels=int(module.in_features), out_channels=int(module.out_features))
        if isinstance(module, ParallelBlock):
            facts["branches"] = tuple(f"{name}.{b}" for b in module.branch_names)
        nodes[name] = LayerNode(
            name=name, kind=kind, type_name=type(module).__name__, parent=parent, children=children,
            depth=0 if name == "" else name.count(".") + 1, in_head=in_head(name),
            params=sum(p.numel() for p in module.parameters()), **facts,  # type: ignore[arg-type]
        )
    return LayerGraph(nodes)


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """"The first layer" of the kernel views and the history (the graph's first convolution),
    with its qualified name."""
    from cnnstudio.errors import CnnStudioError

    name = layer_graph(model).first_conv()
    if name is None:
        raise CnnStudioError(f"{type(model).__name__} has no convolution layer to show")
    return name, model.get_submodule(name)


def traced_graph(model: nn.Module, input_shape: tuple[int, int, int]) -> LayerGraph:
    """`layer_graph(model)` plus what one forward pass of an image of `input_shape` (C, H, W)
    tells: output shapes, receptive fields, MACs, the heads' attachment. The pass runs on the
    `meta` device in train mode (so auxiliary heads run), over the model's own modules with
    meta stand-ins for its weights: the model is left exactly as it was."""
    import torch
    from torch.func import functional_call

    graph = layer_graph(model)
    modules = dict(model.named_modules())
    order: list[str] = []
    inputs: dict[str, tuple[int, ...]] = {}
    outputs: dict[str, tuple[int, ...]] = {}

    def recorder(name: str):  # noqa: ANN202 - a forward hook
        def hook(_module: nn.Module, args: tuple, out: object) -> None:
            if isinstance(out, torch.Tensor):
                outputs[name] = tuple(int(s) for s in out.shape[1:])
            if args and isinstance(args[0], torch.Tensor):
                inputs[name] = tuple(int(s) for s in args[0].shape[1:])
            order.append(name)
        return hook

    watched = [n.name for n in graph.nodes.values() if n.name and (n.is_leaf or n.kind in ("block", "head"))]
    handles = [modules[name].register_forward_hook(recorder(name)) for name in watched]
    was_training = model.training
    try:
        model.train()
        state = {k: torch.empty_like(v, device="meta") for k, v in
                 [*model.named_parameters(), *model.named_buffers()]}
        with torch.no_grad():
            functional_call(model, state, (torch.empty((2, *input_shape), device="meta"),))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)

    nodes = dict(graph.nodes)
    for name in list(nodes):
        if name in outputs:
            nodes[name] = replace(nodes[name], output_shape=outputs[name])
    _receptive_fields(nodes, order, inputs, input_shape)
    _macs(nodes, inputs)
    _attach_heads(nodes, order)
    return LayerGraph(nodes, traced=True, input_shape=tuple(input_shape))


def _receptive_fields(nodes: dict[str, LayerNode], order: list[str], inputs: dict[str, tuple[int, ...]],
                      input_shape: tuple[int, int, int]) -> None:
    """The standard recurrence r ← r + (k − 1)·d·j, j ← j·s along the data's path: each leaf
    reads the previous leaf of its branch (or its block's input), a block's output sees as far
    as its widest branch, a head starts from the trunk layer before it. Layers that see every
    input position (Linear, global pooling) see the whole image."""
    side = max(input_shape[1], input_shape[2])
    state: dict[str, tuple[int, int]] = {}  # name -> (r, j) of its output

    def leaf_rf(node: LayerNode, r: int, j: int) -> tuple[int, int]:
        if node.kind == "linear":
            return side, j
        if node.kind in ("conv", "pool") and node.kernel is not None:
            k = node.kernel[0]
            d = (node.dilation or (1, 1))[0]
            s = (node.stride or (1, 1))[0]
            return r + (k - 1) * d * j, j * s
        if node.kind == "pool" and node.name in inputs and node.output_shape is not None:
            size_in, size_out = inputs[node.name][-1], node.output_shape[-1]  # adaptive pooling
            if size_out >= size_in:
                return r, j
            s = size_in // size_out
            k = size_in - (size_out - 1) * s
            return r + (k - 1) * j, j * s
        return r, j

    def walk(name: str, r: int, j: int) -> tuple[int, int]:
        node = nodes[name]
        if node.is_leaf:
            r, j = leaf_rf(node, r, j)
        elif node.kind == "block":
            ends = [walk(branch, r, j) for branch in node.branches]
            r, j = max(e[0] for e in ends), max(e[1] for e in ends)
        else:
            for child in node.children:
                if nodes[child].kind == "head":
                    continue  # walked from where it attaches
                r, j = walk(child, r, j)
        state[name] = (r, j)
        return r, j

    walk("", 1, 1)
    # The heads: from the output of the last trunk layer that ran before them.
    for head in (n for n in nodes.values() if n.kind == "head"):
        before = _trunk_before(nodes, order, head.name)
        r, j = state.get(before, (1, 1)) if before else (1, 1)
        walk(head.name, r, j)
    for name, (r, j) in state.items():
        if name:
            nodes[name] = replace(nodes[name], receptive_field=min(r, side) if nodes[name].kind == "linear" else r,
                                  jump=j)


def _trunk_before(nodes: dict[str, LayerNode], order: list[str], head: str) -> str | None:
    """The last trunk leaf (or block) that ran before `head`'s first layer did."""
    first = next((i for i, name in enumerate(order) if name == head or name.startswith(head + ".")), None)
    if first is None:
        return None
    for name in reversed(order[:first]):
        node = nodes[name]
        if not node.in_head and (node.kind == "block" or (node.is_leaf and not _inside_block(nodes, name))):
            return name
    return None


def _inside_block(nodes: dict[str, LayerNode], name: str) -> bool:
    parent = nodes[name].parent
    while parent:
        if nodes[parent].kind == "block":
            return True
        parent = nodes[parent].parent
    return False


def _attach_heads(nodes: dict[str, LayerNode], order: list[str]) -> None:
    for head in [n for n in nodes.values() if n.kind == "head"]:
        nodes[head.name] = replace(head, attached_to=_trunk_before(nodes, order, head.name))


def _macs(nodes: dict[str, LayerNode], inputs: dict[str, tuple[int, ...]]) -> None:
    """Multiply-accumulates per image of convolutions and linear layers (weights × output
    positions, bias additions left out, as the papers count), summed up the tree."""
    own: dict[str, int] = {}
    for name, node in nodes.items():
        if node.kind == "conv" and node.output_shape is not None and node.kernel is not None:
            c_out, h, w = node.output_shape
            own[name] = c_out * h * w * (node.in_channels or 0) // max(node.groups, 1) * node.kernel[0] * node.kernel[1]
        elif node.kind == "linear" and node.in_channels is not None and node.out_channels is not None:
            own[name] = node.in_channels * node.out_channels
    totals: dict[str, int] = {}
    for name in reversed(list(nodes)):
        node = nodes[name]
        totals[name] = own.get(name, 0) + sum(totals.get(c, 0) for c in node.children)
    for name, total in totals.items():
        if total or nodes[name].kind in ("conv", "linear"):
            nodes[name] = replace(nodes[name], macs=total)
