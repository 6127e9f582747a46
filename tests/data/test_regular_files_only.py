"""Every path opened is a regular file first (issue 23, items 9 and 23): `files.open_regular` is
the one way, and a FIFO, a device or a folder named like an image, a cache or weights is
refused or skipped without ever blocking."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnstudio.errors import CheckpointError, CnnStudioError
from cnnstudio.files import NotRegularFileError, open_regular, read_npy, read_regular

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")


def _in_time(call, seconds: float = 20.0):
    out: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(call())
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "it hung"
    if errors:
        raise errors[0]
    return out[0]


def test_open_regular_refuses_a_fifo_a_device_and_a_folder_in_words(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "a FIFO"), (Path("/dev/zero"), "a device"), (tmp_path, "a folder")):
        with pytest.raises(NotRegularFileError, match=f"is {kind}, not a regular file") as caught:
            _in_time(lambda: open_regular(path))
        assert isinstance(caught.value, CnnStudioError) and isinstance(caught.value, OSError)
    link = tmp_path / "link.png"
    link.symlink_to(fifo)
    with pytest.raises(NotRegularFileError):
        _in_time(lambda: read_regular(link, 100))
    (tmp_path / "ok").write_bytes(b"abc")
    assert read_regular(tmp_path / "ok", 3) == b"abc"
    with pytest.raises(ValueError, match="larger than 2 bytes"):
        read_regular(tmp_path / "ok", 2)


def test_read_npy_checks_the_header_before_allocating(tmp_path: Path) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.ones((3, 4), dtype=np.float32))
    assert read_npy(path, shape=(3, None), dtype="float32", max_bytes=48).sum() == 12
    for kwargs, words in (({"shape": (4, 4)}, "not"), ({"dtype": "uint8"}, "not uint8"), ({"max_bytes": 47}, "at most")):
        with pytest.raises(ValueError, match=words):
            read_npy(path, **{"max_bytes": 10**6, **kwargs})
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (4500, 10**9)})
    with pytest.raises(ValueError, match="would take"):
        read_npy(path, max_bytes=10**9)
    np.save(path, np.ones(5, dtype=np.float32))
    with path.open("ab") as handle:
        handle.write(b"xx")
    with pytest.raises(ValueError, match="does not match its header"):
        read_npy(path, max_bytes=10**6)


def test_a_fifo_named_like_an_image_does_not_hang_the_typical_size(tmp_path: Path) -> None:
    from cnnstudio.data.folders import typical_image_size

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("L", (20, 20), 9).save(tmp_path / label / f"{i}.png")
    os.mkfifo(tmp_path / "a" / "0000.png")  # sorted first: the old code opened it and waited forever
    os.mkfifo(tmp_path / "b" / "0000.jpg")
    assert _in_time(lambda: typical_image_size(tmp_path)) == 20


def test_a_fifo_in_the_decode_cache_is_decoded_over(tmp_path: Path) -> None:
    from cnnstudio.data import folders
    from cnnstudio.data.folders import cache_file, decode_for_store

    image = tmp_path / "x.png"
    Image.new("L", (16, 16), 200).save(image)
    cache = tmp_path / "cache"
    cache.mkdir()
    os.mkfifo(cache_file(cache, str(image), 16))
    store = folders.FolderDataset([str(image)], np.array([0]), store_size=16, channels=1, cache_dir=cache)
    array = _in_time(lambda: store._array(str(image)))
    assert np.array_equal(array, decode_for_store(str(image), 16))


@pytest.mark.parametrize("name", ["fifo", "/dev/zero", "folder"])
def test_weights_that_are_not_a_file_are_refused_in_words(tmp_path: Path, name: str) -> None:
    from cnnstudio.training.store.checkpoints import read_torch_file

    if name == "fifo":
        path = tmp_path / "best.pt"
        os.mkfifo(path)
        kind = "a FIFO"
    elif name == "folder":
        path, kind = tmp_path, "a folder"
    else:
        path, kind = Path(name), "a device"
    with pytest.raises(CheckpointError, match=f"is {kind}, not a checkpoint file"):
        _in_time(lambda: read_torch_file(path))


def test_the_refusal_reads_well_as_an_oserror_too() -> None:
    import pickle

    exc = NotRegularFileError("/x/pipe.png", "a FIFO")
    assert str(exc) == exc.strerror == "/x/pipe.png is a FIFO, not a regular file"  # `exc.strerror or exc` in callers
    assert str(pickle.loads(pickle.dumps(exc))) == str(exc)  # crosses to a loader worker and back


def test_the_decode_cache_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    from cnnstudio.data.folders import _save_cache, cache_file

    image = tmp_path / "x.png"
    Image.new("L", (16, 16), 200).save(image)
    cache = tmp_path / "cache"
    cache.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = cache_file(cache, str(image), 16)
    target.with_name(f"{target.stem}.{os.getpid()}.tmp").symlink_to(victim)  # the name it used to write
    _save_cache(cache, str(image), 16, np.zeros((16, 16), dtype=np.uint8))
    assert victim.read_text() == "precious" and target.is_file() and not target.is_symlink()
    assert read_npy(target, max_bytes=256).shape == (16, 16)
