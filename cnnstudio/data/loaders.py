"""Datasets in, batches out: `load_dataset` → `DatasetBundle`, `make_loader` → batches.

Everything that fits in memory (mnist-sample, MNIST, Fashion-MNIST, CIFAR, small image
folders after one decode) is held once as a uint8 N×C×H×W tensor; `DeviceLoader` moves it
to the training device once and slices, converts and augments whole batches there — no
per-sample PIL or `DataLoader` in the hot loop. When no augmentation changes a batch's
pixels before the resize (validation; training with at most "flip") and the converted set
fits `CONVERTED_BUDGET`, it converts the whole set once and only slices (and flips) after. Large folders stream through a
`DataLoader` with workers (`StreamingLoader`) and the same batch transforms.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnstudio.data import catalog
from cnnstudio.data.catalog import check_augmentations
from cnnstudio.data.download import CancelFn, ProgressFn
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.data.folders import (
    DEFAULT_MEMORY_BUDGET,
    DEFAULT_STORE_SIZE,
    FolderDataset,
    FolderImages,
    ScanReport,
    array_to_chw,
    scan_folder,
    typical_image_size,
)
from cnnstudio.data.transforms import (
    ColorPCA,
    color_pca,
    color_pca_from_covariance,
    to_model_input,
    train_input,
)
from cnnstudio.errors import DatasetError, UnknownNameError

__all__ = [
    "DatasetBundle",
    "DeviceLoader",
    "ImageSet",
    "StreamingLoader",
    "channel_mean_std",
    "load_dataset",
    "make_loader",
    "stratified_split",
]

# Largest float32 copy of a split (model-ready: resized, normalised) a DeviceLoader keeps on
# its device instead of converting every batch again; larger sets convert per batch.
CONVERTED_BUDGET = 512 * 2**20
_CONVERT_CHUNK = 1024  # images converted at a time when filling it (bounds the peak memory)
# Augmentations that commute with the evaluation transform, drawn per batch on top of it.
_AFTER_CONVERSION = frozenset({"flip"})


@dataclass(eq=False)
class ImageSet:
    """One split: uint8 N×C×H×W `images` in memory, or (streaming) file `paths`.

    `labels` is int64 either way. A streaming set also carries the decode `store_size`,
    its `channels`, an optional decoded-image `cache_dir`, and the summed colour moments
    its scan measured (used for PCA colour jitter without a second decode).
    """

    labels: torch.Tensor
    images: torch.Tensor | None = None
    paths: tuple[str, ...] = ()
    store_size: int = 0
    channels: int = 0
    cache_dir: Path | None = None
    moments: tuple[np.ndarray, np.ndarray, int] | None = None  # Σx (3,), Σxxᵀ (3×3), pixel count
    _pca: ColorPCA | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.images is not None:
            self.channels = int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.labels.numel())

    @property
    def streaming(self) -> bool:
        """True for a large folder read file by file."""
        return self.images is None

    def color_pca(self) -> ColorPCA:
        """The colour principal components (for "pca" jitter), computed once per set."""
        if self._pca is None:
            if self.images is not None:
                self._pca = color_pca(self.images)
            elif self.moments is not None:
                s1, s2, count = self.moments
                mean = s1 / count
                cov = s2 / count - np.outer(mean, mean)
                if self.channels == 1:
                    cov = cov[:1, :1]
                self._pca = color_pca_from_covariance(torch.from_numpy(cov))
            else:
                raise DatasetError("this image set has no colour statistics for PCA jitter")
        return self._pca


@dataclass(frozen=True)
class DatasetBundle:
    """A loaded dataset: its spec, the train and validation splits, and a folder's scan report."""

    spec: DatasetSpec
    train: ImageSet
    val: ImageSet
    scan_report: ScanReport | None = None


