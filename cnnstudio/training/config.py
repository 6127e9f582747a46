"""What a training run is asked to do: one dataclass of plain values, saved as JSON.

`TrainConfig` is the single description of a run that the command line, the app and the
run folder share. It holds only plain values (str, int, float, bool, None, tuples and
dicts of those) so it round-trips through JSON exactly, and it never imports torch:
the app validates a form with it before torch has finished loading.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from cnnstudio.choices import Choice, Finetune, Init, Optimizer, Schedule, parse_device
from cnnstudio.training.fields import check_config_fields
from cnnstudio.errors import CnnStudioError, UnknownNameError

__all__ = [
    "TrainConfig",
    "paper_defaults",
    "default_config",
]


@dataclass
class TrainConfig:
    """Every setting of one training run; `validate()` says what is wrong in words.

    Accuracy-related settings follow the papers where they give one (SGD, momentum 0.9,
    weight decay 5e-4, LR 0.01, ×0.1 on plateau); `paper_defaults(arch)` returns each
    paper's full recipe.
    """

    arch: str = "lenet5"
    arch_options: dict[str, Any] = field(default_factory=dict)
    dataset: str = "mnist-sample"  # a registry name or an image folder's path
    data_root: str | None = None  # where downloadable datasets live (None: user data dir)
    input_size: int | None = None  # None: the architecture's default size
    epochs: int = 10
    batch_size: int = 128  # the papers used 256; paper_defaults() gives it
    optimizer: str = Optimizer.SGD  # a `choices.Optimizer` value
    lr: float = 0.01
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = Schedule.CONSTANT  # a `choices.Schedule` value
    step_size: int = 30  # epochs between drops ("step")
    gamma: float = 0.1  # LR factor of "step" and "plateau"
    plateau_patience: int = 2  # epochs without a better val accuracy before a drop
    max_lr_drops: int | None = 3  # "plateau": after this many drops, the next plateau ends the run
    init: str = Init.DEFAULT  # a `choices.Init` value
    init_from_run: str | None = None  # VGG's trick: a trained VGG config-A run folder
    pretrained: str | None = None  # torchvision ImageNet weights to fine-tune (training.pretrained names)
    pretrained_weights: str | None = None  # their local file; alone: any weights file of this arch
    finetune: str = Finetune.ALL  # with pretrained weights: a `choices.Finetune` value
    weights_source: str | None = None  # written by the trainer: where the starting weights came from
    augment: tuple[str, ...] = ()
    val_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision, used on CUDA only
    channels_last: bool = True  # used on CUDA only
    compile: bool = False
    sync_batch_norm: bool = False  # distributed training on CUDA: BatchNorm statistics over all GPUs
    progress_interval: float = 1 / 30  # seconds between on_batch_end calls
    aux_weight: float = 0.3  # GoogLeNet: weight of each auxiliary classifier's loss
    num_threads: int | None = None  # torch CPU threads (None: torch's default)
    history: bool = True  # snapshots of the kernels and probe feature maps in RUN/history (fit/snapshot_writer.py)
    dynamics: bool = True  # per-layer activations and gradients at sampled steps in RUN/dynamics (fit/dynamics.py)

    def __post_init__(self) -> None:
        # JSON gives lists; a tuple keeps the config hashable-ish and equal after a round trip.
        self.augment = tuple(self.augment)
        self.arch_options = dict(self.arch_options)
        # Members of the choice enums become their plain strings: a config is plain data
        # (a checkpoint holds it, and weights-only loading refuses any class).
        for name in ("optimizer", "schedule", "init", "device", "finetune"):
            value = getattr(self, name)
            if isinstance(value, Choice):
                setattr(self, name, value.value)

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["augment"] = list(self.augment)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from `to_dict()`'s output; unknown keys are an error, missing keys take defaults."""
        if not isinstance(data, dict):
            raise CnnStudioError(f"a training config must be a JSON object, not {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise UnknownNameError(
                f"unknown training setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"valid settings: {', '.join(sorted(names))}"
            )
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (unknown names are an error)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def validate(self) -> TrainConfig:
        """Check every setting; raise a CnnStudioError naming the first bad one. Returns self."""
        from cnnstudio.models.catalog import get_info

        info = get_info(self.arch)  # UnknownNameError listing the valid names
        if not isinstance(self.arch_options, dict):
            raise CnnStudioError("arch_options must be a mapping of option names to values")
        from cnnstudio.models.registry import resolve_options

        resolve_options(self.arch, self.arch_options)  # names the bad option and its valid values
        _require_choice("optimizer", self.optimizer, Optimizer)  # an unknown name lists the known ones
        _require_choice("schedule", self.schedule, Schedule)
        _require_choice("init", self.init, Init)
        _require_choice("finetune", self.finetune, Finetune)
        # Types and ranges of every field: the rules config.json is read back with (one home).
        check_config_fields(self.to_dict())
        try:
            parse_device(self.device)
        except ValueError as exc:
            raise CnnStudioError(str(exc)) from None
        if self.nesterov and (self.optimizer != Optimizer.SGD or self.momentum <= 0):
            raise CnnStudioError("nesterov needs the sgd optimizer with a momentum above 0")
        if self.input_size is not None and self.input_size < info.min_size:  # its range is a field rule
            from cnnstudio.errors import InputTooSmallError

            raise InputTooSmallError.for_size(self.arch, info.min_size, self.input_size)
        from cnnstudio.data.catalog import check_augmentations

        check_augmentations(self.augment)
        if self.init_from_run is not None and info.family != "vgg":
            raise CnnStudioError(
                f"init_from_run is VGG's trick (start a deeper VGG from a trained config A); {self.arch} is not a VGG"
            )
        if self.pretrained is not None:
            from cnnstudio.models.pretrained import get_pretrained

            source = get_pretrained(self.pretrained)  # UnknownNameError listing the names
            if source.arch != self.arch:
                raise CnnStudioError(f"the {self.pretrained} weights are for {source.arch}, not {self.arch} — "
                                     f"use arch {source.arch}")
        if (self.pretrained or self.pretrained_weights) and self.init_from_run is not None:
            raise CnnStudioError("start from pretrained weights or from a config-A run (init_from_run), not both")
        if self.finetune != "all" and not (self.pretrained or self.pretrained_weights):
            raise CnnStudioError(f"finetune={self.finetune} needs pretrained weights (pretrained or pretrained_weights)")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise CnnStudioError("dataset must be a dataset name or an image folder's path")
        # The resolved options too: a run this accepts is always readable later.
        check_config_fields({**self.to_dict(), "arch_options": resolve_options(self.arch, self.arch_options)})
        return self


