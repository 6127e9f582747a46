"""Fixtures for the inspection tests: a tiny trained run shared by the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers.evaluation import train_run, write_blocks_folder


@pytest.fixture(scope="session")
def blocks_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_blocks_folder(tmp_path_factory.mktemp("blocks") / "blocks")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, blocks_folder: Path) -> Path:
    """LeNet-5 trained 2 epochs on the blocks folder (seed 0, a quarter held out)."""
    return train_run(tmp_path_factory.mktemp("runs") / "run", blocks_folder)


