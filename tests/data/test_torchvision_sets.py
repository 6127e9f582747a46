"""torchvision_sets.py + download.py: reading each format from tiny files written in
torchvision's on-disk layout (downloads off), the offline message, `.part` and md5 rules."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST

from cnnstudio.data import torchvision_sets as tvs
from cnnstudio.errors import Cancelled
from cnnstudio.data.download import download_file
from cnnstudio.data.loaders import load_dataset
from cnnstudio.errors import DatasetError, DownloadError


def _idx_images(images: np.ndarray) -> bytes:
    n, h, w = images.shape
    return struct.pack(">IIII", 0x00000803, n, h, w) + images.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    return struct.pack(">II", 0x00000801, len(labels)) + labels.astype(np.uint8).tobytes()


def write_mnist(root: Path, cls: type, n_train: int = 12, n_test: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Tiny idx-ubyte files in `<root>/<ClassName>/raw/`; returns the train images/labels."""
    raw = root / cls.__name__ / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    out = None
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n) % 10
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(_idx_images(images))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx_labels(labels))
        out = out or (images, labels)
    return out


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def write_cifar(root: Path, cls: type, monkeypatch: pytest.MonkeyPatch, n_per_file: int = 6) -> np.ndarray:
    """Tiny pickles in torchvision's CIFAR layout; torchvision's class checks each file's md5,
    so the class's checksum table is pointed at these files for the test."""
    folder = root / cls.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    label_key = "labels" if cls is CIFAR10 else "fine_labels"
    num_classes = 10 if cls is CIFAR10 else 100
    first = None
    tables = {}
    for attr in ("train_list", "test_list"):
        table = []
        for filename, _ in getattr(cls, attr):
            data = rng.integers(0, 256, (n_per_file, 3 * 32 * 32), dtype=np.uint8)
            labels = [int(i) % num_classes for i in range(n_per_file)]
            with open(folder / filename, "wb") as f:
                pickle.dump({"data": data, label_key: labels}, f)
            table.append([filename, _md5(folder / filename)])
            first = data if first is None else first
        tables[attr] = table
    names = [f"class{i}" for i in range(num_classes)]
    with open(folder / cls.meta["filename"], "wb") as f:
        pickle.dump({cls.meta["key"]: names}, f)
    for attr, table in tables.items():
        monkeypatch.setattr(cls, attr, table)
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(folder / cls.meta["filename"])})
    return first


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """urllib raises as it does offline; the URLs tried are recorded."""
    tried: list[str] = []

    def offline(request, *args, **kwargs):
        tried.append(request.full_url if hasattr(request, "full_url") else str(request))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    return tried


@pytest.mark.parametrize(("name", "cls"), [("mnist", MNIST), ("fashion-mnist", FashionMNIST)])
def test_mnist_formats_read_from_torchvision_layout(tmp_path: Path, name: str, cls: type, no_network) -> None:
    images, labels = write_mnist(tmp_path, cls)
    bundle = load_dataset(name, root=tmp_path, download=False)
    assert bundle.train.images.dtype == torch.uint8 and tuple(bundle.train.images.shape) == (12, 1, 28, 28)
    assert bundle.train.labels.dtype == torch.int64
    assert torch.equal(bundle.train.images[:, 0], torch.from_numpy(images))
    assert bundle.train.labels.tolist() == labels.tolist()
    assert len(bundle.val) == 5  # the official test split is the validation set
    assert bundle.spec.channels == 1 and bundle.spec.num_classes == 10 and bundle.spec.native_size == 28
    assert abs(bundle.spec.mean[0] - images.mean() / 255) < 1e-9
    assert no_network == []
    if cls is FashionMNIST:
        assert bundle.spec.classes[0] == "T-shirt/top"


@pytest.mark.parametrize(("name", "cls"), [("cifar10", CIFAR10), ("cifar100", CIFAR100)])
def test_cifar_formats_read_from_torchvision_layout(
    tmp_path: Path, name: str, cls: type, monkeypatch, no_network
) -> None:
    first = write_cifar(tmp_path, cls, monkeypatch)
    bundle = load_dataset(name, root=tmp_path, download=False)
    n_train = 6 * len(cls.train_list)
    assert tuple(bundle.train.images.shape) == (n_train, 3, 32, 32)
    assert torch.equal(bundle.train.images[0], torch.from_numpy(first[0].reshape(3, 32, 32)))
    assert len(bundle.val) == 6
    assert bundle.spec.channels == 3 and len(bundle.spec.mean) == 3
    assert bundle.spec.num_classes == (10 if cls is CIFAR10 else 100)
    assert no_network == []


def test_corrupt_cifar_file_gives_a_dataset_error(tmp_path: Path, monkeypatch) -> None:
    write_cifar(tmp_path, CIFAR10, monkeypatch)
    (tmp_path / CIFAR10.base_folder / "data_batch_1").write_bytes(b"garbage")  # md5 no longer matches
    with pytest.raises(DatasetError, match="missing or corrupt"):
        load_dataset("cifar10", root=tmp_path, download=False)


def test_missing_dataset_with_download_off_says_where_to_put_files(tmp_path: Path, no_network) -> None:
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", root=tmp_path, download=False)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert no_network == []


