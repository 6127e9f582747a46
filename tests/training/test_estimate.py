"""The estimate before Start: time per epoch and peak memory from measured steps (issue 11, item 1)."""

from __future__ import annotations

import re
import sys

import pytest
import torch
from tests.helpers.training import make_bundle, tiny_config

from cnnstudio.errors import Cancelled
from cnnstudio.training.fit import estimate as estimate_module
from cnnstudio.training.fit.estimate import estimate_training, format_bytes, format_duration


def test_the_estimate_measures_a_step_and_says_it_in_a_sentence(bundle) -> None:
    rng, threads = torch.get_rng_state(), torch.get_num_threads()
    e = estimate_training(tiny_config(epochs=3), bundle=bundle)
    assert e.batches_per_epoch == 7 and e.batch_size == 8 and e.epochs == 3  # 54 images, batch 8
    assert not e.extrapolated and e.measured_batch == 8
    assert 0 < e.step_s < 5 and e.epoch_s >= 7 * e.step_s and e.total_s == pytest.approx(3 * e.epoch_s)
    assert e.peak_bytes > 0 and 0 <= e.extra_bytes <= e.peak_bytes
    about = r"(≈ \d.*|under 1 s)"  # never "≈ < 1 s"
    assert re.fullmatch(rf"{about} per epoch on CPU \(3 epochs {about}\), ≈ [\d.]+ [kMG]B", e.sentence), e.sentence
    assert e.fits and e.warning is None
    # Measuring changed nothing a training would notice.
    assert torch.equal(torch.get_rng_state(), rng) and torch.get_num_threads() == threads


def test_memory_that_would_not_fit_is_a_warning_with_what_to_change(bundle, monkeypatch) -> None:
    monkeypatch.setattr(estimate_module, "memory_available", lambda: (1_000, 2_000_000))
    e = estimate_training(tiny_config(), bundle=bundle)
    assert not e.fits
    assert "only 1 kB is free (2 MB in all)" in e.warning
    assert "smaller input size (now 16×16) or batch size (now 8)" in e.warning


def test_big_batches_are_scaled_from_measured_smaller_ones(monkeypatch) -> None:
    # Stop doubling at the second measured batch, as a slow network would.
    monkeypatch.setattr(estimate_module, "MIN_TIMED_S", 0.0)
    monkeypatch.setattr(estimate_module, "GROWTH", 0.0)
    big = make_bundle(per_class=30)
    e = estimate_training(tiny_config(batch_size=64), bundle=big, direct_budget_s=0.0)
    assert e.extrapolated and e.measured_batch == 4 and e.batch_size == 64
    assert e.step_s > 0 and "scaled from a measured step of 4 images" in e.details


def test_the_memory_probes_stay_out_of_the_timed_steps(bundle, monkeypatch) -> None:
    """The RSS sampler and the saved-tensor hooks cost a small net's step a share of its time
    (issue 22, item 2: LeNet-5's estimate read 30-50 % long); the time comes from bare steps."""
    import time

    probe_s = 0.4
    real_enter = estimate_module._PeakRSS.__enter__

    def costly_enter(self):  # a probe that costs far more than the step it watches
        time.sleep(probe_s)
        return real_enter(self)

    monkeypatch.setattr(estimate_module._PeakRSS, "__enter__", costly_enter)
    e = estimate_training(tiny_config(epochs=1), bundle=bundle)
    assert e.step_s < probe_s, e.details
    assert e.peak_bytes > 0  # the memory is still measured, by the probed steps


def test_cancel_stops_the_estimate(bundle) -> None:
    with pytest.raises(Cancelled):
        estimate_training(tiny_config(), bundle=bundle, cancel=lambda: True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS sampling reads /proc")
def test_the_rss_sampler_sees_memory_freed_before_the_block_ends() -> None:
    import time

    with estimate_module._PeakRSS() as watch:
        start = watch.peak
        # 64 MB of fresh pages (above glibc's largest mmap threshold, so never memory the
        # process already holds), held until the 2 ms sampler has seen them (at most 10 s: on
        # two busy cores the sampler thread once went 0.3 s without a turn), then freed.
        block = torch.ones(64_000_000 // 4)
        deadline = time.monotonic() + 10
        while watch.peak - start < 30_000_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        del block
    assert watch.peak - start >= 30_000_000


def test_durations_and_sizes_read_like_a_person_writes_them() -> None:
    assert format_duration(6600) == "1 h 50 min"
    assert format_duration(200) == "3 min 20 s"
    assert format_duration(45) == "45 s"
    assert format_duration(0.4) == "< 1 s"
    assert format_duration(3 * 86400 + 7200) == "3 d 2 h"
    assert format_bytes(14e9) == "14 GB" and format_bytes(1.44e9) == "1.4 GB" and format_bytes(3.5e8) == "350 MB"
