"""The "tricks" ablation CNN of the source notes (seed 004, "from LeNet to GoogLeNet", part 3).

The notes start from a plain baseline — six 5×5 convs (64-128-256-512-1024-1024, sigmoid)
with a 2×2 max-pool after the first five (224 → 7), then FC 1024 and the classifier — and
add one classic trick at a time. Each switch here is one of those steps:

- ``batch_norm``: BatchNorm after every conv (CNN_BaseLine; the notes' later steps all have it)
- ``activation``: "leaky_relu" (CNN_LeakyRelu), "relu" or "tanh" (tried in the text) for sigmoid
- ``gap``: global average pooling + one FC instead of the two FC layers (CNN_PoolReplaceFC)
- ``dropout``: dropout before the last FC layer (CNN_DropOut uses 0.5)
- ``small_kernels``: two stacked 3×3 convs in place of each 5×5 (CNN_CoreSize3)
- ``multiscale``: the fifth conv becomes a 1×1/3×3/5×5/pool concat block (CNN_ConcatConv)

``width`` multiplies every layer's channels (1.0: the notes' net, 95 M parameters at 32 px;
0.25: 16-32-64-128-256-256 channels and an FC 256, which trains an epoch of mnist-sample in
seconds on a CPU) — the lesson of the study does not need the notes' size.

``all_tricks=True`` is the notes' combined model CNN_AllTricks exactly as written there:
one 3×3 conv per layer for the first four, concat blocks in place of conv5 *and* conv6,
BatchNorm, Leaky ReLU, global average pooling and dropout 0.5.

As in the notes (Paddle's ``Conv2D(act=...)`` followed by ``BatchNorm``), BatchNorm comes
after the activation.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from cnnstudio.models.catalog import TRICKS_MIN_SIZE, get_info
from cnnstudio.models.layers import ClassicCNN, ParallelBlock, make_activation

__all__ = ["ConcatConv", "TricksCNN", "build_tricks", "scaled"]

#: Output channels of the six conv stages, as in the notes.
STAGE_CHANNELS = (64, 128, 256, 512, 1024, 1024)
#: The notes' FC layer after the convs (fc1), and the multi-scale block's branches at width 1.
FC_WIDTH = 1024
CONCAT_CHANNELS = dict(ch1x1=384, ch3x3=(384, 256), ch5x5=(256, 256), pool_proj=128)


def scaled(channels: int, width: float) -> int:
    """`channels` × `width`, rounded, at least 1 (0.25: 64 → 16, 1024 → 256)."""
    return max(1, round(channels * width))


class ConcatConv(ParallelBlock):
    """The notes' multi-scale block (a simplified Inception v1): 1×1, 1×1→3×3, 1×1→5×5, pool→1×1."""

    @classmethod
    def at_width(cls, in_channels: int, *, activation: str, width: float) -> ConcatConv:
        """The block with every branch's channels × `width` (1.0: the notes' numbers)."""
        c = CONCAT_CHANNELS
        return cls(in_channels, activation=activation, ch1x1=scaled(c["ch1x1"], width),
                   ch3x3=(scaled(c["ch3x3"][0], width), scaled(c["ch3x3"][1], width)),
                   ch5x5=(scaled(c["ch5x5"][0], width), scaled(c["ch5x5"][1], width)),
                   pool_proj=scaled(c["pool_proj"], width))

    def __init__(self, in_channels: int, *, activation: str, ch1x1: int = 384, ch3x3: tuple[int, int] = (384, 256),
                 ch5x5: tuple[int, int] = (256, 256), pool_proj: int = 128) -> None:
        super().__init__()
        self.out_channels = ch1x1 + ch3x3[1] + ch5x5[1] + pool_proj  # 1024 with the notes' numbers

        def conv(cin: int, cout: int, kernel: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), make_activation(activation))

        self.branch1 = conv(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(conv(in_channels, ch3x3[0], 1), conv(ch3x3[0], ch3x3[1], 3))
        self.branch3 = nn.Sequential(conv(in_channels, ch5x5[0], 1), conv(ch5x5[0], ch5x5[1], 5))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv(in_channels, pool_proj, 1))



