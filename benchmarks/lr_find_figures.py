"""Benchmark section (q): what the LR range test costs — its steps against as many bare training steps.

The finder (`training.fit.lr_find.find_lr`) trains a fresh LeNet-5 on mnist-sample for N
steps through the fit's own step (its loaders, optimizer, smoothing and divergence check
around it); the bare loop trains the same model with plain SGD (`engine_figures.bare_step`)
on ready batches for N steps. The range stops at 1e-2 here so that no run ends early on a
divergence: both sides do all N steps. The ratio is the finder's time ÷ the bare loop's
(1 = the finder costs nothing beyond its training steps).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from engine_figures import ReadyBatches, bare_step
from timing import Figure, Section, median, sync


def lr_find_cost(*, device: torch.device, quick: bool) -> Section:
    """(q) N finder steps ÷ N bare steps (lenet5, mnist-sample, batch 64), and a default test's whole time."""
    from cnnstudio.models.registry import build_model
    from cnnstudio.training.config import default_config
    from cnnstudio.training.fit.lr_find import find_lr
    from cnnstudio.training.fit.training_data import load_training_data

    steps = 30 if quick else 100
    rounds = 2 if quick else 5
    section = Section("q", f"LR range test: {steps} finder steps ÷ {steps} bare steps (lenet5, mnist-sample, batch 64)")
    config = default_config("lenet5").replace(dataset="mnist-sample", device=str(device), batch_size=64)
    bundle = load_training_data(config)
    size = 32
    find_lr(config, bundle, steps=3, end_lr=1e-2)  # one-time costs (kernels, allocations) out of the figures

    model = build_model("lenet5", in_channels=bundle.spec.channels, num_classes=len(bundle.spec.classes)).to(device)
    step = bare_step(model, device)
    batches = ReadyBatches(bundle.train.images, bundle.train.labels, bundle.spec, size=size, batch_size=64,
                           device=device)

    def bare(n: int) -> None:
        done = 0
        while done < n:
            for x, y in batches:
                step(x, y)
                done += 1
                if done == n:
                    return

    bare(3)
    # The two sides alternate, round by round: a busy machine's drift falls on both alike.
    finder_s: list[float] = []
    bare_s: list[float] = []
    for _ in range(rounds):
        sync(device)
        started = time.perf_counter()
        result = find_lr(config, bundle, steps=steps, end_lr=1e-2)
        sync(device)
        finder_s.append(time.perf_counter() - started)
        assert len(result.lrs) == steps, "the range to 1e-2 must not diverge: the two sides would differ"
        started = time.perf_counter()
        bare(steps)
        sync(device)
        bare_s.append(time.perf_counter() - started)

    whole = time.perf_counter()
    default = find_lr(config, bundle)  # the default range, 1e-7 → 10: stops where the loss diverges
    whole_s = time.perf_counter() - whole
    finder, plain = median(finder_s), median(bare_s)
    ratio = finder / plain if plain > 0 else float("nan")
    section.figures += [
        Figure("q.ratio", f"finder ÷ bare, {steps} steps", ratio, "×", "≤ 1.3×", ratio <= 1.3,
               f"{finder:.2f} s vs {plain:.2f} s"),
        Figure("q.finder_ms", "finder, per step (model build and loaders included)", finder / steps * 1e3, "ms"),
        Figure("q.default_s", f"a default test (1e-7 → 10, {len(default.lrs)} steps until it diverged)", whole_s, "s",
               detail=f"suggested {default.suggested_lr:.2g}" if default.suggested_lr else "no suggestion"),
    ]
    section.raw = {"finder_s": finder_s, "bare_s": bare_s, "steps": steps, "default_steps": len(default.lrs),
                   "default_s": whole_s, "suggested_lr": default.suggested_lr}
    return section
