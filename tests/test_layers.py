"""The layering contract in pyproject.toml holds: `lint-imports` is part of the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is missing: install the test extra (pip install -e '.[test]')")
    return found


def test_the_import_contracts_are_kept() -> None:
    out = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 kept, 0 broken" in out.stdout


def test_a_layer_importing_upwards_breaks_the_contract(tmp_path: Path) -> None:
    # The same contract over a copy of the package with one upward import added: the check can fail.
    copy = tmp_path / "cnnstudio"
    shutil.copytree(ROOT / "cnnstudio", copy, ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    errors = copy / "errors.py"
    errors.write_text(errors.read_text(encoding="utf-8") + "\nfrom cnnstudio.training import runs  # upward\n",
                      encoding="utf-8")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    out = subprocess.run([_lint_imports(), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert out.returncode != 0
    assert "cnnstudio.errors -> cnnstudio.training.runs" in out.stdout
