"""torchvision's ImageNet weights in the studio's nets: which exist, where they come from, loading them.

The table (`PRETRAINED`, `pretrained_names`, `get_pretrained`) lives beside the models'
catalog (`cnnstudio/models/pretrained.py`, torch-free), as torchvision keeps its weights'
metadata beside its builders. This module imports torch and torchvision when called:

- `fetch_weights(name)` — the weights file: torch hub's cache (``$TORCH_HOME/hub/checkpoints``,
  under torchvision's own file name), downloaded there when missing with progress, cancel
  and the sha256 prefix of the file name checked before the file takes its name.
- `read_state_dict(path)` — `torch.load(weights_only=True)` with one line per bad file.
- `studio_state(info, state, ...)` — torchvision's parameter names mapped onto the studio's
  (VGG's layout is torchvision's; AlexNet's and GoogLeNet's variants are renamed).
- `load_strict(model, state, ...)` — every tensor in place or one line naming what does not fit.
- `load_pretrained(name, weights=None)` — a ready ImageNet classifier (`PretrainedModel`):
  the model in eval mode, a `DatasetSpec` with the 1000 category names and ImageNet's
  mean/std, and the evaluation transform's sizes (resize 256, centre 224).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.errors import CheckpointError, DownloadError
from cnnstudio.models.pretrained import PRETRAINED, PretrainedInfo, get_pretrained, pretrained_names
from cnnstudio.progress import CancelFn, ProgressFn

if TYPE_CHECKING:
    import torch
    from torch import nn

    from cnnstudio.data.spec import DatasetSpec

__all__ = [
    "PRETRAINED",
    "PretrainedInfo",
    "PretrainedModel",
    "cache_path",
    "fetch_weights",
    "get_pretrained",
    "load_pretrained",
    "load_strict",
    "pretrained_names",
    "read_state_dict",
    "studio_state",
    "weights_entry",
]

# torch hub's own rule: the digits after the last "-" of a file name start its sha256.
_HASH_IN_NAME = re.compile(r"-([a-f0-9]*)\.")


# -- where the weights come from ------------------------------------------------------


def weights_entry(info: PretrainedInfo | str) -> Any:
    """torchvision's `Weights` for an entry: `.url`, `.meta["categories"]`, `.transforms()`."""
    from torchvision.models import get_weight

    info = get_pretrained(info) if isinstance(info, str) else info
    return get_weight(info.weights)


def cache_path(info: PretrainedInfo | str) -> Path:
    """Where torch hub keeps (or will keep) the file: `$TORCH_HOME/hub/checkpoints/<torchvision's file name>`."""
    import torch.hub

    url = weights_entry(info).url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def fetch_weights(name: str, *, download: bool = True, progress: ProgressFn | None = None,
                  cancel: CancelFn | None = None, url: str | None = None,
                  give_file: str = "pass the file with --weights") -> Path:
    """The weights file of `name`: torch hub's cached copy, downloaded first when missing.

    The download goes to a `.part` file and takes its name only when its sha256 starts with
    the digits in torchvision's file name. `url` overrides torchvision's (a mirror, or a
    `file://` URL). Offline, the error names the file to put in place, or how to give the
    file itself (`give_file`: the face's own way; the command line's `--weights` by default).
    """
    from cnnstudio.data.download import download_file

    info = get_pretrained(name)
    dest = cache_path(info)
    if dest.is_file():
        return dest
    source = url or weights_entry(info).url
    if not download:
        raise DownloadError(f"the {name} weights are not in {dest.parent}; download {source} there, "
                            f"or {give_file}", dest.parent)
    match = _HASH_IN_NAME.search(dest.name)
    try:
        return download_file(source, dest, md5=None, sha256_prefix=match.group(1) if match else None,
                             progress=progress, cancel=cancel, label=f"{name} ImageNet weights")
    except DownloadError as exc:
        if getattr(exc, "reason", "") == "checksum mismatch":
            raise
        raise DownloadError(f"{exc} — offline, put {dest.name} in {dest.parent} or {give_file}",
                            dest.parent) from None


def is_torchvision_file(name: str, path: str | Path) -> bool:
    """Whether `path` is torchvision's published weights file of `name`: its sha256 starts with the
    digits in torchvision's file name (a file merely named like it is not)."""
    from cnnstudio.data.download import file_sha256

    match = _HASH_IN_NAME.search(cache_path(get_pretrained(name)).name)
    if match is None or not match.group(1):
        return False
    try:
        return file_sha256(path).startswith(match.group(1))
    except OSError:
        return False


