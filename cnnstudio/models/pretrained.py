"""torchvision's ImageNet weights that load into the studio's nets: the table (torch-free).

Beside the models' catalog, as torchvision keeps its weights' metadata beside its builders: a
window lists the sources before torch has loaded, and `TrainConfig.validate()` checks a
`pretrained` name against it. Fetching and loading the weights: `training/weights/pretrained.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnstudio.errors import UnknownNameError, did_you_mean

__all__ = ["PRETRAINED", "PretrainedInfo", "get_pretrained", "pretrained_names"]


@dataclass(frozen=True)
class PretrainedInfo:
    """One set of torchvision ImageNet weights and the studio net they load into.

    `name` is torchvision's builder name (``vgg16_bn``); `arch` and `arch_options` the
    registry entry and options the weights need; `weights` the torchvision enum member
    (``"VGG16_Weights.IMAGENET1K_V1"``) that knows the URL, categories and transform.
    """

    name: str
    arch: str
    weights: str
    arch_options: tuple[tuple[str, object], ...] = ()

    @property
    def options(self) -> dict[str, object]:
        return dict(self.arch_options)


def _vgg(tv: str, arch: str) -> tuple[PretrainedInfo, PretrainedInfo]:
    enum = tv.upper()
    return (PretrainedInfo(tv, arch, f"{enum}_Weights.IMAGENET1K_V1", (("batch_norm", False),)),
            PretrainedInfo(f"{tv}_bn", arch, f"{enum}_BN_Weights.IMAGENET1K_V1", (("batch_norm", True),)))


PRETRAINED: tuple[PretrainedInfo, ...] = (
    PretrainedInfo("alexnet", "alexnet-torchvision", "AlexNet_Weights.IMAGENET1K_V1"),
    *_vgg("vgg11", "vgg11"), *_vgg("vgg13", "vgg13"), *_vgg("vgg16", "vgg16"), *_vgg("vgg19", "vgg19"),
    # Its weights came from TensorFlow and expect [-1, 1] input: torchvision turns transform_input on.
    PretrainedInfo("googlenet", "googlenet-torchvision", "GoogLeNet_Weights.IMAGENET1K_V1",
                   (("transform_input", True),)),
)
_BY_NAME = {info.name: info for info in PRETRAINED}


def pretrained_names() -> list[str]:
    """The names `--pretrained` takes (torchvision's: alexnet, vgg11 … vgg19_bn, googlenet)."""
    return [info.name for info in PRETRAINED]


def get_pretrained(name: str) -> PretrainedInfo:
    """The table entry for `name`; `UnknownNameError` listing the valid names otherwise."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        hint = did_you_mean(name, _BY_NAME)
        raise UnknownNameError(
            f"no pretrained weights named {name!r}{hint}; choose one of: {', '.join(_BY_NAME)}"
        ) from None
