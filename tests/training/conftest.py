"""Fixtures for the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from training_helpers import make_bundle

from cnnstudio.data.loaders import DatasetBundle


@pytest.fixture
def bundle() -> DatasetBundle:
    return make_bundle()


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"
