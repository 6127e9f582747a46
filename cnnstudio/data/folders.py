"""Image folders as datasets: class discovery, a decode-validating pre-scan, and the
per-file dataset that large folders stream from.

Layouts (torchvision `ImageFolder` rules: one sub-folder per class, files found
recursively, `layout.IMAGE_EXTENSIONS` only, class index = position in the sorted names):
- `root/<class>/...`: one pool; `loaders.load_dataset` splits it (stratified, seeded);
- `root/train/<class>/...` + `root/val|valid|validation/<class>/...`: the split is given.

Hidden entries (names starting with "." such as `.ipynb_checkpoints`, `.DS_Store`) and
macOS's `__MACOSX` are ignored; symlinked folders are followed but never twice, so a link
loop cannot hang the scan; every candidate image is decoded (in a thread pool, Pillow
releases the GIL) and unusable files are skipped and reported. Each image is stored as a
centre square of `store_size` pixels (`ImageOps.fit`), the size training crops come from.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision.transforms.v2.functional import rgb_to_grayscale

from cnnstudio.errors import Cancelled
from cnnstudio.data.download import CancelFn, ProgressFn
from cnnstudio.data.images import load_image_checked
from cnnstudio.data.layout import detect_layout, is_hidden, is_image_name
from cnnstudio.errors import DatasetError, ImageError
from cnnstudio.files import open_regular, read_npy, temp_beside

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_STORE_SIZE",
    "FolderDataset",
    "FolderImages",
    "FolderScan",
    "ScanReport",
    "array_to_chw",
    "cache_file",
    "decode_for_store",
    "scan_folder",
    "typical_image_size",
]

DEFAULT_MEMORY_BUDGET = 1_500_000_000  # bytes of decoded uint8 images held in memory
DEFAULT_STORE_SIZE = 256  # = crop_source_size(224): random 224 crops of a 256 image
_REPORT_FIRST = 5
_LIST_AT_MOST = 10_000  # unusable files kept by name for a view that lists them all (the Data tab)
# The decode-check works in chunks of files, a fixed window of chunks in flight, collected
# in order: the cost per file stays constant however large the folder (issue 15 #13).
SCAN_CHUNK = 32
_PROGRESS_EVERY_S = 0.1


@dataclass(frozen=True)
class ScanReport:
    """What a folder scan found, for the user: layout, classes, what was skipped and why."""

    root: str
    layout: str  # "classes" (one pool, split by us) or "train/val"
    classes: tuple[str, ...]
    found: int
    used: int
    skipped_count: int
    skipped: tuple[tuple[str, str], ...]  # the first few (path relative to root, reason)
    in_memory: bool
    # Every unusable file (up to `_LIST_AT_MOST`), for views that list them; `skipped` is the first few.
    unusable: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def summary(self) -> str:
        """One line: how many images were used and what was skipped."""
        line = f"{self.used} images in {len(self.classes)} classes"
        if self.skipped_count:
            names = ", ".join(f"{path} ({reason})" for path, reason in self.skipped)
            hidden = self.skipped_count - len(self.skipped)
            more = f" and {hidden} more" if hidden > 0 else ""
            line += f"; skipped {self.skipped_count} unusable files: {names}{more}"
        return line


@dataclass
class FolderImages:
    """One split of a scanned folder: paths and labels, plus the decoded `store_size`
    squares (in-memory mode) or per-image colour moments (streaming mode)."""

    paths: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    arrays: list[np.ndarray] | None = None
    sums: list[np.ndarray] = field(default_factory=list)  # streaming only, per image: Σ pixel (3,)
    products: list[np.ndarray] = field(default_factory=list)  # streaming only: Σ pixel·pixelᵀ (3×3)


@dataclass
class FolderScan:
    """The outcome of `scan_folder`: classes, channel count, the split(s) and the report."""

    classes: tuple[str, ...]
    channels: int
    store_size: int
    train: FolderImages
    val: FolderImages | None
    report: ScanReport
    in_memory: bool


def decode_for_store(path: str | os.PathLike[str], store_size: int) -> np.ndarray:
    """A file decoded, validated and cut to its centre `store_size` square (uint8 H×W or H×W×3)."""
    img, _ = load_image_checked(path, draft=(store_size, store_size))
    if img.size != (store_size, store_size):  # already square at that size (MNIST-like folders): nothing to cut
        img = ImageOps.fit(img, (store_size, store_size), method=Image.Resampling.BILINEAR)
    return np.array(img)  # a writable copy: torch.from_numpy refuses read-only buffers


def array_to_chw(array: np.ndarray, channels: int) -> torch.Tensor:
    """A decoded H×W / H×W×3 square as a uint8 `channels`×H×W tensor (grey replicated)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    if tensor.shape[0] == 1 and channels == 3:
        tensor = tensor.expand(3, -1, -1)
    elif tensor.shape[0] == 3 and channels == 1:
        tensor = rgb_to_grayscale(tensor)  # ITU-R 601 luma, as everywhere else
    return tensor.contiguous()


