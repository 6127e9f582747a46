"""(j) Distributed scaling: the same `cnnstudio train` in 1 process and under torchrun in 2.

Each run is the real command line in a fresh process (`--nproc 2` launches torchrun; gloo on
the CPU, NCCL when the machine has two GPUs). The figure is the training images/s of the
last epoch (the first pays warm-ups), 2 processes ÷ 1. On a CPU the single process already
uses every core through PyTorch's threads, and torchrun gives each of its processes one
thread (OMP_NUM_THREADS=1), so the ratio says what the extra processes' gradient exchange
costs or gains there; it is no promise for GPUs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from timing import Figure, Section

ARGS = ["--arch", "lenet5", "--dataset", "mnist-sample", "--batch-size", "128", "--input-size", "32"]


def _last_rate(run_dir: Path) -> float:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return float(rows[-1]["images_per_s"])


def _train(run_dir: Path, *, device: str, epochs: int, nproc: int | None, threads: int | None = None) -> float:
    command = [sys.executable, "-m", "cnnstudio", "train", *ARGS, "--device", device, "--epochs", str(epochs),
               "--out", str(run_dir)]
    if nproc is not None:
        command += ["--nproc", str(nproc)]
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[3:])} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return _last_rate(run_dir)


def scaling(*, device: Any, quick: bool) -> Section:
    """(j) images/s with 2 processes ÷ 1, on the CPU (and on 2 GPUs when present)."""
    import torch

    epochs = 2 if quick else 3
    section = Section("j", f"distributed scaling: lenet5 on mnist-sample, batch 128 (global), {epochs} epochs, "
                           "last epoch's images/s")
    targets = [("cpu", "cpu")]
    if torch.cuda.device_count() >= 2:
        targets.append(("cuda", "cuda"))
    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cnnstudio-bench-ddp-") as tmp:
        for key, name in targets:
            one = _train(Path(tmp) / f"{key}-1", device=name, epochs=epochs, nproc=None)
            two = _train(Path(tmp) / f"{key}-2", device=name, epochs=epochs, nproc=2)
            raw[key] = {"one_process": one, "two_processes": two}
            section.figures.append(Figure(
                f"j.{key}", f"{'CPU' if key == 'cpu' else '2 GPUs'}: 2 processes ÷ 1", two / one, "×",
                detail=f"{two:,.0f} vs {one:,.0f} img/s ({os.cpu_count()} cores)"))
            if key == "cpu":  # torchrun's processes run one thread each: the like-for-like single process
                single = _train(Path(tmp) / "cpu-1t", device=name, epochs=epochs, nproc=None, threads=1)
                raw[key]["one_process_one_thread"] = single
                section.figures.append(Figure(
                    "j.cpu_1t", "CPU: 2 processes ÷ 1 process of 1 thread", two / single, "×",
                    detail=f"{two:,.0f} vs {single:,.0f} img/s"))
    if len(targets) == 1:
        section.notes.append("fewer than 2 CUDA GPUs here: the GPU scaling was not measured")
    section.raw = raw
    return section
