"""One rule for the best epoch: the first to reach the best validation accuracy (what best.pt holds)."""

from __future__ import annotations

import math
from types import SimpleNamespace

from cnnstudio.training.experiments.compare import comparison_row
from cnnstudio.training.records import EpochStats, best_epoch, improves_on


def _epoch(epoch: int, val_acc: float, is_best: bool) -> EpochStats:
    return EpochStats(epoch=epoch, epochs=3, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=val_acc,
                      val_top5=None, lr=0.01, seconds=1.0, images_per_s=10.0, is_best=is_best)


# What the trainer writes for a tie: epoch 2 equals epoch 1, so best.pt keeps epoch 1.
TIE = [_epoch(1, 0.5, True), _epoch(2, 0.5, False), _epoch(3, 0.25, False)]


def test_a_tie_keeps_the_first_epoch():
    assert not improves_on(0.5, 0.5)
    assert improves_on(0.5, None)
    assert best_epoch(TIE).epoch == 1
    assert best_epoch([_epoch(1, math.nan, True)]) is None


def test_the_runs_tab_names_the_epoch_best_pt_holds():
    run = SimpleNamespace(path="run", name="run", arch="lenet5", variant="", dataset="mnist", status="finished",
                          epochs=3, created=None, config_dict={"arch": "lenet5"})
    row = comparison_row(run, TIE)
    assert (row.best_top1, row.best_epoch) == (0.5, 1)
    assert [s.epoch for s in TIE if s.is_best][-1] == row.best_epoch