def cache_file(cache_dir: Path, path: str, store_size: int) -> Path:
    """Where the decoded square of `path` is cached; the name changes when the file does."""
    st = os.stat(path)
    key = f"{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}|{store_size}"
    return cache_dir / f"{hashlib.sha1(key.encode('utf-8', 'surrogateescape')).hexdigest()}.npy"


def _save_cache(cache_dir: Path, path: str, store_size: int, array: np.ndarray) -> None:
    """Write one cached square atomically (temp file + rename) so readers never see half."""
    target = cache_file(cache_dir, path, store_size)
    tmp = temp_beside(target)  # mkstemp: never a planted link, never another writer's name
    try:
        with open(tmp, "r+b") as f:
            np.save(f, array)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _moments(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ pixel and Σ pixel·pixelᵀ in RGB 0..1 (grey replicated), for mean/std/PCA later."""
    pixels = array.reshape(-1, 1 if array.ndim == 2 else array.shape[2]).astype(np.float64) / 255.0
    if pixels.shape[1] == 1:
        pixels = np.repeat(pixels, 3, axis=1)
    return pixels.sum(axis=0), pixels.T @ pixels


def _walk_images(folder: Path, root: Path, skipped: list[tuple[str, str]]) -> list[str]:
    """Candidate image files under `folder`, recursively, each folder visited once."""
    found: list[str] = []
    visited: set[tuple[int, int]] = set()
    pending = [folder]
    inside = os.path.realpath(folder) + os.sep
    while pending:
        current = pending.pop()
        try:
            st = current.stat()
            key = (st.st_dev, st.st_ino)
            if key in visited:
                continue  # a symlink loop or a second link to a folder already scanned
            visited.add(key)
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            skipped.append((_relative(current, root), f"folder cannot be read ({exc.strerror or exc})"))
            continue
        for entry in entries:
            if is_hidden(entry.name):
                continue
            # DirEntry's d_type answers without a stat call for plain files and folders (the
            # 50,000-file case); links and odd entries take the slow path that says why.
            try:
                if entry.is_dir():  # follows links
                    if entry.is_symlink() and not os.path.realpath(entry.path).startswith(inside):
                        # A link out of the class folder (to its parent, another class) would
                        # count other images as this class's.
                        skipped.append((_relative(Path(entry.path), root), "link to a folder outside its class"))
                        continue
                    pending.append(Path(entry.path))
                    continue
                regular = entry.is_file()
            except OSError:
                regular = False
            if not regular:
                try:
                    os.stat(entry.path)  # follows links
                    reason = "not a regular file"
                except OSError:
                    reason = "dangling link" if entry.is_symlink() else "cannot be read"
                skipped.append((_relative(Path(entry.path), root), reason))
            elif not is_image_name(entry.name):
                skipped.append((_relative(Path(entry.path), root), "not an image file"))
            else:
                found.append(entry.path)
    return sorted(found)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _image_headers(root: Path) -> Iterator[tuple[tuple[int, int], str]]:
    """(size, mode) of a folder's image files in order, read from their headers only (no decode).
    A FIFO or a device named like an image is skipped unread, as the scan does; so is a file
    Pillow cannot open. Stop iterating to read no more."""
    for current, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        for name in sorted(files):
            if is_hidden(name) or not is_image_name(name):
                continue
            try:
                with open_regular(os.path.join(current, name)) as handle, Image.open(handle) as img:
                    size, mode = img.size, img.mode
            except (OSError, ValueError, Image.DecompressionBombError):
                continue
            yield size, mode


def typical_image_size(path: str | os.PathLike[str], *, sample: int = 24) -> int | None:
    """The median shorter side of a folder's first `sample` images (headers only: no decode).

    What "the dataset's size" means for a folder when choosing the input size; None when
    no image can be read (the scan then says why in words).
    """
    sides = [min(size) for size, _mode in itertools.islice(_image_headers(Path(path)), sample)]
    return int(np.median(sides)) if sides else None


# Pillow modes whose decoded image is grey ("L"): the scan's rule (`images._to_l_or_rgb`).
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def typical_channels(path: str | os.PathLike[str], *, sample: int = 24) -> int | None:
    """1 when a folder's first `sample` images are all grey, else 3 (headers only: no decode);
    None when no image can be read. What the model is built for before the scan says for sure."""
    modes = [mode for _size, mode in itertools.islice(_image_headers(Path(path)), sample)]
    if not modes:
        return None
    return 1 if all(mode in _GREY_MODES for mode in modes) else 3


def scan_folder(
    path: str | os.PathLike[str],
    *,
    store_size: int = DEFAULT_STORE_SIZE,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> FolderScan:
    """Find the classes and images of an image folder and decode-validate every image.

    Folders whose decoded squares fit in `memory_budget` bytes keep them (`in_memory`);
    larger ones keep only paths (and write decoded squares to `cache_dir` when given).
    Raises `DatasetError` for a folder that does not exist or cannot make a classifier
    (no class sub-folders, a single class, a class with no usable image), `Cancelled`
    when `cancel()` says so.
    """
    given = os.fspath(path)
    root = Path(given).expanduser()
    if not root.exists():
        absolute = str(root.absolute())
        where = f" ({absolute})" if absolute != given else ""  # the full path only when it adds something
        raise DatasetError(f"the folder {given} does not exist{where}")
    if not root.is_dir():
        raise DatasetError(f"{given} is not a folder: give a folder with one sub-folder of images per class")
    root = root.resolve()
    found = detect_layout(root)
    layout, train_dir, val_dir, classes = found.kind, found.train_dir, found.val_dir, list(found.classes)
    example = root / "cats" / "1.jpg"
    if not classes:
        raise DatasetError(
            f"{root} has no class sub-folders: put each class's images in its own sub-folder (e.g. {example})"
        )
    if len(classes) == 1:
        raise DatasetError(
            f"{root} has a single class sub-folder ({classes[0]!r}); a classifier needs at least two classes"
        )

    skipped: list[tuple[str, str]] = []
    # (split, path, label) for every candidate file, in a stable order.
    candidates: list[tuple[int, str, int]] = []
    for split, base in ((0, train_dir), (1, val_dir)):
        if base is None:
            continue
        for label, name in enumerate(classes):
            if cancel is not None and cancel():
                raise Cancelled("folder scan cancelled")
            class_dir = base / name
            if class_dir.is_dir():
                candidates.extend((split, file, label) for file in _walk_images(class_dir, root, skipped))
            if progress is not None:
                progress(0, 0, f"Looking for images in {root.name}/ ({len(candidates)} found)")

    decoded_bytes = len(candidates) * 3 * store_size * store_size
    in_memory = decoded_bytes <= memory_budget
    cache = Path(cache_dir) if cache_dir is not None and not in_memory else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)

    stop = threading.Event()  # set when the user cancels: workers stop between two files

    def check(start: int) -> list[np.ndarray | ImageError | None]:
        out: list[np.ndarray | ImageError | None] = []
        for _split, path_, _label in candidates[start : start + SCAN_CHUNK]:
            if stop.is_set():
                break
            try:
                array = decode_for_store(path_, store_size)
            except ImageError as exc:
                out.append(exc)
                continue
            if cache is not None:
                _save_cache(cache, path_, store_size, array)
            out.append(array)
        return out

    results: list[np.ndarray | None] = [None] * len(candidates)
    total = len(candidates)
    done = 0
    n_workers = workers or min(8, os.cpu_count() or 1)
    pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="scan")
    in_flight: deque[tuple[int, Future[list[np.ndarray | ImageError | None]]]] = deque()
    next_start = 0
    last_report = 0.0
    try:
        while next_start < total or in_flight:
            while next_start < total and len(in_flight) < 2 * n_workers:  # a fixed window: memory stays flat
                in_flight.append((next_start, pool.submit(check, next_start)))
                next_start += SCAN_CHUNK
            start, future = in_flight.popleft()
            while True:
                if cancel is not None and cancel():
                    stop.set()
                    raise Cancelled("folder scan cancelled")
                try:
                    chunk = future.result(timeout=0.2)
                    break
                except FutureTimeout:
                    continue
            for offset, outcome in enumerate(chunk):
                if isinstance(outcome, ImageError):
                    skipped.append((_relative(Path(candidates[start + offset][1]), root), outcome.reason))
                else:
                    results[start + offset] = outcome
            done += len(chunk)
            now = time.monotonic()
            if progress is not None and (now - last_report >= _PROGRESS_EVERY_S or done == total):
                last_report = now
                progress(done, total, f"Checking images in {root.name}/ ({done}/{total})")
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)

    splits = [FolderImages(arrays=[] if in_memory else None), FolderImages(arrays=[] if in_memory else None)]
    grey = True
    for (split, file, label), array in zip(candidates, results):
        if array is None:
            continue
        target = splits[split]
        target.paths.append(file)
        target.labels.append(label)
        if not in_memory:  # streamed sets get mean/std/PCA from these; in-memory ones from the tensor
            s1, s2 = _moments(array)
            target.sums.append(s1)
            target.products.append(s2)
        grey = grey and array.ndim == 2
        if target.arrays is not None:
            target.arrays.append(array)

    counts = np.bincount(np.asarray(splits[0].labels, dtype=np.int64), minlength=len(classes))
    empty = [name for name, count in zip(classes, counts) if count == 0]
    used = len(splits[0].paths) + len(splits[1].paths)
    report = ScanReport(
        root=str(root),
        layout=layout,
        classes=tuple(classes),
        found=used + len(skipped),
        used=used,
        skipped_count=len(skipped),
        skipped=tuple(skipped[:_REPORT_FIRST]),
        in_memory=in_memory,
        unusable=tuple(skipped[:_LIST_AT_MOST]),
    )
    if empty:
        where = train_dir if layout == "train/val" else root
        detail = f" ({report.summary().split('; ', 1)[1]})" if report.skipped_count else ""
        raise DatasetError(
            f"class folder(s) {', '.join(repr(n) for n in empty)} in {where} have no usable images{detail}; "
            "add images or remove the folder"
        )
    return FolderScan(
        classes=tuple(classes),
        channels=1 if grey else 3,
        store_size=store_size,
        train=splits[0],
        val=splits[1] if val_dir is not None else None,
        report=report,
        in_memory=in_memory,
    )


class FolderDataset(torch.utils.data.Dataset):
    """Files of a large folder, decoded on demand (or read from the cache) as uint8 C×S×S.

    A file that became unreadable since the scan yields label -1, which the streaming
    loader drops from its batch, rather than killing a worker mid-epoch.
    """

    def __init__(
        self,
        paths: list[str] | tuple[str, ...],
        labels: torch.Tensor,
        *,
        store_size: int,
        channels: int,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.paths = list(paths)
        self.labels = labels
        self.store_size = store_size
        self.channels = channels
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    def __len__(self) -> int:
        return len(self.paths)

    def _array(self, path: str) -> np.ndarray:
        if self.cache_dir is not None:
            try:
                # A regular file whose header is a decoded square (not a FIFO, not a claim of gigabytes).
                cached = read_npy(cache_file(self.cache_dir, path, self.store_size), dtype="uint8",
                                  max_bytes=self.store_size * self.store_size * 3)
                if cached.shape[:2] == (self.store_size, self.store_size) and cached.ndim in (2, 3):
                    return cached
            except (OSError, ValueError):
                pass  # not cached (yet) or a stale/broken entry: decode and refresh it
        array = decode_for_store(path, self.store_size)
        if self.cache_dir is not None:
            try:
                _save_cache(self.cache_dir, path, self.store_size, array)
            except OSError:
                pass  # a cache that cannot be written only costs speed
        return array

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path = self.paths[index]
        try:
            array = self._array(path)
        except (ImageError, OSError):
            return torch.zeros(self.channels, self.store_size, self.store_size, dtype=torch.uint8), -1
        return array_to_chw(array, self.channels), int(self.labels[index])
