"""(g) Folder scan speed: files per second at 10,000 and 50,000 tiny images (issue 15 #13).

A folder of 28×28 grey PNGs (MNIST-sized) in two classes is written once per size, then
scanned by the engine's own `scan_folder` (decode-validate every file, keep the squares in
memory). The scan must be linear: files/s at 50,000 about what it is at 10,000.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from timing import Figure, Section

TARGET_RATE = 5_000  # files/s on the 2-core machine
TARGET_RATIO = 0.8


def _write_folder(root: Path, count: int) -> None:
    from PIL import Image

    images = [Image.new("L", (28, 28), shade) for shade in range(0, 250, 10)]
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
    for i in range(count):
        images[i % len(images)].save(root / ("a" if i % 2 else "b") / f"{i:06d}.png", optimize=False)


def _scan_rate(root: Path, count: int) -> tuple[float, float]:
    from cnnstudio.data.folders import scan_folder

    calls = []
    started = time.perf_counter()
    scan = scan_folder(root, store_size=28, progress=lambda done, total, _m: calls.append(done))
    seconds = time.perf_counter() - started
    assert scan.report.used == count, scan.report.summary()
    return count / seconds, seconds


def folder_scan(*, quick: bool, scratch: Path | None = None) -> Any:
    """Files/s of `scan_folder` on a small and a five times larger folder, and their ratio."""
    small, large = (2_000, 10_000) if quick else (10_000, 50_000)
    section = Section("k", f"folder scan: files/s at {small:,} and {large:,} tiny PNGs")
    base = Path(tempfile.mkdtemp(prefix="scan-", dir=scratch))
    try:
        rates = {}
        for count in (small, large):
            folder = base / str(count)
            t0 = time.perf_counter()
            _write_folder(folder, count)
            written = time.perf_counter() - t0
            rate, seconds = _scan_rate(folder, count)
            rates[count] = rate
            section.raw[str(count)] = {"files": count, "scan_s": seconds, "write_s": written}
            section.figures.append(Figure(f"k.rate_{count}", f"scan of {count:,} files", rate, "files/s",
                                          f"≥ {TARGET_RATE:,}", rate >= TARGET_RATE, f"{seconds:.2f} s"))
            shutil.rmtree(folder, ignore_errors=True)
        ratio = rates[large] / rates[small]
        section.figures.append(Figure("k.ratio", f"files/s at {large:,} ÷ at {small:,} (linear = 1)", ratio, "×",
                                      f"≥ {TARGET_RATIO}", ratio >= TARGET_RATIO,
                                      f"{rates[large]:,.0f} vs {rates[small]:,.0f} files/s"))
        section.raw["cores"] = os.cpu_count()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return section
