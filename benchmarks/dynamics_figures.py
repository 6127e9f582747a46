"""Benchmark section (p): what recording the training dynamics costs, and how big it gets.

A LeNet-5 fit on mnist-sample runs with `dynamics=True` and `dynamics=False`, alternated; the
ratio of their times is the recording's whole cost on a fit (two fits' times are noisy on a
shared machine, so the recorder's own time — every hook, sync and write — is also measured as
a share of the fit it recorded). The size: VGG-16 (BatchNorm) recorded for a few steps gives the
bytes per sample of its compressed chunks; times the samples of a 74-epoch run at the default
sampling (the first 20 steps, then ≤ 50 per epoch and each epoch's end) it is set against the
weights-only checkpoint (best.pt), as the README states it.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from timing import Figure, Section

TARGET_SHARE = 0.03  # the recorder at most 3 % of the fit's time
TARGET_SIZE = 0.02  # VGG-16's 74-epoch recording at most 2 % of best.pt


def _fit(bundle: Any, *, dynamics: bool, epochs: int, device: Any, root: Path) -> tuple[float, float]:
    """(the fit's seconds, seconds the recorder took)."""
    from cnnstudio.training.config import TrainConfig
    from cnnstudio.training.fit.dynamics import DynamicsRecorder
    from cnnstudio.training.fit.trainer import Trainer

    config = TrainConfig(arch="lenet5", dataset="mnist-sample", input_size=32, epochs=epochs, batch_size=64,
                         lr=0.03, device=str(device), history=False, dynamics=dynamics, progress_interval=1.0)
    run_dir = Path(tempfile.mkdtemp(dir=root)) / "run"
    trainer = Trainer(config, run_dir=run_dir, bundle=bundle)
    started = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - started
    spent = sum(c._spent for c in trainer.callbacks if isinstance(c, DynamicsRecorder))
    shutil.rmtree(run_dir.parent, ignore_errors=True)
    return seconds, spent


def _vgg_bytes_per_sample(root: Path) -> tuple[float, int, int]:
    """(compressed bytes per sample, recorded layers, best.pt bytes) of VGG-16 with BatchNorm."""
    import torch

    from cnnstudio.models.registry import build_model
    from cnnstudio.training.fit.callbacks import CallbackList, CallbackStepHooks
    from cnnstudio.training.fit.dynamics import DynamicsRecorder
    from cnnstudio.training.fit.step import make_scaler, train_step
    from cnnstudio.training.records import StepInfo

    model = build_model("vgg16", in_channels=3, num_classes=1000, batch_norm=True)
    run_dir = root / "vgg"

    class Harness:
        bare_model, resume_point, global_step, current_lr = model, None, 0, 0.01

    harness = Harness()
    harness.run_dir = run_dir
    recorder = DynamicsRecorder(early_steps=10**6, budget=1.0)
    harness.callbacks = CallbackList([recorder])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    hooks = CallbackStepHooks(harness, optimizer)
    harness.callbacks.on_fit_start(harness, None)
    steps = 6
    x, y = torch.randn(2, 3, 32, 32), torch.randint(0, 1000, (2,))
    for i in range(steps):
        hooks.step = step = StepInfo(1, i + 1, steps, i + 1)
        harness.callbacks.on_train_batch_start(harness, step)
        out = train_step(model, x, y, optimizer=optimizer, scaler=make_scaler(None), dtype=None, aux_weight=0.3,
                         hooks=hooks)
        harness.global_step = i + 1
        harness.callbacks.on_train_batch_end(harness, step, out)
    harness.callbacks.on_fit_end(harness, None)
    chunks = sum(p.stat().st_size for p in (run_dir / "dynamics").glob("s*.npz"))
    best = sum(p.numel() * 4 for p in model.state_dict().values())
    return chunks / steps, len(recorder._rows), best


def dynamics_cost(*, device: Any, quick: bool) -> Section:
    """(p) A fit with ÷ without the recording; the recorder's share of its fit; VGG-16's recording size."""
    from cnnstudio.training.config import default_config
    from cnnstudio.training.fit.training_data import load_training_data

    epochs = 1 if quick else 2
    rounds = 2 if quick else 3
    section = Section("p", f"training dynamics: a {epochs}-epoch lenet5 mnist-sample fit with ÷ without the "
                           "recording; VGG-16's 74-epoch recording ÷ best.pt")
    root = Path(tempfile.mkdtemp(prefix="cnnstudio-dyn-"))
    bundle = load_training_data(default_config("lenet5").replace(dataset="mnist-sample"))
    _fit(bundle, dynamics=True, epochs=1, device=device, root=root)  # one-time costs out of the figures
    with_s, without_s, shares = [], [], []
    for _ in range(rounds):
        seconds, spent = _fit(bundle, dynamics=True, epochs=epochs, device=device, root=root)
        with_s.append(seconds)
        shares.append(spent / seconds)
        without_s.append(_fit(bundle, dynamics=False, epochs=epochs, device=device, root=root)[0])
    ratio = min(with_s) / min(without_s)
    share = statistics.median(shares)
    section.figures.append(Figure("p.ratio", "fit with dynamics ÷ without (best of each)", ratio, "×", "≤ 1.03",
                                  ratio <= 1.03, f"{min(with_s):.2f} s vs {min(without_s):.2f} s"))
    section.figures.append(Figure("p.share", "recorder's own time ÷ its fit (median)", share * 100, "%",
                                  f"≤ {TARGET_SHARE * 100:.0f} %", share <= TARGET_SHARE))
    per_sample, layers, best = _vgg_bytes_per_sample(root)
    samples = 20 + 74 * 51  # the first 20 steps, then ≤ 50 an epoch plus each epoch's end
    size_share = per_sample * samples / best
    section.figures.append(Figure("p.vgg_size", f"VGG-16-BN 74-epoch recording ÷ best.pt ({layers} layers)",
                                  size_share * 100, "%", f"≤ {TARGET_SIZE * 100:.0f} %", size_share <= TARGET_SIZE,
                                  f"{per_sample / 1024:.1f} kB a sample × {samples:,} = "
                                  f"{per_sample * samples / 2**20:.1f} MB vs {best / 2**20:.0f} MB"))
    section.raw = {"with_s": with_s, "without_s": without_s, "shares": shares, "vgg_bytes_per_sample": per_sample}
    shutil.rmtree(root, ignore_errors=True)
    return section
