"""MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100 in torchvision's on-disk formats.

Reading goes through torchvision's own dataset classes (always `download=False`), so a
folder prepared by torchvision works here and vice versa. Downloading uses our
`download.download_file` (timeout, progress, cancel, `.part` + md5 + rename) with the
URLs and checksums torchvision's classes carry, then unpacks exactly where torchvision
looks. Without a network the user gets one line naming the folder and the files to put
there by hand.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST

from cnnstudio.data.download import CancelFn, DownloadFailed, ProgressFn, download_file, file_md5
from cnnstudio.errors import DatasetError, DownloadError

__all__ = [
    "DATA_ENV_VAR",
    "TorchvisionSplits",
    "dataset_folder",
    "default_data_root",
    "download",
    "is_downloaded",
    "load_torchvision_set",
    "manual_instructions",
]

DATA_ENV_VAR = "CNNSTUDIO_DATA"

_CLASSES = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "cifar10": CIFAR10, "cifar100": CIFAR100}
_TITLES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
_DIGITS = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class TorchvisionSplits:
    """A torchvision dataset held in memory: uint8 N×C×H×W images, int64 labels."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]


def default_data_root() -> Path:
    """Where datasets live: `$CNNSTUDIO_DATA`, else the user data dir's `datasets`."""
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_path

    return user_data_path("cnnstudio", appauthor=False) / "datasets"