def stratified_split(labels: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded per-class shuffle: (train indices, val indices), each sorted.

    Every class with at least two items gives round(n·val_fraction) (at least one) to
    validation, so sorted-by-class files still give a validation set with every class.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"the validation fraction must be between 0 and 1 (exclusive); got {val_fraction}")
    generator = torch.Generator().manual_seed(seed)
    train_parts, val_parts = [], []
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(members.numel(), generator=generator)]
        n_val = 0 if members.numel() < 2 else min(members.numel() - 1, max(1, round(members.numel() * val_fraction)))
        val_parts.append(members[:n_val])
        train_parts.append(members[n_val:])
    return torch.cat(train_parts).sort().values, torch.cat(val_parts).sort().values


def channel_mean_std(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and std (pixels in 0..1) of uint8 N×C×H×W images.

    A 256-bin histogram per channel: no float copy of the dataset, exact in float64.
    """
    values = torch.arange(256, dtype=torch.float64) / 255.0
    means, stds = [], []
    for c in range(images.shape[1]):
        hist = torch.bincount(images[:, c].reshape(-1).cpu(), minlength=256).to(torch.float64)
        total = hist.sum()
        mean = float((hist * values).sum() / total)
        var = float((hist * values.square()).sum() / total) - mean * mean
        means.append(mean)
        stds.append(max(var, 1e-12) ** 0.5)
    return tuple(means), tuple(stds)


def _mean_std_from_moments(
    s1: np.ndarray, s2: np.ndarray, count: int, channels: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std from summed pixel moments (grey sets use the first channel)."""
    mean = s1 / count
    var = np.clip(np.diag(s2) / count - mean * mean, 1e-12, None)
    return tuple(float(m) for m in mean[:channels]), tuple(float(v) ** 0.5 for v in var[:channels])


def _in_memory_bundle(
    name: str,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    val_images: torch.Tensor,
    val_labels: torch.Tensor,
    classes: Sequence[str],
    native_size: int,
    scan_report: ScanReport | None = None,
) -> DatasetBundle:
    mean, std = channel_mean_std(train_images)
    spec = DatasetSpec(
        name=name,
        channels=int(train_images.shape[1]),
        classes=tuple(classes),
        mean=mean,
        std=std,
        native_size=native_size,
    )
    return DatasetBundle(spec, ImageSet(train_labels, train_images), ImageSet(val_labels, val_images), scan_report)


def _stack(images: FolderImages, channels: int, store_size: int) -> torch.Tensor:
    if not images.arrays:
        return torch.empty(0, channels, store_size, store_size, dtype=torch.uint8)
    return torch.stack([array_to_chw(a, channels) for a in images.arrays])


def _load_folder(
    path: str,
    *,
    val_fraction: float,
    seed: int,
    store_size: int,
    memory_budget: int,
    cache_dir: str | os.PathLike[str] | None,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> DatasetBundle:
    scan = scan_folder(
        path, store_size=store_size, memory_budget=memory_budget, cache_dir=cache_dir, progress=progress, cancel=cancel
    )
    name, channels = scan.report.root, scan.channels
    labels = torch.tensor(scan.train.labels, dtype=torch.int64)
    if scan.val is None:
        train_idx, val_idx = stratified_split(labels, val_fraction, seed)
        val_labels = labels[val_idx]
    else:
        train_idx = torch.arange(labels.numel())
        val_labels = torch.tensor(scan.val.labels, dtype=torch.int64)
    train_labels = labels[train_idx]

    if scan.in_memory:
        pool = _stack(scan.train, channels, store_size)
        if scan.val is None:
            train_images, val_images = pool[train_idx], pool[val_idx]
        else:
            train_images, val_images = pool, _stack(scan.val, channels, store_size)
        return _in_memory_bundle(
            name, train_images, train_labels, val_images, val_labels, scan.classes, store_size, scan.report
        )

    pick = train_idx.tolist()
    count = len(pick) * store_size * store_size
    s1 = np.sum([scan.train.sums[i] for i in pick], axis=0)
    s2 = np.sum([scan.train.products[i] for i in pick], axis=0)
    mean, std = _mean_std_from_moments(s1, s2, count, channels)
    spec = DatasetSpec(name, channels, scan.classes, mean, std, store_size)
    val_paths = [scan.train.paths[i] for i in val_idx.tolist()] if scan.val is None else scan.val.paths
    cache = Path(cache_dir) if cache_dir is not None else None
    common = dict(store_size=store_size, channels=channels, cache_dir=cache)
    train = ImageSet(train_labels, paths=tuple(scan.train.paths[i] for i in pick), moments=(s1, s2, count), **common)
    val = ImageSet(val_labels, paths=tuple(val_paths), **common)
    return DatasetBundle(spec, train, val, scan.report)


def _with_source_size(bundle: DatasetBundle, path: str) -> DatasetBundle:
    """The bundle with its spec's `source_size`: the folder's files as stored (8×8 digits
    stored at 256 px are 8 px images to the network's eyes; classify compares with that)."""
    from dataclasses import replace

    side = typical_image_size(Path(path).expanduser())
    if side is None or side == bundle.spec.native_size:
        return bundle
    return replace(bundle, spec=replace(bundle.spec, source_size=side))


def _looks_like_path(text: str) -> bool:
    return os.sep in text or (os.altsep is not None and os.altsep in text) or text.startswith((".", "~"))


def load_dataset(
    name_or_path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    download: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    store_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    cache_dir: str | os.PathLike[str] | None = None,
) -> DatasetBundle:
    """Load a built-in dataset by name, or an image folder by path.

    - `mnist-sample`: the 5,000 offline digits, split stratified by `val_fraction`/`seed`.
    - `mnist`, `fashion-mnist`, `cifar10`, `cifar100`: downloaded into `root` (default
      `$CNNSTUDIO_DATA` or the user data dir) when `download`; validation = official test split.
    - a folder: scanned (progress/cancel), squares of `store_size` (default 256; pass
      `transforms.crop_source_size(input_size)`), in memory below `memory_budget` bytes,
      else streamed (decoded squares cached in `cache_dir` when given); validation = its
      `val/` folder or a stratified split.
    `progress(done, total, message)` reports downloads and scans; `cancel()` → True aborts.
    """
    text = os.fspath(name_or_path)
    try:
        info = catalog.get_info(text)
    except UnknownNameError:
        if Path(text).expanduser().exists() or _looks_like_path(text):
            return _with_source_size(_load_folder(
                text,
                val_fraction=val_fraction,
                seed=seed,
                store_size=store_size or DEFAULT_STORE_SIZE,
                memory_budget=memory_budget,
                cache_dir=cache_dir,
                progress=progress,
                cancel=cancel,
            ), text)
        raise
    if info.name == "mnist-sample":
        from cnnstudio.data.sample import CLASSES, load_mnist_sample

        images, labels = load_mnist_sample()
        train_idx, val_idx = stratified_split(labels, val_fraction, seed)
        return _in_memory_bundle(
            info.name, images[train_idx], labels[train_idx], images[val_idx], labels[val_idx], CLASSES, info.native_size
        )
    from cnnstudio.data.torchvision_sets import load_torchvision_set

    splits = load_torchvision_set(info.name, root=root, download_missing=download, progress=progress, cancel=cancel)
    return _in_memory_bundle(
        info.name,
        splits.train_images,
        splits.train_labels,
        splits.test_images,
        splits.test_labels,
        splits.classes,
        info.native_size,
    )


def _resolve_device(device: str | torch.device) -> torch.device:
    return device if isinstance(device, torch.device) else torch.device(device)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # One independent stream per (seed, epoch): resuming at epoch k replays epoch k exactly.
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63))


