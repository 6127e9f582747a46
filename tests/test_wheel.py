"""The built wheel carries the stylesheet and the icons (a non-editable install had neither)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_stylesheet_and_icons(tmp_path):
    # Build from a copy, so the checkout gets no build/ or egg-info; offline, with the
    # setuptools already installed (no build isolation, no dependencies fetched).
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "cnnstudio", source / "cnnstudio", ignore=ignore)
    shutil.copytree(ROOT / "resources", source / "resources", ignore=ignore)
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(out)],
        check=True, timeout=180,
    )
    (wheel,) = out.glob("cnnstudio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "cnnstudio/gui/resources/style.qss" in names
    icons = sorted(p.name for p in (ROOT / "resources" / "icons").glob("*.svg"))
    assert icons, "the source tree has icons"
    for name in icons:
        assert f"cnnstudio/gui/resources/icons/{name}" in names
    # Everything else still ships: the embedded sample and the training rooms.
    assert "cnnstudio/data/mnist_sample.npz" in names
    assert "cnnstudio/training/fit/__init__.py" in names
