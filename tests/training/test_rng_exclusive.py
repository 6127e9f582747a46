"""One user at a time of the process's random generators: a fit, the estimate, the LR range test."""

from __future__ import annotations

import threading

import pytest
import torch
from tests.helpers.training import Recorder, make_bundle, tiny_config

from cnnstudio.errors import Cancelled
from cnnstudio.training.fit.estimate import estimate_training
from cnnstudio.training.fit.lr_find import find_lr
from cnnstudio.training.fit.rng import exclusive_rng, rng_in_use
from cnnstudio.training.fit.trainer import Trainer


@pytest.fixture
def held():
    """The generators held by another thread until the test ends."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with exclusive_rng():
            taken.set()
            release.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(10)
    yield
    release.set()
    thread.join(10)


def test_an_estimate_or_lr_test_waits_while_another_thread_draws(held) -> None:
    bundle = make_bundle()
    assert rng_in_use()
    # Both wait instead of drawing; cancelled while waiting, they say so.
    with pytest.raises(Cancelled, match="waiting for another training"):
        estimate_training(tiny_config(), bundle=bundle, cancel=lambda: True)
    with pytest.raises(Cancelled, match="waiting for another training"):
        find_lr(tiny_config(), bundle, steps=3, cancel=lambda: True)


def test_a_fit_holds_the_generators_from_its_seed_to_its_end(tmp_path) -> None:
    seen: list[bool] = []

    class Probe(Recorder):
        def on_fit_start(self, trainer, start) -> None:  # noqa: ANN001
            super().on_fit_start(trainer, start)
            # Asked from another thread, as the window's pool would.
            probe = threading.Thread(target=lambda: seen.append(rng_in_use()))
            probe.start()
            probe.join()

    trainer = Trainer(tiny_config(epochs=1, history=False, dynamics=False), run_dir=tmp_path / "run",
                      bundle=make_bundle(), callbacks=[Probe()])
    trainer.fit()
    assert seen == [True]
    assert not rng_in_use()


def test_a_waiting_estimate_runs_once_the_holder_is_done_and_leaves_the_generators_as_they_were() -> None:
    bundle = make_bundle()
    release = threading.Event()
    results: list[object] = []

    def hold() -> None:
        with exclusive_rng():
            release.wait(30)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    while not rng_in_use():
        pass
    torch.manual_seed(123)
    state = torch.get_rng_state()
    waiter = threading.Thread(target=lambda: results.append(estimate_training(tiny_config(), bundle=bundle)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and not results  # waiting, not measuring
    release.set()
    waiter.join(60)
    assert len(results) == 1 and results[0].step_s > 0
    assert torch.equal(torch.get_rng_state(), state)


def test_a_fit_waiting_for_the_generators_can_be_stopped_and_leaves_no_run_folder(held, tmp_path) -> None:
    trainer = Trainer(tiny_config(epochs=1, history=False, dynamics=False), run_dir=tmp_path / "run",
                      bundle=make_bundle())
    trainer.request_stop()
    with pytest.raises(Cancelled, match="waiting for another training"):
        trainer.fit()
    assert not (tmp_path / "run").exists()
