"""The estimate's memory figure is the fit's own, not the process's size (issue 22, item 2)."""

from __future__ import annotations

from cnnstudio.training.fit.estimate import TrainingEstimate


def _estimate(**changes: object) -> TrainingEstimate:
    values: dict = dict(arch="lenet5", device="cpu", device_name="CPU", input_size=32, batch_size=64,
                        batches_per_epoch=71, epochs=5, step_s=0.06, epoch_s=4.3, total_s=21.5,
                        peak_bytes=2_600_000_000, extra_bytes=300_000_000, available_bytes=8_000_000_000,
                        total_bytes=16_000_000_000, measured_batch=64, extrapolated=False, memory_method="RSS")
    values.update(changes)
    return TrainingEstimate(**values)


def test_the_sentence_gives_what_the_training_adds_not_the_whole_process() -> None:
    # The app's own 2.3 GB (Qt, plots, the loaded data) is not the fit's: the window said
    # ≈ 2.6 GB where the command line said ≈ 765 MB for the same fit.
    e = _estimate()
    assert e.sentence.endswith("≈ 300 MB") and "2.6 GB" not in e.sentence
    assert "2.6 GB in all" in e.details  # the process's peak is still told, as such


def test_two_processes_of_different_sizes_give_the_same_sentence() -> None:
    window, cli = _estimate(peak_bytes=2_600_000_000), _estimate(peak_bytes=765_000_000)
    assert window.sentence == cli.sentence
