"""The metrics row is a typed record: EpochStats to and from metrics.jsonl."""

from __future__ import annotations

import pytest

from cnnstudio.training.records import EpochStats


def _stats(**changes) -> EpochStats:
    values = dict(epoch=2, epochs=5, train_loss=0.5, train_acc=0.8, val_loss=0.6, val_acc=0.75, val_top5=0.99,
                  lr=0.01, seconds=3.0, images_per_s=900.0, is_best=True)
    return EpochStats(**{**values, **changes})


def test_a_row_round_trips_and_keeps_the_aux_keys_every_run_folder_has() -> None:
    googlenet = _stats(aux_losses=(1.25, 1.5))
    row = googlenet.to_row(batch_size=64)
    assert row["aux1_loss"] == 1.25 and row["aux2_loss"] == 1.5 and row["batch_size"] == 64
    assert EpochStats.from_row(row) == googlenet
    plain = _stats(val_top5=None)
    row = plain.to_row()
    assert row["aux1_loss"] is None and row["aux2_loss"] is None
    assert EpochStats.from_row(row) == plain


@pytest.mark.parametrize(("field", "value"), [("epoch", "two"), ("val_acc", "high"), ("is_best", 1), ("lr", True)])
def test_a_mistyped_row_names_its_field(field: str, value: object) -> None:
    row = _stats().to_row()
    row[field] = value
    with pytest.raises(ValueError, match=repr(field)):
        EpochStats.from_row(row)


def test_a_run_without_validation_reads_back_with_nan_accuracy() -> None:
    import math

    row = _stats().to_row()
    row["val_loss"] = row["val_acc"] = None  # what the trainer writes when the split is empty
    stats = EpochStats.from_row(row)
    assert math.isnan(stats.val_acc) and math.isnan(stats.val_loss)