def paper_defaults(arch: str) -> TrainConfig:
    """The training recipe of `arch`'s paper, as far as it can be reproduced here.

    AlexNet and VGG: SGD, momentum 0.9, weight decay 5e-4, batch 256 (AlexNet 128), LR 0.01
    divided by 10 when validation accuracy stops improving, three times, N(0, 0.01) init.
    GoogLeNet: SGD momentum 0.9, LR lowered 4 % every 8 epochs, auxiliary losses weighed 0.3.
    LeNet-5's stochastic diagonal Levenberg-Marquardt has no PyTorch optimizer; plain SGD
    with momentum stands in for it. The "tricks" notes used a piecewise (step) LR decay.
    """
    from cnnstudio.models.catalog import get_info

    recipe = _PAPER_RECIPES.get(get_info(arch).family, _PAPER_RECIPES["tricks"])
    return TrainConfig(arch=arch, optimizer=Optimizer.SGD, lr=0.01, momentum=0.9, **recipe)


def default_config(arch: str) -> TrainConfig:
    """Where a new training of `arch` starts: the generic defaults plus what the family needs.

    These are for a quick, healthy first run on the small datasets people start with; the
    papers' own recipes (`paper_defaults`) are one click away.
    """
    from cnnstudio.models.catalog import get_info

    return TrainConfig(arch=arch, **_QUICK_START.get(get_info(arch).family, {}))


# LeNet on mnist-sample reaches ≥ 95 % validation accuracy in 3 epochs with these (measured
# 96.0 %); at the generic batch 128 / LR 0.01 it needs about twice the epochs.
_QUICK_START: dict[str, dict[str, Any]] = {
    "lenet": dict(batch_size=64, lr=0.03),
}


# Per family: what differs from SGD, LR 0.01, momentum 0.9.
_PAPER_RECIPES: dict[str, dict[str, Any]] = {
    "lenet": dict(epochs=20, batch_size=128, weight_decay=0.0, schedule=Schedule.CONSTANT),
    "alexnet": dict(epochs=90, batch_size=128, weight_decay=5e-4, schedule=Schedule.PLATEAU, max_lr_drops=3,
                    init=Init.NORMAL, augment=("crop", "flip", "pca")),
    "vgg": dict(epochs=74, batch_size=256, weight_decay=5e-4, schedule=Schedule.PLATEAU, max_lr_drops=3,
                init=Init.NORMAL, augment=("scale", "flip")),
    "googlenet": dict(epochs=250, batch_size=128, weight_decay=5e-4, schedule=Schedule.STEP, step_size=8, gamma=0.96,
                      aux_weight=0.3, augment=("crop", "flip")),
    "tricks": dict(epochs=30, batch_size=128, weight_decay=5e-4, schedule=Schedule.STEP, step_size=10, gamma=0.1),
}


def _require_choice(name: str, value: Any, choices: type[Choice]) -> None:
    if value not in choices.values():
        raise UnknownNameError(f"unknown {name} {value!r}; choose from: {', '.join(choices.values())}")
