"""A run stopped inside an epoch resumes exactly there, and says where it stands (issue 11 #3)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnnstudio.training.store import runs
from cnnstudio.training.fit.callbacks import Callback
from cnnstudio.training.store.checkpoints import load_checkpoint
from cnnstudio.training.fit.trainer import Trainer
from tests.helpers.training import Recorder, tiny_config


class StopAt(Callback):
    """Asks to stop after batch `batch` of epoch `epoch` (or after its validation with batch=None)."""

    def __init__(self, epoch: int, batch: int | None) -> None:
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, stats) -> None:
        if self.batch is not None and (stats.epoch, stats.batch) == (self.epoch, self.batch):
            trainer.request_stop()

    def on_epoch_end(self, trainer, stats) -> None:
        pass


class StopInValidation(Callback):
    """Asks to stop after the last training batch of `epoch`: the stop lands in its validation."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_end(self, trainer, stats) -> None:
        if stats.epoch == self.epoch and stats.batch == stats.num_batches:
            trainer.request_stop()


def _timeless(run_dir: Path) -> list[tuple]:
    return [(r["epoch"], r["train_loss"], r["train_acc"], r["val_loss"], r["val_acc"], r["lr"])
            for r in runs.open_run(run_dir).metrics()]


@pytest.mark.parametrize("stopper", [StopAt(1, 3), StopAt(2, 1), StopInValidation(1)],
                         ids=["epoch1-batch3", "epoch2-batch1", "in-validation"])
def test_a_mid_epoch_stop_resumes_exactly(tmp_path: Path, bundle, stopper: Callback) -> None:
    # Augmentations draw from the loader's stream, so skipping batches must replay it exactly.
    config = tiny_config(epochs=2, augment=("crop", "flip"), schedule="step", step_size=1, gamma=0.5)
    straight = Trainer(config, run_dir=tmp_path / "straight", bundle=bundle)
    straight.fit()

    first = Trainer(config, [stopper], run_dir=tmp_path / "split", bundle=bundle).fit()
    assert first.stopped_early
    torch.rand(100)  # whatever the process does in between must not matter
    recorder = Recorder()
    resumed = Trainer(config, [recorder], resume_from=tmp_path / "split", bundle=bundle)
    result = resumed.fit()

    assert result.epochs_done == 2 and not result.stopped_early
    assert any("resuming inside epoch" in note for note in recorder.of("notice"))
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    straight_rows, split_rows = _timeless(tmp_path / "straight"), _timeless(tmp_path / "split")
    assert [r[0] for r in split_rows] == [1, 2]
    flat = [value for row in straight_rows for value in row]
    assert [value for row in split_rows for value in row] == pytest.approx(flat)  # running totals carried over


def test_the_listing_says_where_a_stopped_epoch_stands(tmp_path: Path, bundle) -> None:
    config = tiny_config(epochs=3)
    Trainer(config, [StopAt(2, 3)], run_dir=tmp_path / "run", bundle=bundle).fit()
    checkpoint = load_checkpoint(tmp_path / "run" / "last.pt")
    assert checkpoint["epoch"] == 1 and checkpoint["partial"]["batch"] == 3
    info = runs.open_run(tmp_path / "run")
    batches = info.batches_per_epoch
    assert (info.status, info.epochs_done, info.batches_done) == ("stopped", 1, 3) and batches == 7
    assert info.progress_text == f"stopped in epoch 2 at batch 3/{batches}; 1 / 3 epochs done"
    assert info.hyperparameters["batch_size"] == 8 and info.hyperparameters["variant"] == "lenet5-relu-maxpool"
    assert info.hyperparameters_text.startswith("lenet5-relu-maxpool 16 px, batch 8, sgd lr 0.05")
    # Stopped a second time, still inside epoch 2: the listing moves on with it, never "0 epochs".
    Trainer(config, [StopAt(2, 5)], resume_from=tmp_path / "run", bundle=bundle).fit()
    info = runs.open_run(tmp_path / "run")
    assert (info.epochs_done, info.batches_done) == (1, 5)


def test_a_changed_batch_size_restarts_the_stopped_epoch_and_says_so(tmp_path: Path, bundle) -> None:
    Trainer(tiny_config(epochs=2), [StopAt(1, 2)], run_dir=tmp_path / "run", bundle=bundle).fit()
    recorder = Recorder()
    result = Trainer(tiny_config(epochs=2, batch_size=4), [recorder], resume_from=tmp_path / "run",
                     bundle=bundle).fit()
    assert result.epochs_done == 2
    assert any("starts over from its first batch" in note for note in recorder.of("notice"))
    assert recorder.of("batch")[0].batch == 1


def test_a_damaged_mid_epoch_state_is_refused_in_words(tmp_path: Path, bundle) -> None:
    from cnnstudio.errors import CheckpointError
    from cnnstudio.training.store.checkpoints import save_checkpoint

    Trainer(tiny_config(epochs=2), [StopAt(1, 2)], run_dir=tmp_path / "run", bundle=bundle).fit()
    checkpoint = load_checkpoint(tmp_path / "run" / "last.pt")
    checkpoint["partial"]["batch"] = "two"
    save_checkpoint(tmp_path / "run" / "last.pt", checkpoint)
    with pytest.raises(CheckpointError, match=r"last\.pt: its mid-epoch state is damaged"):
        Trainer(tiny_config(epochs=2), resume_from=tmp_path / "run", bundle=bundle).fit()
    assert runs.open_run(tmp_path / "run").status == "stopped"  # the refused resume changed nothing


@pytest.mark.parametrize("stopper", [StopAt(1, 3), StopInValidation(1)], ids=["mid-epoch", "in-validation"])
def test_a_resumed_epoch_counts_its_time_before_the_stop(tmp_path: Path, bundle, stopper: Callback) -> None:
    # The compare table sums epoch seconds: a stop and resume must not make a run look faster.
    import time

    class Slow(Callback):
        def on_batch_end(self, trainer, stats) -> None:
            time.sleep(0.05)

    config = tiny_config(epochs=1)
    Trainer(config, [stopper, Slow()], run_dir=tmp_path / "split", bundle=bundle).fit()
    Trainer(config, resume_from=tmp_path / "split", bundle=bundle).fit()
    (row,) = runs.open_run(tmp_path / "split").metrics()
    assert row["seconds"] >= 0.05 * 3  # the three slowed batches before the stop
