"""The neighbours cache is untrusted (issue 23, items 10 and 18): a FIFO, a folder or a header
claiming gigabytes in `RUN/features/` is recomputed over, never read into a hang or a traceback."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from cnnstudio.inspect import neighbours as nb
from cnnstudio.inspect.inputs import TrainedModel
from cnnstudio.inspect.neighbours import run_feature_bank

pytestmark = pytest.mark.usefixtures("one_thread")


def _cache_file(run: Path) -> tuple[Path, TrainedModel]:
    trained = TrainedModel.from_run(run)
    run_feature_bank(trained)  # makes the cache: its name is the one a later call reads
    (path,) = (run / nb.FEATURES_FOLDER).glob("train-*.npy")
    return path, trained


def _in_time(call, seconds: float = 20.0):
    out: list[object] = []
    worker = threading.Thread(target=lambda: out.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "it hung"
    return out[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("plant", ["fifo", "folder", "huge header"])
def test_a_hostile_cache_entry_is_recomputed_never_read(tiny_run: Path, tmp_path: Path, plant: str) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    path, _ = _cache_file(run)
    good = np.load(path)
    path.unlink()
    if plant == "fifo":
        os.mkfifo(path)
    elif plant == "folder":
        path.mkdir()
        (path / "x").write_text("someone's")
    else:  # a header that claims (4500, 10⁹) floats: 18 TB
        with path.open("wb") as handle:
            np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (4500, 10**9)})
    bank, _ = _in_time(lambda: run_feature_bank(TrainedModel.from_run(run)))
    assert np.array_equal(bank.features.numpy(), good)
    if plant == "folder":
        assert (path / "x").read_text() == "someone's"


def test_a_folder_named_like_an_old_cache_is_left_alone(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    path, _ = _cache_file(run)
    old = path.with_name(path.name.replace("train-best-", "train-best-0000"))
    old.mkdir()
    path.unlink()  # extracted again, then the old caches of this split are tidied
    run_feature_bank(TrainedModel.from_run(run))
    assert old.is_dir() and path.is_file()


def test_a_linked_features_folder_is_neither_read_nor_written(tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    path, _ = _cache_file(run)
    good = np.load(path)
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = outside / path.name  # a user's file that happens to carry the cache's name
    planted.write_bytes(b"the user's own")
    shutil.rmtree(run / nb.FEATURES_FOLDER)
    (run / nb.FEATURES_FOLDER).symlink_to(outside)
    bank, _ = run_feature_bank(TrainedModel.from_run(run))
    assert np.array_equal(bank.features.numpy(), good)  # extracted, not read through the link
    assert planted.read_bytes() == b"the user's own" and sorted(outside.iterdir()) == [planted]
