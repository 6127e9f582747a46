"""The list of architectures and what a person needs to know about each — without torch.

This is the one place the architectures are listed. The app paints its architecture list
from here before torch has loaded, so this module imports nothing heavy; each entry names
its builder as ``"module:function"`` and `registry.build_model` imports it only when a
model is actually built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cnnstudio.errors import UnknownNameError, did_you_mean

__all__ = ["ArchInfo", "OptionSpec", "get_info", "list_models", "model_names"]

OptionKind = Literal["bool", "choice", "float"]


@dataclass(frozen=True)
class OptionSpec:
    """One build option of an architecture: its name, kind, default and (for choices) values.

    `minimum`/`maximum` bound a float option (both inclusive).
    """

    name: str
    kind: OptionKind
    default: object
    choices: tuple[str, ...] = ()
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    label: str = ""  # what a form calls it ("LRN"); empty: the name in words ("Batch norm")

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " ").capitalize())


@dataclass(frozen=True)
class ArchInfo:
    """What the catalog knows about one architecture (all plain values).

    `paper` is authors and title, `venue` where and when it was published ("ICLR 2015");
    `year` is when the work appeared (VGG and GoogLeNet: 2014, on arXiv), and `citation`
    joins them without repeating a year.
    `depth` counts weight layers as the papers do; `default_size` is the side of the square
    input the paper used, `paper_channels` and `paper_classes` what it was trained on (what
    a summary with no dataset shows); `min_size` is the smallest side the design accepts
    (every pooling stage still gets a window). `builder` is ``"module:function"`` and `builder_kwargs` the
    fixed keyword arguments that select this entry (e.g. the VGG configuration letter).
    `implied` lists the switches that set other options themselves: (switch, ((option,
    value), …)) — with the switch on, those options are in force at those values and must
    be left at their defaults when building (the window shows them ticked and disabled).
    """

    name: str
    family: str
    title: str
    paper: str
    year: int
    depth: int
    default_size: int
    min_size: int
    description: str
    paper_channels: int = 3
    paper_classes: int = 1000  # ILSVRC
    options: tuple[OptionSpec, ...] = ()
    builder: str = field(default="", repr=False)
    builder_kwargs: tuple[tuple[str, object], ...] = field(default=(), repr=False)
    implied: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()

    def implied_by(self, switch: str) -> dict[str, object]:
        """The options `switch` sets, with the values it sets them to ({} for a plain option)."""
        return dict(next((values for name, values in self.implied if name == switch), ()))

    venue: str = ""
    # The smallest side the input-size rule picks for a dataset (0: `min_size`). Smaller
    # inputs still run, but lose what the design relies on (LeNet-5: see its entry).
    design_min_size: int = 0

    @property
    def citation(self) -> str:
        """"Simonyan & Zisserman, Very Deep …, ICLR 2015 (arXiv 2014)": the paper, its venue, one year each."""
        if not self.venue:
            return f"{self.paper}, {self.year}"
        if str(self.year) in self.venue:
            return f"{self.paper}, {self.venue}"
        return f"{self.paper}, {self.venue} (arXiv {self.year})"

    def option(self, name: str) -> OptionSpec:
        """The option called `name`; `UnknownNameError` listing the valid ones otherwise."""
        for spec in self.options:
            if spec.name == name:
                return spec
        valid = ", ".join(spec.name for spec in self.options) or "none"
        raise UnknownNameError(f"{self.name} has no option {name!r}; valid options: {valid}")


def _batch_norm(default: bool = False) -> OptionSpec:
    return OptionSpec("batch_norm", "bool", default, help="BatchNorm after every convolution (not in the paper)",
                      label="BatchNorm")


def _dropout(default: float, where: str) -> OptionSpec:
    return OptionSpec("dropout", "float", default, help=f"dropout probability {where}", minimum=0.0, maximum=0.9)


def _lrn(default: bool = True) -> OptionSpec:
    return OptionSpec("lrn", "bool", default, help="local response normalisation where the paper has it",
                      label="LRN")


# The least input side each design passes, here once: the catalog shows them before torch
# loads, and the model classes take them from here to refuse a too-small input.
LENET_MIN_SIZE = 16  # C1 (5×5) leaves 12, S2 6, C3 (5×5) 2, S4 1: one pixel is the least that survives
ALEXNET_MIN_SIZE = 63  # the smallest side for which the third 3×3/2 max-pool still gets a 3×3 window
VGG_MIN_SIZE = 32  # five 2×2 pools halve the side five times; 32 is the least that leaves 1 pixel
TRICKS_MIN_SIZE = 32  # five 2×2 pools, as VGG
# The auxiliary heads' 5×5 average pool needs inception 4a's map to be 5×5 at least, which
# takes 79 px in; without them, 31 px is the least that the four 3×3/2 max-pools pass.
GOOGLENET_MIN_SIZE = 79
GOOGLENET_NO_AUX_MIN_SIZE = 31

# Authors and title only: a face that writes "paper, year" must not get two years.
_LENET_PAPER = "LeCun, Bottou, Bengio & Haffner, Gradient-Based Learning Applied to Document Recognition"
_ALEXNET_PAPER = "Krizhevsky, Sutskever & Hinton, ImageNet Classification with Deep Convolutional Neural Networks"
_VGG_PAPER = "Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image Recognition"
_GOOGLENET_PAPER = "Szegedy et al., Going Deeper with Convolutions"
_ONE_WEIRD_TRICK_PAPER = "Krizhevsky, One weird trick for parallelizing convolutional neural networks"
_TRICKS_PAPER = "Reading notes 'From LeNet to GoogLeNet' (Paddle AI Studio), the tricks ablation"

_ALEXNET_OPTIONS = (_lrn(), _dropout(0.5, "in the two 4096-wide FC layers"))
_VGG_OPTIONS = (_batch_norm(), _dropout(0.5, "in the two 4096-wide FC layers"))


def _vgg(name: str, config: str, depth: int, params: str, description: str) -> ArchInfo:
    return ArchInfo(
        name=name, family="vgg", title=f"VGG config {config} ({depth} layers)", paper=_VGG_PAPER, year=2014,
        depth=depth, default_size=224, min_size=VGG_MIN_SIZE, description=f"{description} {params} parameters.",
        options=_VGG_OPTIONS, builder="cnnstudio.models.vgg:build_vgg", builder_kwargs=(("config", config),),
        venue="ICLR 2015",
    )


# Teaching order: the papers in time order, VGG's configurations as in its Table 1, then
# the notes' ablation CNN that borrows their tricks.
_MODELS: tuple[ArchInfo, ...] = (
    ArchInfo(
        name="lenet5", family="lenet", title="LeNet-5", paper=_LENET_PAPER, year=1998, depth=5,
        default_size=32, min_size=LENET_MIN_SIZE, paper_channels=1, paper_classes=10,
        # The paper padded MNIST's 28×28 to 32×32 so that F5 (its C5, a 5×5 conv) sees a 5×5
        # map; at 28×28 the 4×4 map is stretched to 5×5 and accuracy drops (mnist-sample,
        # 2 epochs, ReLU + max-pool: 84.4 % at 28 against 93.6 % at 32).
        design_min_size=32,
        description="The first successful CNN: two 5×5 conv/pool stages and three FC layers, for 32×32 digits.",
        options=(
            OptionSpec("activation", "choice", "tanh", ("tanh", "sigmoid", "relu"),
                       help="activation after every layer (the paper: a scaled tanh)"),
            OptionSpec("pool", "choice", "avg", ("avg", "max"), help="subsampling: average (paper) or max",
                       label="Pooling"),
        ),
        builder="cnnstudio.models.lenet:build_lenet", venue="Proc. IEEE 1998",
    ),
    ArchInfo(
        name="alexnet", family="alexnet", title="AlexNet", paper=_ALEXNET_PAPER, year=2012, depth=8,
        default_size=224, min_size=ALEXNET_MIN_SIZE,
        description="ILSVRC-2012 winner: ReLU, LRN, overlapping max-pools and dropout; 62.4 M parameters.",
        options=_ALEXNET_OPTIONS, builder="cnnstudio.models.alexnet:build_alexnet", venue="NIPS 2012",
    ),
    ArchInfo(
        name="alexnet-2gpu", family="alexnet", title="AlexNet, two GPU towers", paper=_ALEXNET_PAPER, year=2012,
        depth=8, default_size=224, min_size=ALEXNET_MIN_SIZE,
        description="AlexNet as trained on two GPUs: conv2, conv4, conv5 see only their own half; 61.0 M parameters.",
        options=_ALEXNET_OPTIONS, builder="cnnstudio.models.alexnet:build_alexnet",
        builder_kwargs=(("two_towers", True),), venue="NIPS 2012",
    ),
    # torchvision's nets, for its ImageNet weights: not the papers' (see models/torchvision_variants.py).
    ArchInfo(
        name="alexnet-torchvision", family="alexnet", title="AlexNet, torchvision's variant (not the paper's)",
        paper=_ONE_WEIRD_TRICK_PAPER, year=2014, depth=8, default_size=224, min_size=63,
        description="torchvision's single-tower AlexNet: 64-192-384-256-256 convs, no LRN; 61.1 M parameters. "
                    "Its ImageNet weights load into it (--pretrained alexnet).",
        options=(_dropout(0.5, "before fc6 and fc7"),),
        builder="cnnstudio.models.torchvision_variants:build_alexnet_torchvision", venue="arXiv:1404.5997 (2014)",
    ),
    _vgg("vgg11", "A", 11, "133 M", "Eight 3×3 convs in five stages, then FC 4096-4096;"),
    _vgg("vgg11-lrn", "A-LRN", 11, "133 M",
         "Config A with LRN after the first conv — the paper found it does not help;"),
    _vgg("vgg13", "B", 13, "133 M", "Config A plus a second 3×3 conv in the first two stages;"),
    _vgg("vgg16-1x1", "C", 16, "134 M", "Config B plus a 1×1 conv in each of the last three stages;"),
    _vgg("vgg16", "D", 16, "138 M", "'VGG-16': three 3×3 convs in each of the last three stages;"),
    _vgg("vgg19", "E", 19, "144 M", "'VGG-19': four 3×3 convs in each of the last three stages;"),
    ArchInfo(
        name="googlenet", family="googlenet", title="GoogLeNet (Inception v1)", paper=_GOOGLENET_PAPER,
        year=2014, depth=22, default_size=224, min_size=GOOGLENET_MIN_SIZE,
        description="ILSVRC-2014 winner: nine Inception modules and global average pooling; 7.0 M parameters.",
        options=(
            OptionSpec("aux_logits", "bool", True,
                       help="the two auxiliary classifiers after 4a and 4d (training only, 0.3 of the loss)",
                       label="Auxiliary classifiers"),
            _batch_norm(), _lrn(), _dropout(0.4, "before the final FC layer"),
        ),
        builder="cnnstudio.models.googlenet:build_googlenet", venue="CVPR 2015",
    ),
    ArchInfo(
        name="googlenet-torchvision", family="googlenet", title="GoogLeNet, torchvision's variant (not the paper's)",
        paper=_GOOGLENET_PAPER, year=2014, depth=22, default_size=224, min_size=15,
        description="torchvision's GoogLeNet: BatchNorm everywhere, 3×3 in the 5×5 branch, no LRN; 6.6 M parameters. "
                    "Its ImageNet weights load into it (--pretrained googlenet).",
        options=(
            OptionSpec("aux_logits", "bool", True,
                       help="the two auxiliary classifiers after 4a and 4d (training only, 0.3 of the loss)"),
            OptionSpec("transform_input", "bool", False,
                       help="rescale ImageNet-normalised input to [-1, 1] as its TensorFlow-born weights expect"),
            _dropout(0.2, "before the final FC layer"),
        ),
        builder="cnnstudio.models.torchvision_variants:build_googlenet_torchvision", venue="CVPR 2015",
    ),
    ArchInfo(
        name="tricks", family="tricks", title="Tricks ablation CNN", paper=_TRICKS_PAPER, year=2020, depth=8,
        default_size=224, min_size=TRICKS_MIN_SIZE, paper_classes=16,  # the notes' 16-class Caltech subset
        description="A six-conv sigmoid baseline with a switch for each classic trick, to compare them one by one.",
        options=(
            _batch_norm(),
            OptionSpec("activation", "choice", "sigmoid", ("sigmoid", "tanh", "relu", "leaky_relu"),
                       help="activation after every conv and FC layer"),
            OptionSpec("gap", "bool", False, help="global average pooling instead of the FC 1024 layer",
                       label="Global average pooling"),
            _dropout(0.0, "before the last FC layer (the notes use 0.5)"),
            OptionSpec("small_kernels", "bool", False, help="two stacked 3×3 convs in place of each 5×5",
                       label="Two 3×3 for each 5×5"),
            OptionSpec("multiscale", "bool", False, help="conv5 becomes a 1×1/3×3/5×5/pool concat block",
                       label="Multi-scale block"),
            OptionSpec("all_tricks", "bool", False,
                       help="the notes' combined model (CNN_AllTricks): BatchNorm, Leaky ReLU, global average "
                            "pooling, dropout 0.5 and multi-scale blocks in conv5 and conv6, all with 3×3 convs"),
            OptionSpec("width", "float", 1.0, minimum=0.05, maximum=2.0, label="Width",
                       help="channel multiplier: 1 is the notes' net (64-128-256-512-1024-1024, FC 1024), 0.25 "
                            "gives 16-32-64-128-256-256 and FC 256 — an epoch of mnist-sample in seconds on a CPU"),
        ),
        builder="cnnstudio.models.tricks:build_tricks",
        implied=(("all_tricks", (("batch_norm", True), ("activation", "leaky_relu"), ("gap", True),
                                 ("dropout", 0.5), ("multiscale", True))),),
    ),
)


def _index(models: tuple[ArchInfo, ...]) -> dict[str, ArchInfo]:
    """Name -> entry, refusing a name listed twice (a second entry would silently win)."""
    index: dict[str, ArchInfo] = {}
    for info in models:
        if info.name in index:
            raise RuntimeError(f"architecture {info.name!r} is listed twice in the catalog")
        index[info.name] = info
    return index


_BY_NAME = _index(_MODELS)


def list_models() -> list[ArchInfo]:
    """Every architecture, in teaching order (LeNet-5, AlexNet, VGG A–E, GoogLeNet, tricks; torchvision's
    variants beside the papers' nets)."""
    return list(_MODELS)


def model_names() -> list[str]:
    """The registry names, in teaching order."""
    return [info.name for info in _MODELS]


def get_info(name: str) -> ArchInfo:
    """The catalog entry for `name`; `UnknownNameError` listing the valid names otherwise."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        hint = did_you_mean(name, _BY_NAME)
        raise UnknownNameError(
            f"unknown architecture {name!r}{hint}; choose one of: {', '.join(_BY_NAME)}"
        ) from None