class DeviceLoader:
    """Batches of an in-memory `ImageSet`, held once on `device` and transformed there.

    Each pass over the loader is one epoch: a seeded permutation (training) or the stored
    order (evaluation), batches sliced by index, converted by `to_model_input` or
    augmented by `train_input`. `epoch` counts passes; set it to resume a run so the next
    pass draws exactly what it would have drawn. `converted` holds the whole set already
    converted when that gives the same batches (see `CONVERTED_BUDGET`), else None.
    """

    def __init__(
        self,
        imageset: ImageSet,
        spec: DatasetSpec,
        *,
        batch_size: int,
        input_size: int,
        in_channels: int,
        train: bool,
        augment: Sequence[str] = (),
        device: str | torch.device,
        seed: int,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        """`rank`/`world_size` (distributed training): this process takes its slice of every
        batch; training drops the last `n mod world_size` images of each epoch's permutation
        so that every rank gets as many images as the others."""
        if imageset.images is None:
            raise ValueError("DeviceLoader needs an in-memory ImageSet; use StreamingLoader for file paths")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        self.device = _resolve_device(device)
        self.spec = spec
        self.batch_size = batch_size
        self.input_size = input_size
        self.in_channels = in_channels
        self.train = train
        self.augment = check_augmentations(augment) if train else ()
        self.seed = seed
        self.drop_last = drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        cuda = self.device.type == "cuda"
        images, labels = imageset.images, imageset.labels
        if cuda:
            images, labels = images.pin_memory(), labels.pin_memory()
        self.images = images.to(self.device, non_blocking=cuda)
        self.labels = labels.to(self.device, non_blocking=cuda)
        self._pca = imageset.color_pca() if "pca" in self.augment else None
        self.converted = self._convert_once()

    def _convert_once(self) -> torch.Tensor | None:
        """The whole set through `to_model_input`, when batches can be sliced from it.

        Exactly the values the per-batch path computes (the transform treats each image on
        its own); None when an augmentation must see the raw pixels or it would not fit.
        """
        if not set(self.augment) <= _AFTER_CONVERSION:
            return None
        n = self.images.shape[0]
        if n * self.in_channels * self.input_size**2 * 4 > CONVERTED_BUDGET:
            return None
        out = torch.empty(n, self.in_channels, self.input_size, self.input_size, device=self.device)
        for start in range(0, n, _CONVERT_CHUNK):
            chunk = self.images[start : start + _CONVERT_CHUNK]
            out[start : start + chunk.shape[0]] = to_model_input(
                chunk, self.spec, input_size=self.input_size, in_channels=self.in_channels
            )
        return out

    def _count(self) -> int:
        n = self.labels.numel()
        return n - n % self.world_size if self.train else n

    def __len__(self) -> int:
        n = self._count()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = _epoch_generator(self.seed, self.epoch)
        self.epoch += 1
        n = self.labels.numel()
        # Every rank draws the same permutation (same seed and epoch): their slices are disjoint.
        order = torch.randperm(n, generator=generator) if self.train else torch.arange(n)
        order = order[: self._count()].to(self.device, non_blocking=True)
        for b in range(len(self)):
            index = order[b * self.batch_size : (b + 1) * self.batch_size]
            if self.world_size > 1:
                index = index[self.rank :: self.world_size]
                if index.numel() == 0:  # validation's last batch can leave a rank nothing
                    empty = torch.empty(0, self.in_channels, self.input_size, self.input_size, device=self.device)
                    yield empty, self.labels[:0]
                    continue
            if self.converted is not None:
                yield self._from_converted(index, generator), self.labels.index_select(0, index)
                continue
            batch = self.images.index_select(0, index)
            if self.train:
                x = train_input(
                    batch,
                    self.spec,
                    input_size=self.input_size,
                    in_channels=self.in_channels,
                    augment=self.augment,
                    generator=generator,
                    pca=self._pca,
                )
            else:
                x = to_model_input(batch, self.spec, input_size=self.input_size, in_channels=self.in_channels)
            yield x, self.labels.index_select(0, index)

    def _from_converted(self, index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A batch sliced from `converted`, flipped as `train_input` would (same random draws)."""
        x = self.converted.index_select(0, index)
        if "flip" in self.augment:
            flip = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device, non_blocking=True)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x


class StreamingLoader:
    """Batches of a large folder: a `DataLoader` decodes files in workers into uint8
    squares; conversion and augmentation then run per batch on `device`, as in
    `DeviceLoader`. Files broken since the scan are dropped from their batch and counted
    in `bad_files`."""

    def __init__(
        self,
        imageset: ImageSet,
        spec: DatasetSpec,
        *,
        batch_size: int,
        input_size: int,
        in_channels: int,
        train: bool,
        augment: Sequence[str] = (),
        device: str | torch.device,
        seed: int,
        drop_last: bool = False,
        num_workers: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.device = _resolve_device(device)
        self.spec = spec
        self.input_size = input_size
        self.in_channels = in_channels
        self.train = train
        self.augment = check_augmentations(augment) if train else ()
        self.seed = seed
        self.epoch = 0
        self.bad_files = 0
        self._pca = imageset.color_pca() if "pca" in self.augment else None
        workers = min(4, os.cpu_count() or 1) if num_workers is None else num_workers
        dataset = FolderDataset(
            imageset.paths,
            imageset.labels,
            store_size=imageset.store_size,
            channels=imageset.channels,
            cache_dir=imageset.cache_dir,
        )
        self._shuffle_generator = torch.Generator()
        self._sampler: Any = None
        if world_size > 1:
            # Training: DistributedSampler's disjoint, equal, per-epoch reshuffled shards of the
            # global batch; validation: every image once, on one rank (no padded duplicates).
            batch_size = max(1, batch_size // world_size)
            if train:
                self._sampler = torch.utils.data.DistributedSampler(
                    dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
            else:
                self._sampler = list(range(rank, len(dataset), world_size))
        self._loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train and self._sampler is None,
            sampler=self._sampler,
            drop_last=drop_last,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            generator=self._shuffle_generator,
        )

    def __len__(self) -> int:
        return len(self._loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = _epoch_generator(self.seed, self.epoch)
        self._shuffle_generator.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        if isinstance(self._sampler, torch.utils.data.DistributedSampler):
            self._sampler.set_epoch(self.epoch)
        self.epoch += 1
        for batch, labels in self._loader:
            good = labels >= 0
            if not bool(good.all()):
                self.bad_files += int((~good).sum())
                batch, labels = batch[good], labels[good]
                if labels.numel() == 0:
                    continue
            batch = batch.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            if self.train:
                x = train_input(
                    batch,
                    self.spec,
                    input_size=self.input_size,
                    in_channels=self.in_channels,
                    augment=self.augment,
                    generator=generator,
                    pca=self._pca,
                )
            else:
                x = to_model_input(batch, self.spec, input_size=self.input_size, in_channels=self.in_channels)
            yield x, labels


def make_loader(
    imageset: ImageSet,
    spec: DatasetSpec,
    *,
    batch_size: int,
    input_size: int,
    in_channels: int,
    train: bool,
    augment: Sequence[str] = (),
    device: str | torch.device,
    seed: int,
    drop_last: bool = False,
    num_workers: int | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> DeviceLoader | StreamingLoader:
    """Batches `(x float32 N×C×S×S normalised, y int64)` on `device`; `len()` = batches per epoch.

    In-memory sets get a `DeviceLoader`; streaming folders a `StreamingLoader`
    (`num_workers` decoding processes, default min(4, CPUs)). With `world_size` > 1 this
    process (`rank`) gets its share of every epoch (see `training.distributed`).
    """
    if train:
        catalog.check_augmentations_fit(augment, channels=spec.channels, dataset=spec.name)
    options = dict(
        batch_size=batch_size,
        input_size=input_size,
        in_channels=in_channels,
        train=train,
        augment=augment,
        device=device,
        seed=seed,
        drop_last=drop_last,
        rank=rank,
        world_size=world_size,
    )
    if imageset.streaming:
        return StreamingLoader(imageset, spec, num_workers=num_workers, **options)
    return DeviceLoader(imageset, spec, **options)