def _cls(name: str) -> type:
    try:
        return _CLASSES[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a torchvision dataset; expected one of {', '.join(_CLASSES)}") from None


def _is_mnist(name: str) -> bool:
    return issubclass(_cls(name), MNIST)


def dataset_folder(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds (or will hold) the dataset's downloaded files."""
    root_path = Path(root) if root is not None else default_data_root()
    cls = _cls(name)
    if _is_mnist(name):
        return root_path / cls.__name__ / "raw"
    return root_path


def manual_instructions(name: str, root: str | os.PathLike[str] | None = None) -> str:
    """One sentence: which files to put where so that no download is needed."""
    cls = _cls(name)
    folder = dataset_folder(name, root)
    if _is_mnist(name):
        files = ", ".join(filename for filename, _ in cls.resources)
        return f"put {files} in {folder}"
    return f"put {cls.filename} (from {cls.url}) in {folder}"


def _mnist_files(name: str, root: Path) -> list[tuple[str, str, Path]]:
    """(archive name, md5, extracted path) for each MNIST-format resource."""
    cls = _cls(name)
    raw = dataset_folder(name, root)
    return [(filename, md5, raw / filename.removesuffix(".gz")) for filename, md5 in cls.resources]


def _cifar_files(name: str, root: Path) -> list[Path]:
    cls = _cls(name)
    names = [entry[0] for entry in cls.train_list + cls.test_list] + [cls.meta["filename"]]
    return [root / cls.base_folder / filename for filename in names]


def is_downloaded(name: str, root: str | os.PathLike[str] | None = None) -> bool:
    """Whether every file torchvision reads is present (nothing needs downloading)."""
    root_path = Path(root) if root is not None else default_data_root()
    if _is_mnist(name):
        return all(path.is_file() for _, _, path in _mnist_files(name, root_path))
    return all(path.is_file() for path in _cifar_files(name, root_path))


def _fetch(
    name: str,
    urls: list[str],
    archive: Path,
    md5: str,
    *,
    root: Path,
    timeout: float,
    progress: ProgressFn | None,
    cancel: CancelFn | None,
) -> None:
    """Make `archive` a verified copy, downloading it from the first mirror that works."""
    if archive.is_file() and file_md5(archive) == md5:
        return  # put there by hand (or left by torchvision)
    reason = "no network?"
    for url in urls:
        try:
            label = f"{_TITLES[name]} {archive.name}"
            download_file(url, archive, md5=md5, timeout=timeout, progress=progress, cancel=cancel, label=label)
            return
        except DownloadFailed as exc:
            reason = exc.reason
    raise DownloadError(
        f"cannot download {_TITLES[name]} ({reason}): {manual_instructions(name, root)} and try again",
        dataset_folder(name, root),
    )


def _gunzip(archive: Path, target: Path) -> None:
    """Decompress `archive` to `target` through `target.part`, so a partial file never counts."""
    part = target.with_name(target.name + ".part")
    try:
        with gzip.open(archive, "rb") as src, open(part, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(part, target)
    except (OSError, EOFError) as exc:
        part.unlink(missing_ok=True)
        raise DatasetError(f"cannot unpack {archive} ({exc}); delete it and try again") from None


def _untar(archive: Path, root: Path, base_folder: str) -> None:
    """Unpack a CIFAR archive into `root/base_folder`, each file renamed into place whole."""
    staging = root / f".{base_folder}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(staging, filter="data")  # refuses absolute paths, links out, devices
        source = staging / base_folder
        if not source.is_dir():
            raise DatasetError(f"{archive} does not contain {base_folder}/; delete it and try again")
        target = root / base_folder
        target.mkdir(parents=True, exist_ok=True)
        for item in source.iterdir():
            os.replace(item, target / item.name)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise DatasetError(f"cannot unpack {archive} ({exc}); delete it and try again") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download(
    name: str,
    *,
    root: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download and unpack `name` where torchvision expects it, unless it is already there.

    Returns the dataset folder. Raises `DownloadError` (with `.folder`) when the network
    fails, `Cancelled` when `cancel()` says so.
    """
    root_path = Path(root) if root is not None else default_data_root()
    cls = _cls(name)
    if is_downloaded(name, root_path):
        return dataset_folder(name, root_path)
    try:
        dataset_folder(name, root_path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the data folder {dataset_folder(name, root_path)} ({exc.strerror or exc}); "
            f"set {DATA_ENV_VAR} to a writable folder",
            dataset_folder(name, root_path),
        ) from None
    if _is_mnist(name):
        for filename, md5, extracted in _mnist_files(name, root_path):
            if extracted.is_file():
                continue
            archive = extracted.parent / filename
            _fetch(name, [mirror + filename for mirror in cls.mirrors], archive, md5, root=root_path,
                   timeout=timeout, progress=progress, cancel=cancel)
            _gunzip(archive, extracted)
    else:
        archive = root_path / cls.filename
        _fetch(name, [cls.url], archive, cls.tgz_md5, root=root_path, timeout=timeout, progress=progress,
               cancel=cancel)
        _untar(archive, root_path, cls.base_folder)
    return dataset_folder(name, root_path)


def _read(name: str, root: Path, *, train: bool) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    """One split through torchvision's class, as uint8 N×C×H×W + int64 labels + class names."""
    cls = _cls(name)
    try:
        ds = cls(str(root), train=train, download=False)
    except (RuntimeError, OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        # Includes a failed md5 check of CIFAR's batch files: corrupt or incomplete copies.
        raise DatasetError(
            f"the {_TITLES[name]} files in {dataset_folder(name, root)} are missing or corrupt "
            f"({str(exc).splitlines()[0]}); delete them to download again, or {manual_instructions(name, root)}"
        ) from None
    if _is_mnist(name):
        images = ds.data.unsqueeze(1).contiguous()
        classes = _DIGITS if cls is MNIST else tuple(ds.classes)
    else:
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # N×H×W×C -> N×C×H×W
        classes = tuple(ds.classes)
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    return images, labels, classes


def load_torchvision_set(
    name: str,
    *,
    root: str | os.PathLike[str] | None = None,
    download_missing: bool = True,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> TorchvisionSplits:
    """Both official splits of `name` in memory, downloading first if allowed and needed."""
    root_path = Path(root) if root is not None else default_data_root()
    if not is_downloaded(name, root_path):
        if not download_missing:
            raise DatasetError(
                f"{_TITLES[name]} is not downloaded: {manual_instructions(name, root_path)}, "
                "or allow downloading"
            )
        download(name, root=root_path, progress=progress, cancel=cancel)
    train_images, train_labels, classes = _read(name, root_path, train=True)
    test_images, test_labels, _ = _read(name, root_path, train=False)
    return TorchvisionSplits(train_images, train_labels, test_images, test_labels, classes)
