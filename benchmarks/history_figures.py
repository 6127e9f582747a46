"""(m) The cost of a run's history (issue 13): a fit with and without it, ms per snapshot, its size.

A LeNet-5 fit on mnist-sample runs with `history=True` and `history=False`, alternated, and
the ratio of their times is the history's whole cost on a fit (the start, epoch 1's batches
1/10/100 and every epoch end). Two fits' times are noisy on a shared machine, so the time spent
inside the history's own calls is also measured in the fit with it, as a share of that fit. One snapshot is timed on LeNet-5 and on VGG-16 at 224 px with
10 probes (the largest the catalog makes: its first two conv layers give 64×224×224 each);
VGG-16's snapshot size times 77 snapshots (a 74-epoch run: start, 3 early points, 74 epoch
ends) is set against its weights-only checkpoint (best.pt).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from timing import Figure, Section

TARGET_RATIO = 1.05  # a fit with history at most 5 % slower
TARGET_SHARE = 0.05  # a VGG-16 history of 74 epochs at most 5 % of its checkpoint
VGG_SNAPSHOTS = 77


def _fit_seconds(bundle: Any, *, history: bool, epochs: int, device: Any, root: Path) -> tuple[float, float]:
    """(the fit's seconds, seconds spent in the history writer's calls)."""
    from cnnstudio.training.fit import snapshot_writer as module
    from cnnstudio.training.config import TrainConfig
    from cnnstudio.training.fit.trainer import Trainer

    spent = [0.0]
    calls = {name: getattr(module.HistoryWriter, name) for name in ("start", "snapshot")}

    def timed(call: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started
        return run

    config = TrainConfig(arch="lenet5", dataset="mnist-sample", input_size=32, epochs=epochs, batch_size=64,
                         lr=0.03, device=str(device), history=history, dynamics=False, progress_interval=1.0)
    run_dir = Path(tempfile.mkdtemp(dir=root)) / "run"
    for name, call in calls.items():
        setattr(module.HistoryWriter, name, timed(call))
    try:
        started = time.perf_counter()
        Trainer(config, run_dir=run_dir, bundle=bundle).fit()
        seconds = time.perf_counter() - started
    finally:
        for name, call in calls.items():
            setattr(module.HistoryWriter, name, call)
    shutil.rmtree(run_dir.parent, ignore_errors=True)
    return seconds, spent[0]


def _snapshot_ms(arch: str, *, size: int, classes: int, channels: int, device: Any, repeats: int,
                 root: Path) -> tuple[float, int, int]:
    """(median ms per snapshot, bytes per snapshot, checkpoint bytes) of one `arch` at `size` px."""
    import torch

    from cnnstudio.data.loaders import DatasetBundle, ImageSet
    from cnnstudio.data.spec import DatasetSpec
    from cnnstudio.models.registry import build_model
    from cnnstudio.training.fit.snapshot_writer import HistoryWriter

    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(classes).repeat(2)
    images = torch.randint(0, 255, (len(labels), channels, size, size), generator=generator, dtype=torch.uint8)
    spec = DatasetSpec(name="noise", channels=channels, classes=tuple(f"c{i}" for i in range(classes)),
                       mean=(0.5,) * channels, std=(0.25,) * channels, native_size=size)
    bundle = DatasetBundle(spec, ImageSet(labels, images), ImageSet(labels, images))
    model = build_model(arch, in_channels=channels, num_classes=classes).to(device)
    run_dir = Path(tempfile.mkdtemp(dir=root))
    writer = HistoryWriter(run_dir)
    writer.start(model, bundle, input_size=size, device=device)
    times, path = [], None
    for step in range(repeats + 1):  # the first call warms up
        started = time.perf_counter()
        path = writer.snapshot(model, epoch=1, batch=step, batches=100, global_step=step)
        if step:
            times.append(time.perf_counter() - started)
    size_bytes = path.stat().st_size
    checkpoint = sum(p.numel() * p.element_size() for p in model.state_dict().values())
    shutil.rmtree(run_dir, ignore_errors=True)
    return 1000 * statistics.median(times), size_bytes, checkpoint


def history_cost(*, device: Any, quick: bool, scratch: Path | None = None) -> Any:
    """The section's figures (see the module docstring)."""
    from cnnstudio.training.config import TrainConfig
    from cnnstudio.training.fit.training_data import load_training_data

    section = Section("m", "the run history's cost: a fit with ÷ without, ms per snapshot, VGG-16's size")
    root = Path(tempfile.mkdtemp(prefix="history-", dir=scratch))
    try:
        bundle = load_training_data(TrainConfig(arch="lenet5", dataset="mnist-sample", input_size=32))
        epochs, rounds = (1, 1) if quick else (2, 3)
        _fit_seconds(bundle, history=False, epochs=1, device=device, root=root)  # warm-up
        with_h, without, inside = [], [], []
        for _ in range(rounds):
            without.append(_fit_seconds(bundle, history=False, epochs=epochs, device=device, root=root)[0])
            seconds, spent = _fit_seconds(bundle, history=True, epochs=epochs, device=device, root=root)
            with_h.append(seconds)
            inside.append(spent / seconds)
        ratio = statistics.median(with_h) / statistics.median(without)
        share = statistics.median(inside)
        section.raw.update(fit_with_s=with_h, fit_without_s=without, epochs=epochs, history_share=inside)
        section.figures.append(Figure("m.inside", "time in the history's calls ÷ that fit's time", 100 * share, "%",
                                      f"≤ {100 * (TARGET_RATIO - 1):.0f} %", share <= TARGET_RATIO - 1))
        section.figures.append(Figure("m.ratio", f"LeNet-5 fit ({epochs} epoch{'s' * (epochs > 1)}) with history ÷ "
                                      "without", ratio, "×", f"≤ {TARGET_RATIO}", ratio <= TARGET_RATIO,
                                      f"{statistics.median(with_h):.2f} s vs {statistics.median(without):.2f} s"))
        ms, size, _ = _snapshot_ms("lenet5", size=32, classes=10, channels=1, device=device, repeats=5, root=root)
        section.figures.append(Figure("m.lenet_ms", "one snapshot, LeNet-5 at 32 px (10 probes)", ms, "ms",
                                      detail=f"{size / 1024:.1f} KB"))
        ms, size, checkpoint = _snapshot_ms("vgg16", size=224, classes=10, channels=3, device=device,
                                            repeats=1 if quick else 3, root=root)
        share = size * VGG_SNAPSHOTS / checkpoint
        section.raw.update(vgg16_snapshot_bytes=size, vgg16_checkpoint_bytes=checkpoint)
        section.figures.append(Figure("m.vgg_ms", "one snapshot, VGG-16 at 224 px (10 probes)", ms, "ms",
                                      detail=f"{size / 1024:.0f} KB"))
        section.figures.append(Figure("m.vgg_share", f"VGG-16 history of 74 epochs ({VGG_SNAPSHOTS} snapshots) ÷ "
                                      "its best.pt", 100 * share, "%", f"≤ {100 * TARGET_SHARE:.0f} %",
                                      share <= TARGET_SHARE,
                                      f"{size * VGG_SNAPSHOTS / 2**20:.1f} MB vs {checkpoint / 2**20:.0f} MB"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return section
