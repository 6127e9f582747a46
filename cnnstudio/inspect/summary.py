"""Layer-by-layer output shapes, parameter counts and MACs of a network.

torchinfo does the forward pass with hooks (and removes them); we keep its leaf layers as
plain records so the command line and the app can render them however they like. The
architecture check runs on PyTorch's `meta` device: shapes and counts without allocating a
single weight, so even VGG-19 at 224×224 is summarised in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnnstudio.errors import CnnStudioError

__all__ = ["LayerInfo", "ModelSummary", "summarize", "summarize_arch", "format_summary", "summary_json"]


@dataclass(frozen=True)
class LayerInfo:
    """One leaf layer: where it sits, what it outputs, what it costs."""

    name: str  # qualified module name, e.g. "features.0"
    type: str  # class name, e.g. "Conv2d"
    depth: int  # nesting depth, 1 = a direct child of the model
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int
    trainable_params: int
    macs: int  # multiply-accumulates per image of a convolution or a fully connected layer; 0 for others
    kernel: tuple[int, int] | None = None  # conv and pool layers (from the model's layer graph)
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] | None = None
    receptive_field: int | None = None  # the input square one output unit sees, in pixels
    kind: str = "other"  # the layer graph's kind: conv, pool, norm, activation, linear, dropout, …

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "type": self.type, "kind": self.kind, "depth": self.depth,
                "output_shape": list(self.output_shape), "params": self.params, "macs": self.macs,
                "kernel": list(self.kernel) if self.kernel else None,
                "stride": list(self.stride) if self.stride else None,
                "padding": list(self.padding) if self.padding else None,
                "receptive_field": self.receptive_field}


@dataclass(frozen=True)
class ModelSummary:
    """Every leaf layer of a model at one input shape, with totals.

    `aux_params`/`aux_macs` are the share of the auxiliary heads (GoogLeNet's two extra
    classifiers, used in training only and dropped at inference); the totals include them,
    `main_params`/`main_macs` do not.
    """

    layers: tuple[LayerInfo, ...]
    input_shape: tuple[int, ...]  # C, H, W
    output_shape: tuple[int, ...]  # without the batch dimension
    total_params: int
    trainable_params: int
    total_macs: int
    aux_params: int = 0
    aux_macs: int = 0

    @property
    def main_params(self) -> int:
        """Parameters of the network used at inference (the total minus the auxiliary heads)."""
        return self.total_params - self.aux_params

    @property
    def main_macs(self) -> int:
        """MACs per image of the network used at inference."""
        return self.total_macs - self.aux_macs

    def params_text(self) -> str:
        """"61,706", or "6,998,552 main network + 6,379,728 aux heads = 13,378,280"."""
        if not self.aux_params:
            return f"{self.total_params:,}"
        return f"{self.main_params:,} main network + {self.aux_params:,} aux heads = {self.total_params:,}"


def _shape_without_batch(shape: object) -> tuple[int, ...]:
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], int):
        return tuple(int(s) for s in shape[1:])
    if isinstance(shape, (list, tuple)) and shape:  # a tuple of outputs: show the first
        return _shape_without_batch(shape[0])
    return ()


# Layers that multiply-accumulate their inputs with weights. torchinfo gives every layer
# with a `weight` "batch × weight.numel()" mult-adds, which for BatchNorm is one per
# channel (128), not per pixel: a figure that measures nothing. Normalisation, activations
# and pooling do elementwise work, not multiply-accumulates: they show "–" (0).
_MAC_LAYERS = (nn.modules.conv._ConvNd, nn.Linear)


def summarize(model: nn.Module, input_shape: tuple[int, int, int], *, device: str | torch.device | None = None,
              batch_size: int = 1) -> ModelSummary:
    """Summarise `model` for one input of shape (C, H, W); the model is left exactly as it was."""
    from torchinfo import summary as torchinfo_summary

    from cnnstudio.models.graph import traced_graph

    graph = traced_graph(model, input_shape)  # kinds, kernels, receptive fields, the aux heads
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    try:
        stats = torchinfo_summary(
            model,
            input_size=(batch_size, *input_shape),
            device=device,
            depth=100,
            verbose=0,
            mode="train" if was_training else "eval",
            col_names=("output_size", "num_params", "mult_adds"),
        )
    finally:
        model.train(was_training)
    names = {id(module): name for name, module in model.named_modules()}
    layers = []
    for info in stats.summary_list:
        if info.module is model or any(True for _ in info.module.children()):
            continue  # containers repeat their children's numbers
        name = names.get(id(info.module), info.var_name)
        node = graph.nodes.get(name)
        layers.append(
            LayerInfo(
                name=name,
                type=info.class_name,
                depth=info.depth,
                output_shape=_shape_without_batch(info.output_size),
                params=int(info.num_params),
                trainable_params=int(info.trainable_params),
                # torchinfo counts MACs for the whole batch
                macs=int(info.macs) // batch_size if isinstance(info.module, _MAC_LAYERS) else 0,
                kernel=node.kernel if node else None, stride=node.stride if node else None,
                padding=node.padding if node else None, receptive_field=node.receptive_field if node else None,
                kind=node.kind if node else "other",
            )
        )
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    aux = tuple(f"{head.name}." for head in graph.heads())
    aux_params = sum(p.numel() for name, p in model.named_parameters() if name.startswith(aux))
    main_layers = [layer for layer in layers if not layer.name.startswith(aux)]
    output_shape = main_layers[-1].output_shape if main_layers else ()
    total_macs = sum(layer.macs for layer in layers)
    return ModelSummary(
        layers=tuple(layers),
        input_shape=tuple(input_shape),
        output_shape=output_shape,
        total_params=total,
        trainable_params=trainable,
        total_macs=total_macs,
        aux_params=aux_params if aux else 0,
        aux_macs=total_macs - sum(layer.macs for layer in main_layers),
    )


def summarize_arch(name: str, *, in_channels: int = 3, num_classes: int = 1000, input_size: int | None = None,
                   **options: object) -> ModelSummary:
    """Summarise a registry architecture at an input size, before any weight exists.

    Raises `InputTooSmallError` (with the minimum size) before building anything when the
    input is too small for the design.
    """
    from cnnstudio.models.registry import build_model, check_input_size
    from cnnstudio.training.input_size import choose_input_size

    # No size given: the paper's, as for the paper's own network (a dataset's size comes
    # from `choose_input_size(name, dataset)`, which the faces call first).
    size = choose_input_size(name, input_size=input_size, arch_options=options or None).size
    check_input_size(name, size, **options)
    with torch.device("meta"):
        model = build_model(name, in_channels=in_channels, num_classes=num_classes, **options)
    # Train mode so optional heads that only run in training (GoogLeNet's auxiliary
    # classifiers) appear in the table; batch 2 because BatchNorm refuses a batch of one.
    model.train()
    try:
        return summarize(model, (in_channels, size, size), device="meta", batch_size=2)
    except CnnStudioError:
        raise
    except RuntimeError as exc:  # a shape the design cannot take, found during the pass
        raise CnnStudioError(f"{name} cannot take a {in_channels}×{size}×{size} input: {exc}") from None


def format_summary(summary: ModelSummary) -> str:
    """The layer table as text for the command line, ending with the totals lines."""
    header = ("Layer", "Type", "Output shape", "k/s/p", "RF", "Params", "MACs")
    rows = [
        ("  " * (layer.depth - 1) + layer.name, layer.type, "×".join(map(str, layer.output_shape)),
         _ksp(layer), str(layer.receptive_field) if layer.receptive_field else "–",
         f"{layer.params:,}", f"{layer.macs:,}" if layer.macs else "–")
        for layer in summary.layers
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        left = [row[i].ljust(widths[i]) for i in range(4)]
        right = [row[i].rjust(widths[i]) for i in range(4, 7)]
        return "  ".join(left + right).rstrip()

    rule = "-" * len(line(header))
    out = [line(header), rule, *(line(r) for r in rows), rule,
           "k/s/p: kernel/stride/padding; RF: receptive field, the input square (px) one output unit sees; "
           "MACs leave out bias additions, as the papers count them"]
    out.append(f"Input shape: {'×'.join(map(str, summary.input_shape))}")
    out.append(f"Output shape: {'×'.join(map(str, summary.output_shape))}")
    if summary.aux_macs:
        out.append(f"Total MACs: {summary.main_macs:,} main network + {summary.aux_macs:,} aux heads = "
                   f"{summary.total_macs:,} per image")
    else:
        out.append(f"Total MACs: {summary.total_macs:,} per image")
    out.append(f"Trainable params: {summary.trainable_params:,}")
    # The total comes last: it is the figure people check against the papers (GoogLeNet's
    # 7.0 M is its main network: the auxiliary heads are dropped at inference).
    out.append(f"Total params: {summary.params_text()}")
    return "\n".join(out)


def _ksp(layer: LayerInfo) -> str:
    if layer.kernel is None:
        return "–"
    k, s, p = layer.kernel, layer.stride or (1, 1), layer.padding or (0, 0)
    if k[0] == k[1] and s[0] == s[1] and p[0] == p[1]:
        return f"{k[0]}/{s[0]}/{p[0]}"
    return f"{k[0]}×{k[1]}/{s[0]}×{s[1]}/{p[0]}×{p[1]}"


def summary_json(summary: ModelSummary) -> dict[str, object]:
    """The summary as `cnnstudio summary --json` writes it."""
    return {"input_shape": list(summary.input_shape), "output_shape": list(summary.output_shape),
            "total_params": summary.total_params, "main_params": summary.main_params,
            "aux_params": summary.aux_params, "total_macs": summary.total_macs, "main_macs": summary.main_macs,
            "layers": [layer.to_json() for layer in summary.layers]}