# -- loading ----------------------------------------------------------------------------


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (a plain state dict, or a cnnstudio checkpoint's model).

    `torch.load(weights_only=True)` only; a damaged file, one that holds code, or one that
    holds no state dict is refused in one line.
    """
    import torch

    from cnnstudio.training.store.checkpoints import CHECKPOINT_FORMAT, read_torch_file

    path = Path(path)
    data = read_torch_file(path, damaged_hint="download it again, or delete it so it is downloaded again")
    if isinstance(data, Mapping) and data.get("format") == CHECKPOINT_FORMAT and "model" in data:
        data = data["model"]
    if isinstance(data, Mapping) and isinstance(data.get("state_dict"), Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{path} holds no state dict (a mapping of layer names to tensors)")
    return dict(data)


def studio_state(info: PretrainedInfo, state: Mapping[str, torch.Tensor], *,
                 aux_logits: bool = False) -> dict[str, torch.Tensor]:
    """torchvision's state dict of `info` renamed for the studio's net (VGG: unchanged).

    BatchNorm counters that files older than PyTorch 0.4.1 lack are added as zeros; the
    GoogLeNet file's auxiliary heads are dropped unless `aux_logits`.
    """
    import torch

    from cnnstudio.models.torchvision_variants import TORCHVISION_KEYS, map_prefixes

    mapped = map_prefixes(dict(state), TORCHVISION_KEYS.get(info.arch, ()))
    if not aux_logits:
        mapped = {k: v for k, v in mapped.items() if not k.startswith(("aux1.", "aux2."))}
    for key in [k for k in mapped if k.endswith(".running_mean")]:
        counter = key.removesuffix("running_mean") + "num_batches_tracked"
        mapped.setdefault(counter, torch.tensor(0, dtype=torch.long))
    return mapped


def load_strict(model: nn.Module, state: Mapping[str, torch.Tensor], *, what: str, source: str | Path,
                skip: tuple[str, ...] = ()) -> None:
    """Every tensor of `model` from `state` (assigned, no copy), or one line naming what does not fit.

    `what` names the model ("vgg16"), `source` the file. Keys in `skip` (and their tensors)
    are left as the model has them — a fine-tuning's new head.
    """
    own = {k: v for k, v in model.state_dict().items() if k not in skip}
    given = {k: v for k, v in state.items() if k not in skip}
    missing = [k for k in own if k not in given]
    unexpected = [k for k in given if k not in own]
    if missing:
        extra = f"; it has {unexpected[0]!r} instead" if unexpected else ""
        raise CheckpointError(
            f"{source} does not fit {what}: it has no {missing[0]!r}{extra} ({len(missing)} layer tensor(s) missing) "
            f"— is it {what}'s torchvision weights file?"
        )
    if unexpected:
        raise CheckpointError(f"{source} does not fit {what}: it has {unexpected[0]!r}, which {what} lacks "
                              f"({len(unexpected)} extra tensor(s))")
    for key, tensor in own.items():
        if tuple(given[key].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{source} does not fit {what}: {key} is {tuple(given[key].shape)} there, "
                                  f"{tuple(tensor.shape)} here")
    from cnnstudio.training.store.checkpoints import check_finite_weights

    check_finite_weights(given, source)
    if skip:
        kept = {k: v for k, v in model.state_dict().items() if k in skip}
        model.load_state_dict({**given, **kept}, strict=True, assign=True)
    else:
        model.load_state_dict(given, strict=True, assign=True)


@dataclass(frozen=True, eq=False)
class PretrainedModel:
    """An ImageNet classifier ready for `inspect.classify.Predictor` (see `Predictor.from_pretrained`).

    `model` is on the CPU in eval mode; `spec` carries the 1000 category names and ImageNet's
    mean/std; `input_size` and `resize_size` are torchvision's evaluation transform (resize
    the shorter side to 256, take the central 224). `source` is the weights file used.
    """

    name: str
    arch: str
    arch_options: dict[str, object]
    model: nn.Module
    spec: DatasetSpec
    input_size: int
    resize_size: int
    source: str
    weights: str  # torchvision's enum member, e.g. "VGG16_Weights.IMAGENET1K_V1"
    verified: bool = True  # the file's sha256 is torchvision's (`is_torchvision_file`)

    @property
    def described(self) -> str:
        """What the weights are, for people: torchvision's only when the file's checksum says so."""
        if self.verified:
            return f"torchvision's ImageNet weights ({self.weights})"
        return (f"{self.name} weights from {Path(self.source).name} (not torchvision's published file: "
                "its sha256 differs)")

    @property
    def in_channels(self) -> int:
        return 3

    @property
    def categories(self) -> tuple[str, ...]:
        return self.spec.classes


def imagenet_spec(info: PretrainedInfo) -> tuple[DatasetSpec, int, int]:
    """(spec with the categories and the transform's mean/std, crop size, resize size) of `info`'s weights."""
    from cnnstudio.data.spec import DatasetSpec

    entry = weights_entry(info)
    transform = entry.transforms()
    crop, resize = int(transform.crop_size[0]), int(transform.resize_size[0])
    spec = DatasetSpec(name=f"imagenet ({info.name})", channels=3, classes=tuple(entry.meta["categories"]),
                       mean=tuple(float(m) for m in transform.mean), std=tuple(float(s) for s in transform.std),
                       native_size=crop)
    return spec, crop, resize


def load_pretrained(name: str, *, weights: str | Path | None = None, download: bool = True,
                    progress: ProgressFn | None = None, cancel: CancelFn | None = None,
                    give_file: str = "pass the file with --weights") -> PretrainedModel:
    """The studio's `name` net with torchvision's ImageNet weights, ready to classify photos.

    `weights` is a local `.pth` (offline); without it the file comes from torch hub's cache,
    downloaded when missing (`progress(done, total, message)`, `cancel()` → `Cancelled`).
    """
    import torch

    from cnnstudio.models.registry import build_model

    info = get_pretrained(name)
    path = Path(weights).expanduser() if weights is not None else fetch_weights(
        name, download=download, progress=progress, cancel=cancel, give_file=give_file)
    spec, crop, resize = imagenet_spec(info)
    options = {**info.options, **({"aux_logits": False} if info.arch.startswith("googlenet") else {})}
    state = studio_state(info, read_state_dict(path))
    with torch.device("meta"):  # no random initialisation of 138 M parameters only to overwrite them
        model = build_model(info.arch, in_channels=3, num_classes=len(spec.classes), **options)
    load_strict(model, state, what=name, source=path)
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):  # a tensor no state dict holds
        raise CheckpointError(f"{path} left part of {name} without weights")
    return PretrainedModel(name=name, arch=info.arch, arch_options=options, model=model.eval(), spec=spec,
                           input_size=crop, resize_size=resize, source=str(path), weights=info.weights,
                           verified=is_torchvision_file(name, path))
