"""The folder scan works in a fixed window of chunks, collected in order (issue 15 #13):
the work in flight is bounded however large the folder, results and skipped files come in
file order whatever order the threads finish in, and Cancel still acts within a chunk."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cnnstudio.data.folders as folders
from cnnstudio.errors import Cancelled


def _folder(root: Path, per_class: int, broken_every: int = 0) -> Path:
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            path = root / label / f"{i:04d}.png"
            if broken_every and i % broken_every == 3:
                path.write_bytes(b"\x89PNG\r\n\x1a\n cut short")
            else:
                Image.new("L", (8, 8), (7 * i) % 256).save(path)
    return root


def test_work_in_flight_is_bounded_and_results_come_in_file_order(tmp_path: Path, monkeypatch) -> None:
    root = _folder(tmp_path / "data", per_class=150, broken_every=25)
    real_decode = folders.decode_for_store
    rng = random.Random(0)
    lock = threading.Lock()

    def jittery(path, size):  # threads finish out of order
        time.sleep(rng.random() * 0.002)
        return real_decode(path, size)

    monkeypatch.setattr(folders, "decode_for_store", jittery)
    outstanding = peak = 0
    real_submit = folders.ThreadPoolExecutor.submit

    def counting_submit(self, fn, *args, **kwargs):
        nonlocal outstanding, peak
        with lock:
            outstanding += 1
            peak = max(peak, outstanding)

        def done(_future):
            nonlocal outstanding
            with lock:
                outstanding -= 1

        future = real_submit(self, fn, *args, **kwargs)
        future.add_done_callback(done)
        return future

    monkeypatch.setattr(folders.ThreadPoolExecutor, "submit", counting_submit)
    scan = folders.scan_folder(root, store_size=8, workers=4)
    assert peak <= 2 * 4  # a window of chunks, not one future per file
    assert scan.report.used == 300 - 12 and scan.report.skipped_count == 12
    broken = {f"{label}/{i:04d}.png" for label in "ab" for i in range(150) if i % 25 == 3}
    assert [path for path, _ in scan.report.skipped] == sorted(broken)[:5]  # the first few, in file order
    expected = [str(root / name) for name in sorted(f"{label}/{i:04d}.png" for label in "ab" for i in range(150))
                if name not in broken]
    assert scan.train.paths == expected
    shades = [int(array[0, 0]) for array in scan.train.arrays]
    assert shades == [int(np.array(Image.open(p))[0, 0]) for p in expected]


def test_cancel_acts_within_a_chunk(tmp_path: Path, monkeypatch) -> None:
    root = _folder(tmp_path / "data", per_class=200)
    decoded = []
    real_decode = folders.decode_for_store

    def counted(path, size):
        decoded.append(path)
        time.sleep(0.001)
        return real_decode(path, size)

    monkeypatch.setattr(folders, "decode_for_store", counted)
    progress = []
    with pytest.raises(Cancelled):
        folders.scan_folder(root, store_size=8, workers=2, progress=lambda d, t, m: progress.append((d, t)),
                            cancel=lambda: len(decoded) >= 40)
    time.sleep(0.05)
    assert len(decoded) < 40 + 2 * folders.SCAN_CHUNK  # the workers stopped between two files


def test_progress_reaches_the_total(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data", per_class=80)
    calls = []
    folders.scan_folder(root, store_size=8, workers=2, progress=lambda d, t, m: calls.append((d, t)))
    counted = [(d, t) for d, t in calls if t]
    assert counted[-1] == (160, 160)
    assert [d for d, _ in counted] == sorted(d for d, _ in counted)
