"""A dataset before any training, in numbers and pictures: `dataset_overview` → `DataOverview`.

DIGITS shows a dataset before it trains on it; this is that view's engine. The overview is
taken from the very `DatasetBundle` a run would train on (`loaders.load_dataset` with the
run's seed, validation fraction and store size: its own stratified split, not a copy of it),
so the counts per split are the run's. It adds what a student wants to see first: the size
and colour of the files (headers only), the per-channel mean/std the normalisation uses, the
mean image, a few examples per class, and every file the scan could not use.

`augmented_examples` shows the same examples through the training transform
(`transforms.train_input`: the papers' crops, flips, fancy PCA, scale jitter), so what the
network is fed is a picture, not a sentence.

The record is frozen and holds only numpy arrays and plain values (it crosses threads to the
window); this module imports torch only inside the calls that compute.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.data.download import CancelFn, ProgressFn
from cnnstudio.data.spec import DatasetSpec
from cnnstudio.errors import Cancelled

if TYPE_CHECKING:
    from cnnstudio.data.loaders import DatasetBundle

__all__ = [
    "EXAMPLES_PER_CLASS",
    "DataOverview",
    "ImageSizes",
    "augmented_examples",
    "dataset_overview",
    "folder_image_sizes",
    "overview_of",
]

EXAMPLES_PER_CLASS = 8
MAX_EXAMPLES = 1024  # images kept in all (100 classes × 8 at 32 px is 2.4 MB; folders' squares are larger)
MEAN_IMAGE_SAMPLE = 512  # a streamed folder's mean image is that of this many training images
_CHUNK = 1024  # in-memory images summed at a time for the mean image (bounds the float copy)


@dataclass(frozen=True)
class ImageSizes:
    """The files' own sizes and colour modes, before any resize: typical and extreme.

    Sizes are (width, height). `typical` is the most common size (`typical_count` files have
    it), `median` the median width and height, `smallest`/`largest` the files of least and most
    pixels; `modes` counts Pillow's modes ("L", "RGB", "RGBA", "P", …), most common first.
    """

    count: int
    typical: tuple[int, int]
    typical_count: int
    median: tuple[int, int]
    smallest: tuple[int, int]
    largest: tuple[int, int]
    modes: tuple[tuple[str, int], ...]

    @classmethod
    def uniform(cls, count: int, side: int, mode: str) -> ImageSizes:
        """`count` images all `side`×`side` in one mode (a built-in dataset)."""
        return cls(count, (side, side), count, (side, side), (side, side), (side, side), ((mode, count),))

    @classmethod
    def from_sizes(cls, sizes: Sequence[tuple[int, int]], modes: Iterable[str]) -> ImageSizes:
        """The statistics of these (width, height) pairs and modes (empty: all zero)."""
        if not sizes:
            return cls(0, (0, 0), 0, (0, 0), (0, 0), (0, 0), ())
        (typical, typical_count), = Counter(sizes).most_common(1)
        array = np.asarray(sizes, dtype=np.int64)
        area = array[:, 0] * array[:, 1]
        median = (int(np.median(array[:, 0])), int(np.median(array[:, 1])))
        smallest = tuple(int(v) for v in array[int(area.argmin())])
        largest = tuple(int(v) for v in array[int(area.argmax())])
        return cls(len(sizes), typical, typical_count, median, smallest, largest,  # type: ignore[arg-type]
                   tuple(Counter(modes).most_common()))

    def sentence(self) -> str:
        """One line: "5000 images, all 28×28 grey (L)" or "typical 500×375 (62 %), from 120×90 to …"."""
        def wh(size: tuple[int, int]) -> str:
            return f"{size[0]}×{size[1]}"

        modes = ", ".join(f"{mode} {n}" for mode, n in self.modes)
        if self.count == 0:
            return "no readable image"
        if self.typical_count == self.count:
            return f"{self.count} images, all {wh(self.typical)} ({modes})"
        share = round(100 * self.typical_count / self.count)
        return (f"{self.count} images: typical {wh(self.typical)} ({share} %), median {wh(self.median)}, "
                f"smallest {wh(self.smallest)}, largest {wh(self.largest)} ({modes})")

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "typical": list(self.typical), "typical_count": self.typical_count,
                "median": list(self.median), "smallest": list(self.smallest), "largest": list(self.largest),
                "modes": {mode: n for mode, n in self.modes}}


@dataclass(frozen=True, eq=False)
class DataOverview:
    """A dataset as a run with this seed and validation fraction would see it (module docstring).

    `train_counts[i]`/`val_counts[i]` are class i's images in each split; `validation` says where
    the validation images come from ("split": a seeded stratified share of the folder or sample;
    "val folder"; "test split": a torchvision set's official test images). `mean_image` is float32
    H×W×C in 0..1 at the stored size (`mean_image_count` images averaged). `examples` are uint8
    N×C×S×S training images, `per_class` of each class (fewer when a class has fewer), labelled
    by `example_labels`. `unreadable` lists the files the scan could not use (path relative to the
    folder, reason), `unreadable_count` counts them all. `pca` is the training split's colour
    principal components (scales, vectors as columns), what "pca" jitter draws along.
    """

    spec: DatasetSpec
    train_counts: tuple[int, ...]
    val_counts: tuple[int, ...]
    validation: str
    seed: int
    val_fraction: float
    sizes: ImageSizes
    mean_image: np.ndarray
    mean_image_count: int
    examples: np.ndarray
    example_labels: tuple[int, ...]
    unreadable: tuple[tuple[str, str], ...]
    unreadable_count: int
    pca: tuple[np.ndarray, np.ndarray]
    store_size: int
    folder: str | None = None
    streaming: bool = False

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    @property
    def total(self) -> int:
        return sum(self.train_counts) + sum(self.val_counts)

    def imbalance(self) -> float:
        """The largest class's training count over the smallest's (1.0: balanced)."""
        counts = [c for c in self.train_counts if c > 0]
        return max(counts) / min(counts) if counts else 1.0

    def lines(self) -> list[str]:
        """The overview as text lines (the CLI's output)."""
        where = {"split": f"{self.val_fraction:g} of each class, seed {self.seed}",
                 "val folder": "the folder's own validation folder",
                 "test split": "the official test split"}.get(self.validation, self.validation)
        channels = "grey" if self.spec.channels == 1 else "colour"
        lines = [f"dataset: {self.spec.name}",
                 f"{len(self.classes)} classes, {sum(self.train_counts)} training and {sum(self.val_counts)} "
                 f"validation images (validation: {where})",
                 f"images: {self.sizes.sentence()}",
                 f"stored as {self.store_size}×{self.store_size} {channels}; normalised with mean "
                 + ", ".join(f"{m:.4f}" for m in self.spec.mean) + " and std "
                 + ", ".join(f"{s:.4f}" for s in self.spec.std),
                 f"imbalance: the largest class has {self.imbalance():.2f}× the smallest's training images",
                 ""]
        width = max(len("class"), *(len(c) for c in self.classes))
        lines.append(f"{'class':<{width}}  {'train':>7}  {'val':>7}")
        for name, train, val in zip(self.classes, self.train_counts, self.val_counts):
            lines.append(f"{name:<{width}}  {train:>7}  {val:>7}")
        if self.unreadable_count:
            lines.append("")
            lines.append(f"{self.unreadable_count} files could not be used:")
            lines.extend(f"  {path}: {reason}" for path, reason in self.unreadable)
            if self.unreadable_count > len(self.unreadable):
                lines.append(f"  … and {self.unreadable_count - len(self.unreadable)} more")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Everything but the pictures, JSON-able: classes, counts per split, sizes, mean/std, unreadable files."""
        return {
            "dataset": self.spec.name,
            "classes": list(self.classes),
            "counts": {"train": list(self.train_counts), "val": list(self.val_counts)},
            "validation": self.validation,
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "channels": self.spec.channels,
            "mean": list(self.spec.mean),
            "std": list(self.spec.std),
            "native_size": self.spec.native_size,
            "store_size": self.store_size,
            "image_sizes": self.sizes.to_dict(),
            "unreadable": [{"path": path, "reason": reason} for path, reason in self.unreadable],
            "unreadable_count": self.unreadable_count,
        }


def folder_image_sizes(folder: str | os.PathLike[str], *, progress: ProgressFn | None = None,
                       cancel: CancelFn | None = None) -> ImageSizes:
    """Sizes and modes of a folder's image files, read from their headers (no decode).

    The files are the ones the scan considers (`folders` rules: its layout, hidden entries
    skipped, image extensions only); a file whose header cannot be read is left out (the scan
    lists it with its reason).
    """
    from PIL import Image

    from cnnstudio.data.folders import _walk_images
    from cnnstudio.data.layout import detect_layout

    root = Path(folder).expanduser().resolve()
    layout = detect_layout(root)
    files: list[str] = []
    ignored: list[tuple[str, str]] = []
    for base in (layout.train_dir, layout.val_dir):
        if base is None:
            continue
        for name in layout.classes:
            if (base / name).is_dir():
                files.extend(_walk_images(base / name, root, ignored))
    sizes: list[tuple[int, int]] = []
    modes: list[str] = []
    total = len(files)
    for done, path in enumerate(files, 1):
        if done % 256 == 0:
            if cancel is not None and cancel():
                raise Cancelled("reading the image sizes was cancelled")
            if progress is not None:
                progress(done, total, f"Reading image sizes ({done}/{total})")
        try:
            with Image.open(path) as img:  # the header only
                sizes.append((int(img.size[0]), int(img.size[1])))
                modes.append(str(img.mode))
        except (OSError, ValueError, Image.DecompressionBombError):
            continue
    return ImageSizes.from_sizes(sizes, modes)


def dataset_overview(
    name_or_path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    input_size: int | None = None,
    augment: Iterable[str] = (),
    per_class: int = EXAMPLES_PER_CLASS,
    download: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> DataOverview:
    """The overview of a built-in dataset or an image folder, split as a run with `seed` and
    `val_fraction` splits it. `input_size`/`augment` are the run's (they set the side a folder is
    stored at, hence its exact mean/std); None keeps the loader's default (256 for folders).
    `progress(done, total, message)` and `cancel()` as in `load_dataset`."""
    from cnnstudio.data.loaders import load_dataset

    from cnnstudio.data.transforms import store_size_for

    store_size = store_size_for(input_size, augment) if input_size else None
    bundle = load_dataset(name_or_path, root=root, val_fraction=val_fraction, seed=seed, download=download,
                          progress=progress, cancel=cancel, store_size=store_size)
    return overview_of(bundle, seed=seed, val_fraction=val_fraction, per_class=per_class, progress=progress,
                       cancel=cancel)


def _validation_source(bundle: DatasetBundle) -> str:
    from cnnstudio.data import catalog
    from cnnstudio.errors import UnknownNameError

    if bundle.scan_report is not None:
        return "val folder" if bundle.scan_report.layout == "train/val" else "split"
    try:
        info = catalog.get_info(bundle.spec.name)
    except UnknownNameError:
        return "split"
    return "split" if info.name == "mnist-sample" else "test split"


def _train_images(bundle: DatasetBundle, indices: Sequence[int]) -> np.ndarray:
    """uint8 N×C×S×S training images at these indices (decoded from disk for a streamed folder)."""
    train = bundle.train
    if train.images is not None:
        import torch

        return train.images[torch.as_tensor(list(indices), dtype=torch.int64)].numpy()
    from cnnstudio.data.folders import FolderDataset

    dataset = FolderDataset(train.paths, train.labels, store_size=train.store_size, channels=train.channels,
                            cache_dir=train.cache_dir)
    out = np.zeros((len(indices), train.channels, train.store_size, train.store_size), dtype=np.uint8)
    for row, index in enumerate(indices):
        out[row] = dataset[int(index)][0].numpy()  # a file broken since the scan stays black
    return out


def overview_of(bundle: DatasetBundle, *, seed: int = 0, val_fraction: float = 0.1,
                per_class: int = EXAMPLES_PER_CLASS, progress: ProgressFn | None = None,
                cancel: CancelFn | None = None) -> DataOverview:
    """The overview of a loaded bundle (`seed`/`val_fraction` are the ones it was split with:
    they are recorded, and `seed` also picks the examples)."""
    import torch

    spec = bundle.spec
    n_classes = len(spec.classes)
    train_labels = bundle.train.labels.cpu()
    val_labels = bundle.val.labels.cpu()
    train_counts = tuple(int(c) for c in torch.bincount(train_labels, minlength=n_classes).tolist())
    val_counts = tuple(int(c) for c in torch.bincount(val_labels, minlength=n_classes).tolist())

    # Examples: the first `per_class` of each class in a seeded shuffle (not the sorted first files).
    per_class = max(0, min(per_class, MAX_EXAMPLES // max(1, n_classes)))
    order = torch.randperm(train_labels.numel(), generator=torch.Generator().manual_seed(seed))
    picked: list[int] = []
    for label in range(n_classes):
        members = order[train_labels[order] == label][:per_class]
        picked.extend(sorted(int(i) for i in members))
    examples = _train_images(bundle, picked)
    example_labels = tuple(int(train_labels[i]) for i in picked)
    if cancel is not None and cancel():
        raise Cancelled("the overview was cancelled")

    # The mean image of the training split (a sample of it for a streamed folder).
    if bundle.train.images is not None:
        images = bundle.train.images
        total = np.zeros(images.shape[1:], dtype=np.float64)
        for start in range(0, images.shape[0], _CHUNK):
            total += images[start:start + _CHUNK].to(torch.float64).sum(dim=0).numpy()
        count = int(images.shape[0])
    else:
        sample = order[:MEAN_IMAGE_SAMPLE].tolist()
        total = _train_images(bundle, sample).astype(np.float64).sum(axis=0)
        count = len(sample)
    mean_image = (total / max(1, count) / 255.0).transpose(1, 2, 0).astype(np.float32)

    report = bundle.scan_report
    if report is not None:
        sizes = folder_image_sizes(report.root, progress=progress, cancel=cancel)
        unreadable = report.unusable or report.skipped
        unreadable_count, folder, streaming = report.skipped_count, report.root, not report.in_memory
    else:
        side = spec.native_size
        sizes = ImageSizes.uniform(int(train_labels.numel() + val_labels.numel()), side,
                                   "L" if spec.channels == 1 else "RGB")
        unreadable, unreadable_count, folder, streaming = (), 0, None, False
    pca = bundle.train.color_pca()
    store_size = int(examples.shape[-1]) if examples.size else (bundle.train.store_size or spec.native_size)
    return DataOverview(
        spec=spec, train_counts=train_counts, val_counts=val_counts, validation=_validation_source(bundle),
        seed=seed, val_fraction=val_fraction, sizes=sizes, mean_image=mean_image, mean_image_count=count,
        examples=examples, example_labels=example_labels, unreadable=tuple(unreadable),
        unreadable_count=unreadable_count, pca=(pca.scales.numpy(), pca.vectors.numpy()), store_size=store_size,
        folder=folder, streaming=streaming,
    )


def augmented_examples(overview: DataOverview, augment: Iterable[str] = (), *, input_size: int | None = None,
                       seed: int = 0) -> np.ndarray:
    """The overview's examples as the network is fed them: uint8 N×C×S×S at `input_size`
    (default: the dataset's native size), through the training transform with `augment`
    (`transforms.train_input`, the trainer's own; no names: the evaluation transform), with the
    normalisation undone for people to look at. `seed` drives the random crops, flips and jitter."""
    import torch

    from cnnstudio.data.catalog import check_augmentations
    from cnnstudio.data.transforms import ColorPCA, from_model_input, to_model_input, train_input

    names = check_augmentations(augment)
    spec = overview.spec
    size = int(input_size or spec.native_size)
    if overview.examples.shape[0] == 0:
        return np.zeros((0, spec.channels, size, size), dtype=np.uint8)
    batch = torch.from_numpy(np.ascontiguousarray(overview.examples))
    if names:
        pca = ColorPCA(torch.from_numpy(overview.pca[0]), torch.from_numpy(overview.pca[1]))
        x = train_input(batch, spec, input_size=size, in_channels=spec.channels, augment=names,
                        generator=torch.Generator().manual_seed(seed), pca=pca)
    else:
        x = to_model_input(batch, spec, input_size=size, in_channels=spec.channels)
    return from_model_input(x, spec, in_channels=spec.channels).numpy()
