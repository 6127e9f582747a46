"""Stop acts within about a second even when one batch takes far longer (issue 11, item 1)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from tests.helpers.training import Recorder, tiny_config

from cnnstudio.models import registry
from cnnstudio.training.store import runs
from cnnstudio.training.store.checkpoints import load_checkpoint
from cnnstudio.training.fit.trainer import Trainer

LAYERS = 20
SLEEP_S = 0.1  # per layer and pass: one batch takes 20 × 0.1 s forward and as long backward


class _Sleep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, started):  # type: ignore[override]
        started["forward"].set()
        time.sleep(SLEEP_S)
        ctx.save_for_backward(x, weight)
        ctx.started = started
        return x * weight

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        ctx.started["backward"].set()
        time.sleep(SLEEP_S)
        x, weight = ctx.saved_tensors
        return grad * weight, (grad * x).sum(), None


class SlowLayer(nn.Module):
    """A layer with one weight that takes SLEEP_S seconds in each direction."""

    def __init__(self, started: dict[str, threading.Event]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))
        self.started = started

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Sleep.apply(x, self.weight, self.started)


@pytest.fixture
def slow_lenet(monkeypatch: pytest.MonkeyPatch) -> dict[str, threading.Event]:
    """Every model the trainer builds gets LAYERS slow layers in front of its features;
    `started["initial"]` keeps the weights it was built with."""
    started = {"forward": threading.Event(), "backward": threading.Event()}
    real = registry.build_model

    def build(name: str, **kwargs: object) -> nn.Module:
        model = real(name, **kwargs)
        model.features = nn.Sequential(*(SlowLayer(started) for _ in range(LAYERS)), *model.features)
        started["initial"] = {k: v.clone() for k, v in model.state_dict().items()}
        return model

    monkeypatch.setattr(registry, "build_model", build)
    return started


def _fit_in_thread(trainer: Trainer) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = trainer.fit()
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _stop_and_time(trainer: Trainer, thread: threading.Thread, outcome: dict[str, object]) -> float:
    asked = time.monotonic()
    trainer.request_stop()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    return float(outcome["ended"]) - asked  # type: ignore[arg-type]


def test_stop_acts_within_a_second_in_the_middle_of_a_long_forward(run_dir: Path, bundle, slow_lenet) -> None:
    recorder = Recorder()
    trainer = Trainer(tiny_config(epochs=3), [recorder], run_dir=run_dir, bundle=bundle)
    thread, outcome = _fit_in_thread(trainer)
    assert slow_lenet["forward"].wait(timeout=20)
    time.sleep(3 * SLEEP_S)  # well inside the first batch's 2 s forward pass
    waited = _stop_and_time(trainer, thread, outcome)
    assert waited < 1.0, f"stop took {waited:.2f} s"
    result = outcome["result"]
    assert result.stopped_early and result.epochs_done == 0  # type: ignore[attr-defined]
    assert not recorder.of("batch")  # the interrupted batch is discarded, not reported
    assert trainer.global_step == 0
    # last.pt is written as for any stop, with the weights untouched by the discarded batch.
    _assert_untouched(load_checkpoint(run_dir / "last.pt")["model"], slow_lenet["initial"])
    assert runs.open_run(run_dir).status == "stopped"
    # The hooks are gone: the model can be used as it is after the fit.
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in trainer.model.modules())


@pytest.mark.slow
def test_stop_acts_within_a_second_in_the_middle_of_a_long_backward(run_dir: Path, bundle, slow_lenet) -> None:
    trainer = Trainer(tiny_config(epochs=3), run_dir=run_dir, bundle=bundle)
    thread, outcome = _fit_in_thread(trainer)
    assert slow_lenet["backward"].wait(timeout=20)
    time.sleep(2 * SLEEP_S)  # the backward pass has 2 s to go
    waited = _stop_and_time(trainer, thread, outcome)
    assert waited < 1.0, f"stop took {waited:.2f} s"
    assert trainer.global_step == 0  # the optimizer step of the interrupted batch never ran
    _assert_untouched(load_checkpoint(run_dir / "last.pt")["model"], slow_lenet["initial"])


def _assert_untouched(saved: dict[str, torch.Tensor], initial: dict[str, torch.Tensor]) -> None:
    assert saved.keys() == initial.keys()
    for name, tensor in initial.items():
        assert torch.equal(saved[name], tensor), name