@pytest.mark.parametrize(("name", "folder", "needed"), [
    ("mnist", "MNIST/raw", "t10k-labels-idx1-ubyte.gz"),
    ("fashion-mnist", "FashionMNIST/raw", "train-images-idx3-ubyte.gz"),
    ("cifar10", "", "cifar-10-python.tar.gz"),
    ("cifar100", "", "cifar-100-python.tar.gz"),
])
def test_offline_download_names_the_folder_and_files(tmp_path: Path, no_network, name, folder, needed) -> None:
    with pytest.raises(DownloadError) as info:
        load_dataset(name, root=tmp_path)
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert str(tmp_path / folder) in message and needed in message
    assert err.folder == str(tmp_path / folder)
    assert no_network, "a download was attempted"
    assert not list(tmp_path.rglob("*.part"))
    assert not tvs.is_downloaded(name, tmp_path)


def test_data_root_env_var_is_the_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CNNSTUDIO_DATA", str(tmp_path / "mine"))
    assert tvs.default_data_root() == tmp_path / "mine"
    monkeypatch.delenv("CNNSTUDIO_DATA")
    assert tvs.default_data_root().name == "datasets"


class _FakeResponse(io.BytesIO):
    def __init__(self, payload: bytes, fail_after: int | None = None) -> None:
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}
        self.fail_after = fail_after

    def read(self, size: int = -1) -> bytes:
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise TimeoutError("timed out")
        return super().read(size)


def _serve(monkeypatch, payloads: dict[str, bytes], fail_after: int | None = None) -> list[str]:
    served: list[str] = []

    def fake(request, timeout=None):
        url = request.full_url
        served.append(url)
        if url not in payloads:
            raise urllib.error.URLError("not found")
        return _FakeResponse(payloads[url], fail_after)

    monkeypatch.setattr(urllib.request, "urlopen", fake)
    return served


def test_download_writes_part_then_renames_after_md5(tmp_path: Path, monkeypatch) -> None:
    payload = b"x" * 200_000
    _serve(monkeypatch, {"http://h/f.bin": payload})
    seen: list[tuple[int, int]] = []
    out = download_file("http://h/f.bin", tmp_path / "f.bin", md5=hashlib.md5(payload).hexdigest(),
                        progress=lambda done, total, msg: seen.append((done, total)))
    assert out.read_bytes() == payload and not (tmp_path / "f.bin.part").exists()
    assert seen[-1] == (len(payload), len(payload)) and len(seen) > 2


def test_md5_mismatch_is_rejected_and_nothing_is_left(tmp_path: Path, monkeypatch) -> None:
    _serve(monkeypatch, {"http://h/f.bin": b"tampered"})
    with pytest.raises(DownloadError, match="checksum"):
        download_file("http://h/f.bin", tmp_path / "f.bin", md5=hashlib.md5(b"original").hexdigest())
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_leaves_no_file_taken_for_complete(tmp_path: Path, monkeypatch) -> None:
    _serve(monkeypatch, {"http://h/f.bin": b"y" * 300_000}, fail_after=100_000)
    with pytest.raises(DownloadError, match="timed out"):
        download_file("http://h/f.bin", tmp_path / "f.bin", md5=None)
    assert list(tmp_path.iterdir()) == []


def test_cancel_stops_the_download(tmp_path: Path, monkeypatch) -> None:
    _serve(monkeypatch, {"http://h/f.bin": b"z" * 300_000})
    with pytest.raises(Cancelled):
        download_file("http://h/f.bin", tmp_path / "f.bin", md5=None, cancel=lambda: True)
    assert list(tmp_path.iterdir()) == []


def test_leftover_part_file_is_never_counted_as_downloaded(tmp_path: Path, no_network) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for filename, _ in MNIST.resources:
        (raw / (filename.removesuffix(".gz") + ".part")).write_bytes(b"half")
        (raw / (filename + ".part")).write_bytes(b"half")
    assert not tvs.is_downloaded("mnist", tmp_path)
    with pytest.raises(DownloadError):
        load_dataset("mnist", root=tmp_path)


def test_mnist_download_unpacks_where_torchvision_reads(tmp_path: Path, monkeypatch) -> None:
    """The whole download path with a fake server whose files carry the patched md5s."""
    rng = np.random.default_rng(2)
    payloads, resources = {}, []
    for filename, _ in MNIST.resources:
        n = 4
        body = (_idx_images(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)) if "images" in filename
                else _idx_labels(np.arange(n)))
        packed = gzip.compress(body)
        payloads[MNIST.mirrors[1] + filename] = packed  # the first mirror is "down"
        resources.append((filename, hashlib.md5(packed).hexdigest()))
    monkeypatch.setattr(MNIST, "resources", resources)
    served = _serve(monkeypatch, payloads)
    messages: list[str] = []
    bundle = load_dataset("mnist", root=tmp_path, progress=lambda d, t, m: messages.append(m))
    assert len(bundle.train) == 4 and len(bundle.val) == 4
    assert any(url.startswith(MNIST.mirrors[0]) for url in served)
    assert tvs.is_downloaded("mnist", tmp_path) and not list(tmp_path.rglob("*.part"))
    assert any("MNIST" in m for m in messages)


def test_cifar_archive_put_by_hand_is_verified_and_unpacked(tmp_path: Path, monkeypatch, no_network) -> None:
    staging = tmp_path / "staging"
    write_cifar(staging, CIFAR10, monkeypatch)
    archive = tmp_path / "root" / CIFAR10.filename
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(staging / CIFAR10.base_folder, arcname=CIFAR10.base_folder)
    monkeypatch.setattr(CIFAR10, "tgz_md5", _md5(archive))
    bundle = load_dataset("cifar10", root=tmp_path / "root")
    assert len(bundle.train) == 30 and no_network == []
