"""One shape for a long call's progress: `progress.ProgressFn`, (done, total, message), everywhere."""

from __future__ import annotations

import re
from pathlib import Path

import cnnstudio
from cnnstudio import progress
from cnnstudio.data import download
from cnnstudio.inspect import evaluate
from cnnstudio.training.weights import export, pretrained

PACKAGE = Path(cnnstudio.__file__).parent


def test_every_module_uses_the_one_alias():
    for module in (download, evaluate, export, pretrained):
        assert module.ProgressFn is progress.ProgressFn, module.__name__
        assert module.CancelFn is progress.CancelFn, module.__name__


def test_no_module_defines_a_progress_shape_of_its_own():
    own = re.compile(r"^\s*(ProgressFn|CancelFn)\s*=|\bprogress: Callable\[")
    found = [f"{path.relative_to(PACKAGE)}:{number}"
             for path in PACKAGE.rglob("*.py") if path.name != "progress.py"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if own.search(line)]
    assert found == []
