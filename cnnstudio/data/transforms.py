"""Batch transforms on uint8 image tensors, run on whatever device the batch is on.

`to_model_input` is THE evaluation transform: validation, classification of dropped
files and feature maps all go through it, so a file is seen exactly as validation images
are. `train_input` adds the papers' augmentations, vectorised over the batch (per-sample
crop offsets and flips; one scale per batch for VGG's scale jittering). Random numbers are
drawn on a CPU `torch.Generator` and copied over, so a seed gives the same batches on any
device.

Order: uint8 → float 0..1 → (PCA colour jitter) → channels → geometry (resize / crop /
scale) → (flip) → per-channel normalisation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as nnf
from torchvision.transforms.v2 import functional as F


from cnnstudio.data.catalog import check_augmentations

if TYPE_CHECKING:
    from cnnstudio.data.spec import DatasetSpec

__all__ = [
    "ColorPCA",
    "color_pca",
    "color_pca_from_covariance",
    "crop_source_size",
    "from_model_input",
    "normalise",
    "to_model_input",
    "train_input",
]

PCA_SIGMA = 0.1
# Below this input size "crop" pads and crops (CIFAR style) instead of upscaling first:
# cropping 28 px out of a 32 px upscale of a digit would cut the digit.
_PAD_CROP_BELOW = 64


class ColorPCA(NamedTuple):
    """Principal components of a dataset's pixel colours (channels in 0..1).

    `scales` are the standard deviations along each component (square roots of the
    covariance eigenvalues), `vectors` the components as columns (C×C).
    """

    scales: torch.Tensor
    vectors: torch.Tensor


def crop_source_size(input_size: int) -> int:
    """The side an image is resized to before random `input_size` crops (256 for 224)."""
    return round(input_size * 256 / 224)


def store_size_for(input_size: int, augment: Iterable[str] = ()) -> int:
    """The side folder images are stored at for a run at `input_size`: the input size, or 256/224
    of it when a crop or scale augmentation needs the margin (AlexNet's 224 crops of 256)."""
    return crop_source_size(input_size) if {"crop", "scale"} & set(augment) else input_size


def _convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Grey → colour by replication, colour → grey by 601 luma (float batches)."""
    have = x.shape[1]
    if have == channels:
        return x
    if have == 1 and channels == 3:
        return x.repeat(1, 3, 1, 1)
    if have == 3 and channels == 1:
        return F.rgb_to_grayscale(x, num_output_channels=1)
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels")


def _normalisation(spec: DatasetSpec, channels: int) -> tuple[list[float], list[float]]:
    """The dataset's mean/std, carried over to the model's channel count."""
    mean, std = list(spec.mean), list(spec.std)
    if len(mean) == channels:
        return mean, std
    if len(mean) == 1 and channels == 3:
        return mean * 3, std * 3
    if len(mean) == 3 and channels == 1:
        # Luma of the means is exact; luma of the stds is a (close) upper bound.
        w = (0.299, 0.587, 0.114)
        return [sum(a * b for a, b in zip(w, mean))], [sum(a * b for a, b in zip(w, std))]
    raise ValueError(f"the dataset has {len(mean)} channels; cannot feed a {channels}-channel model")


def _as_batch(batch: torch.Tensor) -> torch.Tensor:
    if batch.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images (0..255); got {batch.dtype}")
    if batch.dim() == 3:
        batch = batch.unsqueeze(0)
    if batch.dim() != 4:
        raise ValueError(f"expected a C×H×W or N×C×H×W image tensor; got shape {tuple(batch.shape)}")
    return batch


def _resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """Shorter side to `size`, then the central `size`×`size` (a no-op when already there)."""
    h, w = x.shape[-2:]
    if h == size and w == size:
        return x
    x = F.resize(x, [size], antialias=True)
    if x.shape[-2] != size or x.shape[-1] != size:
        x = F.center_crop(x, [size, size])
    return x


def to_model_input(
    batch_uint8: torch.Tensor, spec: DatasetSpec, *, input_size: int, in_channels: int
) -> torch.Tensor:
    """The evaluation transform: uint8 (N×)C×H×W → float32 N×`in_channels`×S×S, normalised.

    Converts channels (grey↔RGB), resizes the shorter side to `input_size` and takes the
    centre square, then subtracts the dataset's mean and divides by its std.
    """
    x = _as_batch(batch_uint8).to(torch.float32).div_(255.0)
    x = _convert_channels(x, in_channels)
    x = _resize_square(x, input_size)
    return normalise(x, spec, in_channels=in_channels).contiguous()


def normalise(x: torch.Tensor, spec: DatasetSpec, *, in_channels: int) -> torch.Tensor:
    """Float pixels in 0..1 (N×C×H×W) → the network's input: minus the dataset's mean, over its std.

    Differentiable (not in place): activation maximisation optimises pixels through it.
    """
    mean, std = _normalisation(spec, in_channels)
    return F.normalize(x, mean, std)


def from_model_input(x: torch.Tensor, spec: DatasetSpec, *, in_channels: int) -> torch.Tensor:
    """`to_model_input` undone as far as it can be: normalised N×C×S×S → uint8 pixels.

    What the network was shown, for people to look at (the resize and the centre crop stay).
    """
    mean, std = _normalisation(spec, in_channels)
    mean_t = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    x = x if x.dim() == 4 else x.unsqueeze(0)
    return (x * std_t + mean_t).mul_(255.0).round_().clamp_(0, 255).to(torch.uint8)


def _random_crops(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """A `size`×`size` crop at an independent random offset for each sample (two gathers)."""
    n, c, h, w = x.shape
    top = torch.randint(0, h - size + 1, (n,), generator=generator).to(x.device, non_blocking=True)
    left = torch.randint(0, w - size + 1, (n,), generator=generator).to(x.device, non_blocking=True)
    steps = torch.arange(size, device=x.device)
    rows = (top[:, None] + steps)[:, None, :, None].expand(n, c, size, w)
    x = x.gather(2, rows)
    cols = (left[:, None] + steps)[:, None, None, :].expand(n, c, size, size)
    return x.gather(3, cols)


def color_pca(images: torch.Tensor, *, max_images: int = 2000, seed: int = 0) -> ColorPCA:
    """The colour principal components of uint8 N×C×H×W images (a seeded subsample)."""
    n = images.shape[0]
    if n > max_images:
        pick = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_images]
        images = images[pick.to(images.device)]
    pixels = images.to(torch.float64).div_(255.0).transpose(0, 1).reshape(images.shape[1], -1)
    cov = torch.cov(pixels)
    return color_pca_from_covariance(cov.cpu())


def color_pca_from_covariance(cov: torch.Tensor) -> ColorPCA:
    """`ColorPCA` from a C×C pixel covariance (channels in 0..1)."""
    cov = torch.atleast_2d(torch.as_tensor(cov, dtype=torch.float64))
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)
    return ColorPCA(eigenvalues.clamp_min(0).sqrt().float(), eigenvectors.float())


def train_input(
    batch_uint8: torch.Tensor,
    spec: DatasetSpec,
    *,
    input_size: int,
    in_channels: int,
    augment: Iterable[str],
    generator: torch.Generator,
    pca: ColorPCA | None = None,
) -> torch.Tensor:
    """The training transform: `to_model_input` plus the named augmentations, per batch.

    "scale" includes its own crop, so with "scale" the "crop" name adds nothing. "pca"
    needs `pca` (see `color_pca`). `generator` is a CPU generator that drives every
    random choice.
    """
    names = check_augmentations(augment)
    x = _as_batch(batch_uint8).to(torch.float32).div_(255.0)
    n = x.shape[0]
    if "pca" in names:
        if pca is None:
            raise ValueError("the 'pca' augmentation needs the dataset's ColorPCA")
        alpha = torch.randn(n, pca.scales.numel(), generator=generator) * PCA_SIGMA
        shift = (alpha * pca.scales) @ pca.vectors.T  # N×C: Σ_k α_k·σ_k·p_k
        x = x + shift.to(x.device, non_blocking=True)[:, :, None, None]
    x = _convert_channels(x, in_channels)
    if "scale" in names:
        low, high = crop_source_size(input_size), round(input_size * 512 / 224)
        side = int(torch.randint(low, high + 1, (1,), generator=generator))
        x = _random_crops(_resize_square(x, side), input_size, generator)
    elif "crop" in names:
        if input_size < _PAD_CROP_BELOW:
            pad = max(1, input_size // 8)
            x = nnf.pad(_resize_square(x, input_size), (pad, pad, pad, pad))
        else:
            x = _resize_square(x, crop_source_size(input_size))
        x = _random_crops(x, input_size, generator)
    else:
        x = _resize_square(x, input_size)
    if "flip" in names:
        flip = (torch.rand(n, generator=generator) < 0.5).to(x.device, non_blocking=True)
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    mean, std = _normalisation(spec, in_channels)
    return F.normalize(x, mean, std).contiguous()

