"""Fixtures for the inspection tests: a tiny trained run shared by the whole session."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_helpers import train_run, write_blocks_folder


@pytest.fixture(scope="session")
def blocks_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_blocks_folder(tmp_path_factory.mktemp("blocks") / "blocks")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, blocks_folder: Path) -> Path:
    """LeNet-5 trained 2 epochs on the blocks folder (seed 0, a quarter held out)."""
    return train_run(tmp_path_factory.mktemp("runs") / "run", blocks_folder)


@pytest.fixture
def one_thread():
    """PyTorch on one thread for the test: on a shared 2-core box, tiny ops on two threads wait
    on each other (a LeNet forward of 4 images measured at 0.35 ms on one, 12–86 ms on two)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
