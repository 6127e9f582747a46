"""Distributed training with torchrun: two gloo processes on the CPU, through the real CLI.

One launch trains 2 epochs and resumes to 3; each rank saves its final weights beside
(dist_worker.py). They must be identical on both ranks, the run folder written once, and
the result the single-process run's over the same global batch (same images per step).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnstudio.cli import build_parser
from cnnstudio.training.fit.distributed import torchrun_command
from cnnstudio.training.store.runs import open_run
from cnnstudio.training.fit.trainer import Trainer
from cnnstudio.training.fit.training_data import load_training_data

HERE = Path(__file__).parent
ARGS = ["--arch", "lenet5", "-o", "activation=relu", "-o", "pool=max", "--input-size", "16", "--batch-size", "8",
        "--lr", "0.05", "--weight-decay", "0", "--device", "cpu"]


def _blocks_folder(root: Path) -> Path:
    """6 classes (a bright block's position) × 8 training and 3 validation images, 16×16 grey PNGs."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("val", 3)):
        for label in range(6):
            folder = root / split / f"c{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                image = rng.integers(0, 60, (16, 16), dtype=np.uint8)
                row, col = divmod(label, 4)
                image[row * 4:(row + 1) * 4, col * 4:(col + 1) * 4] = 250
                Image.fromarray(image).save(folder / f"{i}.png")
    return root


def _single_process(folder: Path, run_dir: Path) -> list[dict[str, torch.Tensor]]:
    from cnnstudio.cli import train_config

    config = train_config(build_parser().parse_args(["train", "--dataset", str(folder), "--epochs", "2", *ARGS]))
    first = Trainer(config, run_dir=run_dir, bundle=load_training_data(config))
    first.fit()
    states = [{k: v.clone() for k, v in first.model.state_dict().items()}]
    again = Trainer(config.replace(epochs=3), resume_from=run_dir, bundle=load_training_data(config))
    again.fit()
    return [*states, again.model.state_dict()]


@pytest.mark.slow
def test_two_gloo_processes_train_one_run_equal_to_the_single_process_run(tmp_path):
    folder = _blocks_folder(tmp_path / "blocks")
    run_dir, dumps = tmp_path / "runs" / "ddp", tmp_path / "dumps"
    dumps.mkdir()
    command = torchrun_command(2, ["train", "--dataset", str(folder), "--epochs", "2", "--out", str(run_dir), *ARGS,
                                   "--then", "train", "--resume", str(run_dir), "--epochs", "3"])
    command[command.index("-m", 3):command.index("-m", 3) + 2] = [str(HERE / "dist_worker.py")]
    env = dict(os.environ, DUMP_DIR=str(dumps), CNNSTUDIO_RUNS=str(tmp_path / "runs"), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, "\n".join(l for l in result.stderr.splitlines() if "images in" not in l)[-8000:-2000]
    assert result.stdout.strip().splitlines()[-1] == str(run_dir)  # printed once, by rank 0

    # One run folder, written once: one metrics line per epoch, checkpoints without "module.".
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ddp"]
    rows = open_run(run_dir).metrics()
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
    saved = torch.load(run_dir / "last.pt", weights_only=True)["model"]
    assert not any(key.startswith("module.") for key in saved)

    reference = _single_process(folder, tmp_path / "single")
    reference_rows = open_run(tmp_path / "single").metrics()
    for i in (0, 1):  # after 2 epochs, and after resuming to 3
        rank0 = torch.load(dumps / f"rank0_{i}.pt", weights_only=True)
        rank1 = torch.load(dumps / f"rank1_{i}.pt", weights_only=True)
        for key, tensor in rank0.items():
            assert torch.equal(tensor, rank1[key]), key  # DDP kept the ranks in lockstep, bit for bit
            assert torch.allclose(tensor, reference[i][key], rtol=1e-4, atol=1e-5), key
    for ours, theirs in zip(rows, reference_rows):
        assert ours["val_acc"] == theirs["val_acc"]  # every validation image counted once
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-4)
    for key, tensor in saved.items():
        assert torch.equal(tensor, rank0[key])


def test_nproc_launches_the_same_command_under_torchrun():
    command = torchrun_command(4, ["train", "--arch", "lenet5"])
    assert command[:2] == [sys.executable, "-m"] and command[2] == "torch.distributed.run"
    assert "--nproc_per_node=4" in command and command[-4:] == ["cnnstudio", "train", "--arch", "lenet5"]