class TricksCNN(ClassicCNN):
    """The notes' six-stage ablation CNN with one switch per trick (see the module docstring)."""

    def __init__(self, *, in_channels: int = 3, num_classes: int = 16, batch_norm: bool = False,
                 activation: str = "sigmoid", gap: bool = False, dropout: float = 0.0, small_kernels: bool = False,
                 multiscale: bool = False, all_tricks: bool = False, width: float = 1.0) -> None:
        super().__init__(arch_name="tricks", in_channels=in_channels, min_size=TRICKS_MIN_SIZE)
        if not width > 0:
            raise ValueError(f"width multiplies the channels and must be above 0; got {width}")
        if all_tricks:
            given = dict(batch_norm=batch_norm, activation=activation, gap=gap, dropout=dropout,
                         small_kernels=small_kernels, multiscale=multiscale)
            # Switches left at their catalog defaults are fine alongside all_tricks (a form
            # that sends every option sends those); any other value would be silently lost.
            info = get_info("tricks")
            changed = [f"{key}={value!r}" for key, value in given.items() if value != info.option(key).default]
            if changed:
                raise ValueError(
                    "all_tricks builds the notes' combined model as it is; turn all_tricks off to set "
                    f"switches one by one (got {', '.join(changed)})"
                )
            implied = info.implied_by("all_tricks")  # the catalog's list, which the window shows
            batch_norm, activation, gap, dropout = (implied[k] for k in ("batch_norm", "activation", "gap", "dropout"))
            kernels, concat_stages = "3x3", (5, 6)  # implied["multiscale"]: concat blocks in both last stages
        else:
            kernels, concat_stages = ("3x3+3x3" if small_kernels else "5x5"), ((5,) if multiscale else ())

        stages: list[tuple[str, nn.Module]] = []
        channels = in_channels
        for stage, filters in enumerate((scaled(c, width) for c in STAGE_CHANNELS), start=1):
            if stage in concat_stages:
                block = ConcatConv.at_width(channels, activation=activation, width=width)
                stages.append((f"block{stage}", block))
                filters = block.out_channels  # the branches' sum: `filters` itself at the notes' width
                if batch_norm:
                    stages.append((f"bn{stage}", nn.BatchNorm2d(filters)))
            else:
                stages += self._convs(stage, channels, filters, kernels, activation, batch_norm=batch_norm)
            if stage < len(STAGE_CHANNELS):
                stages.append((f"pool{stage}", nn.MaxPool2d(2, stride=2)))
            channels = filters
        # At 224×224: N x 64 x 112 x 112 after pool1, then 56, 28, 14, 7; conv6 gives N x 1024 x 7 x 7.
        self.features = nn.Sequential(OrderedDict(stages))

        head: list[tuple[str, nn.Module]]
        hidden = scaled(FC_WIDTH, width)
        if gap:
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))                    # N x 1024 x 1 x 1
            head = [("dropout", nn.Dropout(dropout)), ("fc", nn.Linear(channels, num_classes))]
        else:
            # Identity at 224×224; other sizes reach fc1 as 1024×7×7 too.
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))                    # N x 1024 x 7 x 7
            head = [("fc1", nn.Linear(channels * 7 * 7, hidden)), ("act_fc1", make_activation(activation)),
                    ("dropout", nn.Dropout(dropout)), ("fc2", nn.Linear(hidden, num_classes))]
        self.classifier = nn.Sequential(OrderedDict(head))

    @staticmethod
    def _convs(stage: int, in_channels: int, filters: int, kernels: str, activation: str,
               *, batch_norm: bool) -> list[tuple[str, nn.Module]]:
        """The conv layer(s) of one plain stage, each followed by the activation (and BatchNorm)."""
        if kernels == "3x3+3x3":
            # Two stacked 3×3 see the same 5×5 window as one 5×5, with fewer weights (CNN_CoreSize3).
            shapes = [("", in_channels, 3), ("_2", filters, 3)]
        else:
            shapes = [("", in_channels, 3 if kernels == "3x3" else 5)]
        layers: list[tuple[str, nn.Module]] = []
        for suffix, cin, kernel in shapes:
            layers.append((f"conv{stage}{suffix}", nn.Conv2d(cin, filters, kernel, padding=kernel // 2)))
            layers.append((f"act{stage}{suffix}", make_activation(activation)))
            if batch_norm:
                layers.append((f"bn{stage}{suffix}", nn.BatchNorm2d(filters)))
        return layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.features(x)
        x = self.avgpool(x)
        return self.classifier(torch.flatten(x, 1))


def build_tricks(*, in_channels: int, num_classes: int, batch_norm: bool = False, activation: str = "sigmoid",
                 gap: bool = False, dropout: float = 0.0, small_kernels: bool = False, multiscale: bool = False,
                 all_tricks: bool = False, width: float = 1.0) -> TricksCNN:
    """Registry builder for `tricks`."""
    return TricksCNN(in_channels=in_channels, num_classes=num_classes, batch_norm=batch_norm,
                     activation=activation, gap=gap, dropout=dropout, small_kernels=small_kernels,
                     multiscale=multiscale, all_tricks=all_tricks, width=width)
